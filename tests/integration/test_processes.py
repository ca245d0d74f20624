"""The project's entry points as separate processes: definitions validation and the web UI (the CLIs and
make targets: test_cli_run.py, test_readme_sequence.py, test_overlapping_runs.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from orchestration.webserver import free_port
from tests.integration._processes import BIN, REPO, _env, _get

pytestmark = pytest.mark.slow


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


def test_web_ui_serves_the_asset_graph_with_checks(dagster_home, tmp_path):
    port = free_port()
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
