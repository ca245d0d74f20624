"""The README's quick start as a user types it: `make demo`, then `CHINATECH_SOURCE=replay make run`."""

from __future__ import annotations

import pytest

from tests.integration._processes import _env, _make, _sha

pytestmark = pytest.mark.slow


SOURCE_COLUMNS = ["raw.prices_daily", "core.prices_daily", "core.fx_daily", "raw.sec_facts", "raw.loads"]


@pytest.mark.replay
def test_readme_sequence_never_mixes_source_modes(replay_dir, dagster_home, tmp_path):
    """`make demo`, then `CHINATECH_SOURCE=replay make run`, exactly as the README says."""
    import duckdb

    env = _env(dagster_home, tmp_path, CHINATECH_DATA_DIR=str(tmp_path / "data"), CHINATECH_REPLAY_DIR=str(replay_dir))
    del env["CHINATECH_WAREHOUSE"]
    demo = _make("demo", env)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    replay = _make("run", {**env, "CHINATECH_SOURCE": "replay"})
    assert replay.returncode == 0, replay.stdout[-3000:] + replay.stderr[-3000:]

    files = {mode: tmp_path / "data" / f"{mode}.duckdb" for mode in ("sample", "replay")}
    for mode, file in files.items():
        with duckdb.connect(str(file), read_only=True) as con:
            assert con.execute("SELECT source_mode FROM meta.warehouse").fetchall() == [(mode,)]
            for table in SOURCE_COLUMNS:
                sources = {r[0] for r in con.execute(f"SELECT DISTINCT source FROM {table}").fetchall()}
                assert sources <= {mode}, (file, table, sources)
            modes = {r[0] for r in con.execute("SELECT DISTINCT source_mode FROM core.capex").fetchall()}
            assert modes <= {mode}, (file, modes)
    # replay has no ADR price files: the no_data flags are there, not hidden by sample rows
    with duckdb.connect(str(files["replay"]), read_only=True) as con:
        no_data = {r[0] for r in con.execute("SELECT ticker FROM dq.price_anomalies WHERE kind = 'no_data'").fetchall()}
    assert {"BABA", "BIDU", "JD"} <= no_data

    # pointing a replay run at the sample file is refused before anything is written
    before = _sha(files["sample"])
    refused = _make("run", {**env, "CHINATECH_SOURCE": "replay", "CHINATECH_WAREHOUSE": str(files["sample"])})
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert str(files["sample"]) in output and "'sample'" in output and "'replay'" in output
    assert "CHINATECH_WAREHOUSE" in output and "REBUILD=1" in output
    assert _sha(files["sample"]) == before
