"""`python -m orchestration.run` then `orchestration.query` as separate processes, on the recorded data."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from assets.warehouse import WarehouseResource
from tests.integration._processes import REPO, _env

pytestmark = pytest.mark.slow


@pytest.mark.replay
def test_cli_run_then_query(replay_dir, dagster_home, tmp_path):
    env = _env(dagster_home, tmp_path, CHINATECH_SOURCE="replay", CHINATECH_REPLAY_DIR=str(replay_dir))
    warehouse = env["CHINATECH_WAREHOUSE"]
    run = subprocess.run(
        [sys.executable, "-m", "orchestration.run", "--tickers", "9888.HK,^NDX,CNY=X"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"warehouse: {warehouse}" in run.stdout
    match = re.search(r"^run ([0-9a-f-]{36}) succeeded", run.stdout, re.MULTILINE)
    assert match, run.stdout[-3000:]
    assert Path(warehouse).exists()
    # the run was recorded by the instance in DAGSTER_HOME, so it shows in the UI
    assert (dagster_home / "history" / "runs.db").exists()
    assert (dagster_home / "storage" / match.group(1)).is_dir()

    sql = "SELECT ticker, trade_date, close FROM core.prices_daily"
    sql += " WHERE ticker = '9888.HK' AND trade_date = DATE '2025-09-17'"
    out = subprocess.run(
        [sys.executable, "-m", "orchestration.query", sql],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "9888.HK" in out.stdout
    assert "2025-09-17" in out.stdout
    assert "131.0" in out.stdout


def _cli_run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestration.run", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_cli_refuses_another_modes_warehouse_before_running(dagster_home, tmp_path):
    env = _env(dagster_home, tmp_path, CHINATECH_SOURCE="replay", CHINATECH_REPLAY_DIR=str(tmp_path))
    warehouse = Path(env["CHINATECH_WAREHOUSE"])
    with WarehouseResource(mode="sample", path=str(warehouse)).transaction():
        pass  # a sample-mode file
    before = warehouse.stat()
    run = _cli_run(env, "--tickers", "9888.HK")
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-2000:]
    assert "refused, nothing run or written" in run.stderr
    assert "holds 'sample' data and this run's source is 'replay'" in run.stderr
    assert "Traceback" not in run.stderr and " succeeded in " not in run.stdout  # no run started
    after = warehouse.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


@pytest.mark.replay
def test_cli_run_on_a_ducklake_shows_the_example_from_the_lake(replay_dir, dagster_home, tmp_path):
    lake = tmp_path / "lake.ducklake"
    env = _env(
        dagster_home,
        tmp_path,
        CHINATECH_SOURCE="replay",
        CHINATECH_REPLAY_DIR=str(replay_dir),
        CHINATECH_WAREHOUSE=f"ducklake:{lake}",
        CHINATECH_LAKE_DATA=str(tmp_path / "lake_files"),
    )
    run = _cli_run(env, "--tickers", "9888.HK")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"the DuckLake ducklake:{lake}" in run.stdout
    assert "9888.HK" in run.stdout.split("example query", 1)[1]  # the example's rows, read from the lake
