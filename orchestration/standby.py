"""A run process started before its run: imports the code, then waits for one run id.

Started by ``orchestration.launcher.WarmRunLauncher`` (the daemon of ``make ui``). A fresh
run process spends ~3 s importing Dagster, the definitions, great-expectations and pandas
and opening the instance before its first step; a one-ticker refresh then takes ~1.5 s.
This process does that work while nobody waits, then reads one line on stdin (``{"run_id":
...}``) and executes that run exactly as ``dagster api execute_run`` would, in this process,
which exits with the run. One run per process, as with Dagster's own launcher.

It answers on the file descriptor in ``CHINATECH_STANDBY_FD``: ``ready`` once loaded, then
``started`` or ``stale`` (the code on disk changed since it was imported: it runs nothing
and the launcher starts a fresh one).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[1]
CODE_DIRS = ("assets", "orchestration", "sql")
FD_ENV = "CHINATECH_STANDBY_FD"
INSTANCE_ENV = "CHINATECH_STANDBY_INSTANCE"
DEFINITIONS_MODULE = "orchestration.definitions"
READY_WORDS = "waiting for a run"  # in the log of `make ui` (the bench waits for it)


def code_stamp(repo: Path = REPO) -> str:
    """What the code on disk is: path, size and mtime of every file a run imports or reads."""
    digest = hashlib.sha1()
    for folder in CODE_DIRS:
        for path in sorted((repo / folder).rglob("*")):
            if "__pycache__" in path.parts or not path.is_file():
                continue
            stat = path.stat()
            digest.update(f"{path.relative_to(repo)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def preload() -> None:
    """Import and build what every run needs before its first step (a run re-uses it from sys.modules)."""
    from orchestration.definitions import defs

    defs.get_repository_def()  # the asset graph, built once
    from assets.quality.gx import _context

    _context()  # great-expectations and its ephemeral context
    import pandas  # noqa: F401  (GX batches)

    from assets.transforms.calendars import exchange_calendar
    from assets.transforms.prices import exchange_tz
    from assets.universe import load_universe

    for name in load_universe()["calendar"].drop_nulls().unique().to_list():
        exchange_calendar(name)  # the wide calendar the rules slice
        exchange_tz(name)  # exchange_calendars' default one, after: a wide build drops it from its cache


def _say(out: IO[str], word: str) -> None:
    out.write(word + "\n")
    out.flush()


def run_here(instance: Any, run_id: str) -> int:
    """Execute the run as ``dagster api execute_run`` does, with its cancellation watcher."""
    from dagster._cli.api import _execute_run_command_body
    from dagster._core.execution.run_cancellation_thread import start_run_cancellation_thread
    from dagster._utils.interrupts import capture_interrupts

    from orchestration.runs import process_tags

    # the tags of orchestration/runs.py: a later run can tell this process died, and frees its pool slot
    instance.add_run_tags(run_id, process_tags())
    with capture_interrupts():
        # terminate() marks the run CANCELING (and interrupts this pid); the watcher interrupts too
        watcher, stop = start_run_cancellation_thread(instance, run_id)
        try:
            return _execute_run_command_body(run_id, instance, lambda _event: None, set_exit_code_on_failure=False)
        finally:
            stop.set()
            watcher.join(timeout=10)


def main() -> int:
    from dagster import DagsterInstance
    from dagster._core.instance import InstanceRef
    from dagster._serdes import deserialize_value

    out = os.fdopen(int(os.environ[FD_ENV]), "w")
    ref = deserialize_value(os.environ[INSTANCE_ENV], InstanceRef)
    started = time.monotonic()
    preload()
    stamp = code_stamp()
    with DagsterInstance.from_ref(ref) as instance:
        _say(out, "ready")
        print(
            f"standby run process {os.getpid()}: loaded in {time.monotonic() - started:.1f}s, {READY_WORDS}",
            file=sys.stderr,
            flush=True,
        )
        line = sys.stdin.readline()
        if not line.strip():
            return 0  # the launcher went away (or stood this process down)
        run_id = json.loads(line)["run_id"]
        if code_stamp() != stamp:
            _say(out, "stale")
            return 0
        _say(out, "started")
        out.close()
        return run_here(instance, run_id)


if __name__ == "__main__":
    sys.exit(main())
