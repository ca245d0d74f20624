"""The UI as a user drives it, through the webserver's GraphQL API: every job launches with its
defaults and runs to the end, a one-ticker refresh set in the launchpad touches only that ticker,
and the schedules and freshness policies are there to see."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.integration._processes import _env, _free_port

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow

LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""
STATUS = "query Status($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
REPOS = "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"
OPERATIONS = """
{
  schedulesOrError(repositorySelector: {repositoryName: "%s", repositoryLocationName: "%s"}) {
    ... on Schedules { results { name cronSchedule executionTimezone pipelineName } }
  }
  assetNodes {
    assetKey { path }
    internalFreshnessPolicy { ... on TimeWindowFreshnessPolicy { failWindowSeconds } }
    automationCondition { label }
  }
}
"""


class Server:
    def __init__(self, base: str) -> None:
        self.base = base

    def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.base}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as resp:
            body = json.loads(resp.read())
        assert "errors" not in body, body
        return body["data"]

    def launch_and_wait(self, selector: dict[str, str], job: str, config: dict[str, Any], timeout: float = 240) -> str:
        params = {"selector": {**selector, "jobName": job}, "runConfigData": config}
        launched = self.gql(LAUNCH, {"params": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.gql(STATUS, {"id": run_id})["runOrError"]["status"]
            if status in ("SUCCESS", "FAILURE", "CANCELED"):
                assert status == "SUCCESS", f"{job}: {status}"
                return run_id
            time.sleep(1)
        raise AssertionError(f"{job} did not finish within {timeout}s (last status {status})")


@pytest.fixture()
def server(dagster_home: Path, tmp_path: Path):
    port = _free_port()
    env = _env(dagster_home, tmp_path, CHINATECH_SOURCE="sample")
    log = (tmp_path / "webserver.log").open("wb")
    proc = subprocess.Popen(
        # what `make ui` runs: the webserver and the daemon that dequeues launched runs
        [str(BIN / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "webserver.log").read_text()[-3000:]
            try:
                urllib.request.urlopen(f"{base}/server_info", timeout=2).read()
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        yield Server(base), Path(env["CHINATECH_WAREHOUSE"])
    finally:
        log.close()
        # the webserver ignores SIGTERM in the background: end its whole process group
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


def test_every_job_launches_with_its_defaults_and_a_one_ticker_refresh_stays_scoped(server):
    ui, warehouse = server
    (repo,) = ui.gql(REPOS)["repositoriesOrError"]["nodes"]
    selector = {"repositoryName": repo["name"], "repositoryLocationName": repo["location"]["name"]}

    for job in ("all_assets", "prices", "fundamentals", "filings"):
        ui.launch_and_wait(selector, job, {})

    run_id = ui.launch_and_wait(selector, "all_assets", {"resources": {"scope": {"config": {"tickers": ["9888.HK"]}}}})
    with duckdb.connect(str(warehouse), read_only=True) as con:
        loads = dict(con.execute("SELECT asset, tickers FROM raw.loads WHERE run_id = ?", [run_id]).fetchall())
        infos = con.execute(
            "SELECT ticker FROM raw.fundamentals_info"
            " WHERE fetched_at = (SELECT max(fetched_at) FROM raw.fundamentals_info)"
        ).fetchall()
    assert loads == {
        "raw.prices_daily": ["9888.HK"],
        "core.prices_daily": ["9888.HK"],
        "raw.sec_facts": ["CIK0001329099"],
    }
    assert infos == [("9888.HK",)]

    operations = ui.gql(OPERATIONS % (selector["repositoryName"], selector["repositoryLocationName"]))
    schedules = {s["name"]: s for s in operations["schedulesOrError"]["results"]}
    assert schedules["hk_close"]["executionTimezone"] == "Asia/Hong_Kong"
    assert schedules["us_close"]["executionTimezone"] == "America/New_York"
    assert {"fundamentals_daily", "filings_weekly"} <= set(schedules)
    nodes = {"/".join(n["assetKey"]["path"]): n for n in operations["assetNodes"]}
    assert nodes["raw/prices_daily"]["internalFreshnessPolicy"]["failWindowSeconds"] == 4 * 86400
    assert nodes["core/capex"]["internalFreshnessPolicy"]["failWindowSeconds"] == 10 * 86400
    assert nodes["core/fx_daily"]["automationCondition"] is not None
