"""The project's entry points as separate processes: definitions validation, the web UI, the CLIs."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def _env(dagster_home: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHINATECH_")}
    env.update(
        DAGSTER_HOME=str(dagster_home),
        CHINATECH_WAREHOUSE=str(tmp_path / "warehouse.duckdb"),
        CHINATECH_CACHE_DIR=str(tmp_path / "cache"),
        PYTHONWARNINGS="ignore",
    )
    env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_definitions_validate(dagster_home, tmp_path):
    proc = subprocess.run(
        [str(BIN / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        env=_env(dagster_home, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "All code locations passed validation" in output


ASSET_GRAPH_QUERY = """
{
  assetNodes {
    assetKey { path }
    assetChecksOrError { ... on AssetChecks { checks { name } } }
  }
}
"""


def _get(url: str, timeout: float = 2.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read()


def test_web_ui_serves_the_asset_graph_with_checks(dagster_home, tmp_path):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "webserver.log").open("wb")
    proc = subprocess.Popen(
        [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
        cwd=REPO,
        env=_env(dagster_home, tmp_path),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        info = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "webserver.log").read_text()[-3000:]
            try:
                info = json.loads(_get(f"{base}/server_info"))
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        assert info is not None, "webserver did not answer /server_info within 90 s"
        assert info["dagster_version"].startswith("1.13")

        request = urllib.request.Request(
            f"{base}/graphql",
            data=json.dumps({"query": ASSET_GRAPH_QUERY}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as resp:
            body = json.loads(resp.read())
        assert "errors" not in body, body
        nodes = {
            "/".join(n["assetKey"]["path"]): {c["name"] for c in (n["assetChecksOrError"] or {}).get("checks", [])}
            for n in body["data"]["assetNodes"]
        }
        assert {
            "raw/prices_daily",
            "core/prices_daily",
            "dq/price_anomalies",
            "core/fx_daily",
            "raw/fundamentals_info",
            "core/fundamentals_snapshot",
            "core/financials_annual",
            "raw/sec_facts",
            "core/capex",
        } <= set(nodes)
        assert {"fresh_against_calendar", "returns_within_robust_bound", "rejected_rows"} <= nodes["core/prices_daily"]
        assert {"companies_with_capex", "usd_converted"} <= nodes["core/capex"]
    finally:
        log.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)


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


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _make(target: str, env: dict[str, str], timeout: int = 400, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", target, *[f"{k}={v}" for k, v in extra.items()]],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


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
