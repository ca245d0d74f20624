"""Dead CLI runs give their pool slot back; a live holder is named and waited for with a bound.

A real instance (sqlite, the project's dagster.yaml) in tmp; runs are recorded as the CLI tags
them, with the pid of a real child process, alive or reaped.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from orchestration.runs import HOST_TAG, PID_TAG, POOL, START_TAG, PoolWatch, pool_holders, process_start
from orchestration.runs import release_dead_runs as release

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dg.DagsterInstance]:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))  # the project's storage config reads its home from it
    shutil.copy(REPO / "orchestration" / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as inst:
        yield inst


def cli_run(instance: dg.DagsterInstance, pid: int, started: str | None = None) -> str:
    """A STARTED run tagged like the CLI's (pid, host, start time), holding the pool slot of raw__prices_daily."""
    run_id = str(uuid.uuid4())
    tags = {PID_TAG: str(pid), HOST_TAG: socket.gethostname(), START_TAG: started or process_start(pid) or ""}
    instance.add_run(dg.DagsterRun(job_name="all_assets", run_id=run_id, status=dg.DagsterRunStatus.STARTED, tags=tags))
    storage = instance.event_log_storage
    storage.initialize_concurrency_limit_to_default(POOL)
    assert storage.claim_concurrency_slot(POOL, run_id, "raw__prices_daily").is_claimed
    return run_id


def test_a_killed_run_is_marked_failed_and_its_slot_freed(instance):
    gone = subprocess.Popen(["sleep", "60"])
    run_id = cli_run(instance, gone.pid)
    gone.kill()
    gone.wait()

    lines = release(instance)

    assert lines == [f"run {run_id} (process {gone.pid}) is gone: marked failed, its {POOL} pool slot freed"]
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
    assert instance.event_log_storage.get_concurrency_info(POOL).claimed_slots == []
    assert release(instance) == []


def test_a_live_run_keeps_its_slot_and_a_waiting_run_names_it_then_gives_up(instance):
    holder = subprocess.Popen(["sleep", "60"])
    try:
        held_by = cli_run(instance, holder.pid)
        assert release(instance) == []
        waiting = str(uuid.uuid4())  # this process's run, its first step waiting for the slot
        instance.add_run(dg.DagsterRun(job_name="all_assets", run_id=waiting, status=dg.DagsterRunStatus.STARTED))
        assert not instance.event_log_storage.claim_concurrency_slot(POOL, waiting, "raw__sec_facts").is_claimed
        assert pool_holders(instance, waiting) == [
            f"run {held_by} step raw__prices_daily (process {holder.pid} on {socket.gethostname()})"
        ]

        said: list[str] = []
        gave_up: list[str] = []
        with PoolWatch(instance, waiting, bound=0.5, say=said.append, give_up=gave_up.append, every=0.1):
            deadline = time.monotonic() + 10
            while not gave_up and time.monotonic() < deadline:
                time.sleep(0.05)

        assert len(gave_up) == 1
        assert f"run {held_by}" in gave_up[0] and f"process {holder.pid}" in gave_up[0]
        assert "waited" in gave_up[0]
        assert any("waits for the duckdb pool" in line and held_by in line for line in said)
        assert instance.get_run_by_id(held_by).status == dg.DagsterRunStatus.STARTED
    finally:
        holder.kill()
        holder.wait()


def test_a_reused_pid_is_not_mistaken_for_the_run(instance):
    """The pid is alive again, but started at another time: not the run's process, so released."""
    other = subprocess.Popen(["sleep", "60"])
    try:
        run_id = cli_run(instance, other.pid, started="1")
        assert release(instance) == [
            f"run {run_id} (process {other.pid}) is gone: marked failed, its duckdb pool slot freed"
        ]
    finally:
        other.kill()
        other.wait()
