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
        assert {"close_positive", "unique_ticker_trade_date", "rejected_rows"} <= nodes["core/prices_daily"]
        assert {"companies_with_capex", "unique_latest"} <= nodes["core/capex"]
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
