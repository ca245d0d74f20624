"""Two `orchestration.run` processes at once on one Dagster home and warehouse file."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.integration._processes import REPO, _env

pytestmark = pytest.mark.slow


@pytest.mark.replay
def test_overlapping_runs_each_process_their_own_loads(replay_run, replay_dir, dagster_home, tmp_path):
    """A whole run, and a one-ticker run started 1.5 s later on the same Dagster home and file."""
    env = _env(dagster_home, tmp_path, CHINATECH_SOURCE="replay", CHINATECH_REPLAY_DIR=str(replay_dir))
    cmd = [sys.executable, "-m", "orchestration.run"]
    logs = [(tmp_path / f"run{i}.log").open("w") for i in range(2)]
    whole = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=logs[0], stderr=subprocess.STDOUT, text=True)
    time.sleep(1.5)
    one = subprocess.Popen(
        [*cmd, "--tickers", "9888.HK"], cwd=REPO, env=env, stdout=logs[1], stderr=subprocess.STDOUT, text=True
    )
    codes = [whole.wait(timeout=400), one.wait(timeout=400)]
    for log in logs:
        log.close()
    assert codes == [0, 0], [(tmp_path / f"run{i}.log").read_text()[-3000:] for i in range(2)]

    import duckdb

    with duckdb.connect(env["CHINATECH_WAREHOUSE"], read_only=True) as con:
        counts = dict(con.execute("SELECT ticker, count(*) FROM core.prices_daily GROUP BY 1").fetchall())
        fx = con.execute("SELECT count(*) FROM core.fx_daily").fetchone()[0]
    with duckdb.connect(str(replay_run.warehouse), read_only=True) as con:
        expected = dict(con.execute("SELECT ticker, count(*) FROM core.prices_daily GROUP BY 1").fetchall())
        expected_fx = con.execute("SELECT count(*) FROM core.fx_daily").fetchone()[0]
    assert counts == expected
    assert fx == expected_fx > 0
