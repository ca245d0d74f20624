"""Run launcher of ``make ui``: a launched run starts in a process that has already loaded the code.

Dagster's default launcher asks the code server for a fresh interpreter per run; it imports
Dagster, the definitions, great-expectations and pandas and opens the instance before the first
step (~3 s), while a one-ticker refresh itself takes ~1.5 s. This launcher keeps one standby
process (``orchestration/standby.py``) with all of that done, hands it the run, and starts the
next standby when that run's process ends. Every run still has a process of its own.

- Runs the standby cannot take go to the default launcher: another code location or
  interpreter, or ``CHINATECH_WARM_RUNS=0``.
- A standby whose code changed on disk since it loaded runs nothing: a fresh one takes the run.
- ``terminate`` marks the run canceling and interrupts its process; the run process also
  watches for that state, so it works from the webserver as from the daemon.
- ``check_run_worker_health`` tells run monitoring whether the run's process is still alive.

The first run after start-up waits for its standby to load (as long as a default launch).
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from dagster import DagsterRun
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster._core.launcher.default_run_launcher import DefaultRunLauncher
from dagster._core.origin import JobPythonOrigin
from dagster._core.storage.tags import GRPC_INFO_TAG
from dagster._serdes import serialize_value

from orchestration.runs import HOST_TAG, PID_TAG, START_TAG, process_alive, run_tags
from orchestration.standby import DEFINITIONS_MODULE, FD_ENV, INSTANCE_ENV, REPO

WARM_ENV = "CHINATECH_WARM_RUNS"
LOAD_TIMEOUT_S = 180.0
LAUNCHED_BY_TAG = "chinatech/launched_by"


class StandbyError(RuntimeError):
    """A standby process died or did not answer."""


class Standby:
    """One standby process and the pipe it answers on."""

    def __init__(self, instance_ref: str) -> None:
        read_fd, write_fd = os.pipe()
        env = {**os.environ, FD_ENV: str(write_fd), INSTANCE_ENV: instance_ref}
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "orchestration.standby"],
                stdin=subprocess.PIPE,
                cwd=REPO,
                env=env,
                pass_fds=(write_fd,),
                text=True,
            )
        finally:
            os.close(write_fd)
        self._answers = os.fdopen(read_fd, "r")
        self.spawned = time.monotonic()

    def answer(self, timeout: float) -> str:
        ready, _, _ = select.select([self._answers], [], [], timeout)
        line = self._answers.readline() if ready else ""
        if not line:
            code = self.proc.poll()
            self.stop()
            why = f"exited with {code}" if code is not None else f"gave no answer within {timeout:.0f}s"
            raise StandbyError(f"standby run process {self.proc.pid} {why}")
        return line.strip()

    def hand(self, run_id: str) -> bool:
        """Give it the run: True once it runs it, False if its code is stale (it has exited then)."""
        if self.answer(LOAD_TIMEOUT_S) != "ready":
            raise StandbyError(f"standby run process {self.proc.pid} did not load")
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"run_id": run_id}) + "\n")
        self.proc.stdin.close()
        word = self.answer(30.0)
        self._answers.close()
        return word == "started"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if not self._answers.closed:
            self._answers.close()


def standby_takes(origin: JobPythonOrigin | None) -> bool:
    """Is this a run of this project's definitions, on this interpreter? (what a standby loads)"""
    if os.environ.get(WARM_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    if origin is None:
        return False
    pointer = origin.repository_origin.code_pointer
    module = getattr(pointer, "module", None)
    working_directory = getattr(pointer, "working_directory", None) or ""
    executable = origin.repository_origin.executable_path
    return (
        module == DEFINITIONS_MODULE
        and os.path.realpath(working_directory or REPO) == str(REPO)
        and os.path.realpath(executable) == os.path.realpath(sys.executable)
    )


class WarmRunLauncher(DefaultRunLauncher):
    """DefaultRunLauncher whose runs start in a standby process that has loaded the code."""

    def __init__(self, inst_data: Any = None) -> None:
        super().__init__(inst_data)
        self._lock = threading.Lock()
        self._standby: Standby | None = None
        self._disposed = False

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        missing = {k: v for k, v in run_tags().items() if k not in run.tags}
        if missing:  # a Materialize of selected assets runs Dagster's asset job, which has no tags of ours
            self._instance.add_run_tags(run.run_id, missing)
        if not standby_takes(run.job_code_origin):
            super().launch_run(context)
            return
        try:
            proc = self._hand_to_standby(run)
        except StandbyError as exc:
            self._instance.add_run_tags(run.run_id, {LAUNCHED_BY_TAG: "default"})
            self._instance.report_engine_event(
                f"{exc}: launching the run with Dagster's default launcher instead", run, cls=self.__class__
            )
            super().launch_run(context)
            return
        self._run_ids.add(run.run_id)
        threading.Thread(target=self._after, args=(proc,), name="standby-after-run", daemon=True).start()

    def _hand_to_standby(self, run: DagsterRun) -> subprocess.Popen[str]:
        # tagged first: a Terminate during the hand-off marks the run canceling, which the standby sees
        self._instance.add_run_tags(run.run_id, {LAUNCHED_BY_TAG: "standby"})
        with self._lock:
            for attempt in range(2):  # a stale standby is replaced once; a fresh one cannot be stale
                standby, self._standby = self._standby or self._spawn(), None
                try:
                    taken = standby.hand(run.run_id)
                except StandbyError as exc:
                    if attempt:
                        raise
                    self._instance.report_engine_event(f"{exc}: starting another", run, cls=self.__class__)
                    continue
                if taken:
                    self._instance.report_engine_event(
                        f"Run handed to standby run process {standby.proc.pid}, which had loaded the code "
                        f"(started {time.monotonic() - standby.spawned:.1f}s earlier)",
                        run,
                        cls=self.__class__,
                    )
                    return standby.proc
                standby.stop()
                self._instance.report_engine_event(
                    f"Standby run process {standby.proc.pid} had loaded code that changed on disk since: "
                    "a fresh one takes the run",
                    run,
                    cls=self.__class__,
                )
            raise StandbyError("no standby run process would take the run")

    def _spawn(self) -> Standby:
        return Standby(serialize_value(self._instance.get_ref()))

    def _after(self, proc: subprocess.Popen[str]) -> None:
        """When a run's process ends, load the next standby (not before: it would slow the run)."""
        proc.wait()
        self.prewarm()

    def prewarm(self) -> None:
        """Load a standby now, so that even the next run finds one ready."""
        with self._lock:
            if self._standby is None and not self._disposed:
                self._standby = self._spawn()

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return False
        if GRPC_INFO_TAG in run.tags or run.tags.get(LAUNCHED_BY_TAG) != "standby":
            return super().terminate(run_id)
        self._instance.report_run_canceling(run)
        pid = int(run.tags.get(PID_TAG, "0") or 0)
        if pid and run.tags.get(HOST_TAG) == socket.gethostname() and process_alive(pid, run.tags.get(START_TAG, "")):
            os.kill(pid, signal.SIGINT)  # the run stops at its next step boundary, as with the default launcher
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        pid = int(run.tags.get(PID_TAG, "0") or 0)
        if run.tags.get(LAUNCHED_BY_TAG) != "standby" or not pid or run.tags.get(HOST_TAG) != socket.gethostname():
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "not a standby run of this host")
        if process_alive(pid, run.tags.get(START_TAG, "")):
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run process {pid} is gone")

    def dispose(self) -> None:
        with self._lock:
            self._disposed = True
            standby, self._standby = self._standby, None
        if standby is not None:
            standby.stop()
        super().dispose()
