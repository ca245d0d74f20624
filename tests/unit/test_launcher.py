"""The warm run launcher's decisions: which runs a standby process may take, and when its code is stale."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin

from orchestration.launcher import Standby, StandbyError, standby_takes
from orchestration.standby import code_stamp

REPO = Path(__file__).resolve().parents[2]


def origin(module: str = "orchestration.definitions", directory: str = str(REPO), python: str = sys.executable):
    pointer = ModuleCodePointer(module=module, fn_name="defs", working_directory=directory)
    return JobPythonOrigin("all_assets", RepositoryPythonOrigin(python, pointer, None, None, None))


def test_a_standby_takes_only_runs_of_these_definitions_on_this_interpreter(monkeypatch, tmp_path):
    monkeypatch.delenv("CHINATECH_WARM_RUNS", raising=False)
    assert standby_takes(origin())
    assert not standby_takes(None)
    assert not standby_takes(origin(module="other_project.definitions"))
    assert not standby_takes(origin(directory=str(tmp_path)))
    assert not standby_takes(origin(python="/usr/bin/python3-other"))
    monkeypatch.setenv("CHINATECH_WARM_RUNS", "0")
    assert not standby_takes(origin()), "CHINATECH_WARM_RUNS=0 leaves every run to Dagster's default launcher"


def test_code_stamp_changes_with_any_code_file_and_ignores_bytecode(tmp_path):
    for folder in ("assets", "orchestration", "sql"):
        (tmp_path / folder).mkdir()
    query = tmp_path / "sql" / "a.sql"
    query.write_text("SELECT 1")
    (tmp_path / "assets" / "x.py").write_text("X = 1")
    stamp = code_stamp(tmp_path)
    assert code_stamp(tmp_path) == stamp

    cache = tmp_path / "assets" / "__pycache__"
    cache.mkdir()
    (cache / "x.cpython-311.pyc").write_bytes(b"\0")
    assert code_stamp(tmp_path) == stamp, "bytecode a run writes does not make the standby stale"

    os.utime(query, ns=(query.stat().st_atime_ns, query.stat().st_mtime_ns + 1_000_000))
    touched = code_stamp(tmp_path)
    assert touched != stamp, "a file saved again (same bytes) is a change"
    (tmp_path / "orchestration" / "new.py").write_text("")
    assert code_stamp(tmp_path) != touched, "a new file is a change"


def test_a_standby_loads_then_exits_when_its_launcher_goes_away(tmp_path):
    import dagster as dg
    from dagster._serdes import serialize_value

    with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:
        standby = Standby(serialize_value(instance.get_ref()))
        started = time.monotonic()
        assert standby.answer(timeout=120) == "ready"
        assert standby.proc.poll() is None, "a loaded standby waits for its run"
        assert standby.proc.stdin is not None
        standby.proc.stdin.close()  # the launcher (the UI) went away
        assert standby.proc.wait(timeout=30) == 0
        assert time.monotonic() - started < 120
        with pytest.raises(StandbyError, match="exited with 0"):
            standby.answer(timeout=5)


def test_a_run_no_standby_could_take_goes_to_dagsters_launcher_and_says_so(tmp_path, monkeypatch):
    """A standby that dies or never loads costs nothing but the wait: the run is launched the default way,
    tagged so (Terminate then goes to Dagster's own path), with an engine event saying why."""
    import dagster as dg
    from dagster._core.launcher import LaunchRunContext
    from dagster._core.launcher.default_run_launcher import DefaultRunLauncher

    from orchestration.launcher import LAUNCHED_BY_TAG, WarmRunLauncher

    monkeypatch.delenv("CHINATECH_WARM_RUNS", raising=False)
    launched: list[str] = []
    monkeypatch.setattr(
        DefaultRunLauncher, "launch_run", lambda self, context: launched.append(context.dagster_run.run_id)
    )

    def dead_standby(self, run):
        self._instance.add_run_tags(run.run_id, {LAUNCHED_BY_TAG: "standby"})
        raise StandbyError("standby run process 1 exited with 1")

    monkeypatch.setattr(WarmRunLauncher, "_hand_to_standby", dead_standby)
    with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:
        run = instance.add_run(dg.DagsterRun(job_name="all_assets", run_id="r1", job_code_origin=origin()))
        launcher = WarmRunLauncher()
        launcher.register_instance(instance)
        launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
        assert launched == ["r1"]
        assert instance.get_run_by_id("r1").tags[LAUNCHED_BY_TAG] == "default"
        messages = [e.dagster_event.message or "" for e in instance.all_logs("r1") if e.dagster_event]
        assert any("launching the run with Dagster's default launcher instead" in m for m in messages), messages


def test_a_run_of_selected_assets_gets_the_source_and_warehouse_tags(tmp_path, monkeypatch):
    """The UI's Materialize runs Dagster's asset job, which carries none of the jobs' tags: the
    launcher adds them, so runs of every kind can be filtered by source; a job's own tags stay."""
    import dagster as dg
    from dagster._core.launcher import LaunchRunContext
    from dagster._core.launcher.default_run_launcher import DefaultRunLauncher

    from orchestration.launcher import WarmRunLauncher

    monkeypatch.setenv("CHINATECH_WARM_RUNS", "0")
    monkeypatch.setenv("CHINATECH_SOURCE", "replay")
    monkeypatch.delenv("CHINATECH_WAREHOUSE", raising=False)
    monkeypatch.setattr(DefaultRunLauncher, "launch_run", lambda self, context: None)
    with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:
        asset_run = instance.add_run(dg.DagsterRun(job_name="__ASSET_JOB", run_id="a1"))
        job_run = instance.add_run(
            dg.DagsterRun(
                job_name="prices", run_id="j1", tags={"chinatech/source": "sample", "chinatech/warehouse": "x"}
            )
        )
        launcher = WarmRunLauncher()
        launcher.register_instance(instance)
        for run in (asset_run, job_run):
            launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
        tags = instance.get_run_by_id("a1").tags
        assert (tags["chinatech/source"], tags["chinatech/warehouse"]) == ("replay", "default")
        tags = instance.get_run_by_id("j1").tags
        assert (tags["chinatech/source"], tags["chinatech/warehouse"]) == ("sample", "x")
