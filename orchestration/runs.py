"""Runs of this CLI whose process is gone: mark them failed and free their slots in the pool.

The jobs run in process, so a run lives exactly as long as its process. DuckDB's lock on the
warehouse dies with the process (the kernel drops it, the WAL rolls back what was not
committed); the run's slot in the instance's ``duckdb`` pool does not: a run killed with
SIGKILL keeps it, and every later run's writing step then waits for it forever. So each CLI
run is tagged with its process (pid, host, start time) and, before and while it runs, releases
the runs whose process is gone, and names the run it waits for; the wait has a bound.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from dagster._core.storage.dagster_run import FINISHED_STATUSES

PID_TAG = "chinatech/pid"
HOST_TAG = "chinatech/host"
START_TAG = "chinatech/process_start"
POOL = "duckdb"
UNFINISHED = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def process_start(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot, Linux), to tell a reused pid; None if gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def process_alive(pid: int, started: str) -> bool:
    """Is the process that started a run still there? (/proc where there is one, else a signal 0.)"""
    if Path("/proc/self/stat").exists():
        now = process_start(pid)
        return now is not None and (not started or now == started)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_tags() -> dict[str, str]:
    """Every run says which source and warehouse it used, so runs of different files tell apart
    (the jobs' tags; the run launcher adds them to runs of selected assets, which have none)."""
    return {
        "chinatech/source": os.environ.get("CHINATECH_SOURCE", "live"),
        "chinatech/warehouse": os.environ.get("CHINATECH_WAREHOUSE", "") or "default",
    }


def process_tags() -> dict[str, str]:
    """Tags naming this process on a run, so a later run can tell whether it is still alive."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname(), START_TAG: process_start(os.getpid()) or ""}


def release_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark this host's CLI runs whose process is gone as failed and free their pool slots.

    Also frees slots still held by finished runs (the daemon's job in ``dagster dev``; a CLI
    run has no daemon). Returns one line per run released.
    """
    released = []
    host = socket.gethostname()
    for record in instance.get_run_records(dg.RunsFilter(statuses=UNFINISHED, tags={HOST_TAG: host})):
        run = record.dagster_run
        pid = int(run.tags.get(PID_TAG, "0") or 0)
        if not pid or pid == os.getpid() or process_alive(pid, run.tags.get(START_TAG, "")):
            continue
        instance.report_run_failed(run, message=f"process {pid} is gone (killed?): run marked failed by a later run")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        released.append(f"run {run.run_id} (process {pid}) is gone: marked failed, its {POOL} pool slot freed")
    held = instance.event_log_storage.get_concurrency_run_ids()
    for run_id in sorted(held):
        run = instance.get_run_by_id(run_id)
        if run is None or run.status in FINISHED_STATUSES:
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)
            released.append(f"run {run_id} ({run.status.value if run else 'deleted'}) still held a slot: freed")
    return released


def pool_holders(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """Who holds the pool while ``run_id`` waits: run, step and process of each slot."""
    info = instance.event_log_storage.get_concurrency_info(POOL)
    out = []
    for slot in info.claimed_slots:
        if slot.run_id == run_id:
            continue
        run = instance.get_run_by_id(slot.run_id)
        tags = run.tags if run else {}
        where = f"process {tags[PID_TAG]} on {tags.get(HOST_TAG, '?')}" if PID_TAG in tags else "not a CLI run"
        out.append(f"run {slot.run_id} step {slot.step_key} ({where})")
    return out


@dataclass
class PoolWatch:
    """While a run executes: release dead runs every ``every`` seconds, say who a waiting step
    waits for, and give up after ``bound`` seconds of waiting (``give_up`` is called with the why)."""

    instance: dg.DagsterInstance
    run_id: str
    bound: float
    say: Callable[[str], None]
    give_up: Callable[[str], None]
    every: float = 1.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> PoolWatch:
        self._thread = threading.Thread(target=self._loop, name="pool-watch", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        waiting_since: float | None = None
        last_said = 0.0
        while not self._stop.wait(self.every):
            for line in release_dead_runs(self.instance):
                self.say(line)
            info = self.instance.event_log_storage.get_concurrency_info(POOL)
            pending = [s.step_key for s in info.pending_steps if s.run_id == self.run_id and not s.assigned_timestamp]
            if not pending:
                waiting_since = None
                continue
            now = time.monotonic()
            waiting_since = waiting_since or now
            holders = "; ".join(pool_holders(self.instance, self.run_id)) or "nobody (yet)"
            if now - last_said >= 30 or now == waiting_since:
                self.say(f"step {pending[0]} waits for the {POOL} pool, held by {holders}")
                last_said = now
            if now - waiting_since > self.bound:
                self.give_up(
                    f"step {pending[0]} waited {self.bound:.0f}s for the {POOL} pool, held by {holders}. "
                    "That run is alive: let it finish, or stop it, then run again (CHINATECH_POOL_WAIT_SECONDS "
                    "sets the wait)."
                )
                return
