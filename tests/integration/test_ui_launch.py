"""The UI as a user drives it, through the webserver's GraphQL API: every job launches with its
defaults and runs to the end, a one-ticker refresh set in the launchpad touches only that ticker,
and the schedules and freshness policies are there to see."""

from __future__ import annotations

import os
import time
from pathlib import Path

import duckdb
import pytest

from orchestration.webserver import ASSET_JOB, Webserver, free_port
from tests.integration._processes import _env

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

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
ENGINE_EVENTS = """
query Events($id: ID!) {
  logsForRun(runId: $id) { ... on EventConnection { events { ... on EngineEvent { message } } } }
}
"""
TERMINATE = """
mutation Terminate($id: String!) {
  terminateRun(runId: $id) { __typename ... on PythonError { message } }
}
"""
PRICES = [["raw", "prices_daily"], ["core", "prices_daily"], ["dq", "price_anomalies"]]


def launch_and_wait(ui: Webserver, job: str, config: dict, assets: list[list[str]] | None = None):
    outcome = ui.run(job, config, assets, timeout=240)
    assert outcome.status == "SUCCESS", f"{job}: {outcome.status} (log: {ui.log})"
    return outcome


def engine_messages(ui: Webserver, run_id: str) -> list[str]:
    events = ui.gql(ENGINE_EVENTS, {"id": run_id})["logsForRun"]["events"]
    return [e["message"] for e in events if e.get("message")]


@pytest.fixture()
def server(dagster_home: Path, tmp_path: Path):
    # what `make ui` runs: the webserver, and the daemon of the schedules
    env = _env(dagster_home, tmp_path, CHINATECH_SOURCE="sample")
    with Webserver.start(env, tmp_path / "webserver.log", free_port()) as ui:
        yield ui, Path(env["CHINATECH_WAREHOUSE"])


def test_every_job_launches_with_its_defaults_and_a_one_ticker_refresh_stays_scoped(server):
    ui, warehouse = server
    selector = ui.selector
    for job in ("all_assets", "prices", "fundamentals", "filings"):
        launch_and_wait(ui, job, {})

    run_id = launch_and_wait(ui, "all_assets", {"resources": {"scope": {"config": {"tickers": ["9888.HK"]}}}}).run_id
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


def _ready_standbys(ui: Webserver) -> int:
    from orchestration.standby import READY_WORDS

    return ui.log.read_text(errors="replace").count(READY_WORDS)


def _wait_standbys(ui: Webserver, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while _ready_standbys(ui) < count:
        assert time.monotonic() < deadline, f"no standby run process loaded: {ui.log.read_text()[-2000:]}"
        time.sleep(0.2)


def test_runs_start_in_standby_processes_that_reload_changed_code_and_can_be_terminated(server):
    """Each run from the UI gets a process of its own that had loaded the code before the click; a
    standby whose code changed on disk runs nothing; Terminate cancels a standby's run."""
    ui, _warehouse = server
    one_ticker = {"resources": {"scope": {"config": {"tickers": ["9888.HK"]}}}}

    first = launch_and_wait(ui, ASSET_JOB, one_ticker, PRICES)
    _wait_standbys(ui, 2)  # the next standby loads once the first run's process has ended
    second = launch_and_wait(ui, ASSET_JOB, one_ticker, PRICES)
    pids = {run.tags["chinatech/pid"] for run in (first, second)}
    assert [run.tags["chinatech/launched_by"] for run in (first, second)] == ["standby", "standby"]
    assert len(pids) == 2, "each run has a process of its own"
    messages = engine_messages(ui, second.run_id)
    assert any("Run handed to standby run process" in m for m in messages), messages

    # code changed on disk (same bytes, a new mtime): the loaded standby must not run the old code
    _wait_standbys(ui, 3)
    changed = REPO / "sql" / "marts" / "instruments.sql"
    before = changed.stat()
    os.utime(changed, ns=(before.st_atime_ns, time.time_ns()))
    try:
        third = launch_and_wait(ui, ASSET_JOB, one_ticker, PRICES)
    finally:
        os.utime(changed, ns=(before.st_atime_ns, before.st_mtime_ns))
    messages = engine_messages(ui, third.run_id)
    assert any("changed on disk since: a fresh one takes the run" in m for m in messages), messages
    assert third.tags["chinatech/launched_by"] == "standby" and third.tags["chinatech/pid"] not in pids

    # Terminate in the UI: the run process stops at its next step and the run is canceled
    run_id = ui.launch("all_assets", {})
    deadline = time.monotonic() + 120
    while ui.status(run_id)["status"] != "STARTED":
        assert time.monotonic() < deadline, ui.status(run_id)
        time.sleep(0.2)
    assert ui.gql(TERMINATE, {"id": run_id})["terminateRun"]["__typename"] == "TerminateRunSuccess"
    assert ui.wait(run_id, time.monotonic(), timeout=120).status == "CANCELED"
    assert launch_and_wait(ui, ASSET_JOB, one_ticker, PRICES).tags["chinatech/launched_by"] == "standby"
