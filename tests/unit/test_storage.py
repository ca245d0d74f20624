"""The project's Dagster storage (orchestration/storage.py) keeps the files of Dagster's default
SQLite storage: a home made before it keeps its run history, and runs written through it read back."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

from orchestration.storage import MAX_ENGINES, EventLogStorage, RunStorage, _Engines

REPO = Path(__file__).resolve().parents[2]


@dg.op
def hello(context) -> int:  # no annotation: Dagster cannot read a postponed one
    context.log.info("hello from the op")
    return 1


@dg.job
def tiny() -> None:
    hello()


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def test_a_home_made_with_dagsters_default_storage_keeps_its_history(home: Path) -> None:
    before = dg.DagsterInstance.from_config(str(home))
    old_run = tiny.execute_in_process(instance=before).run_id
    before.dispose()

    shutil.copy(REPO / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        assert isinstance(instance.run_storage, RunStorage)
        assert isinstance(instance.event_log_storage, EventLogStorage)
        new_run = tiny.execute_in_process(instance=instance).run_id
        assert {r.run_id for r in instance.get_runs()} == {old_run, new_run}
        for run_id in (old_run, new_run):
            messages = [e.user_message for e in instance.all_logs(run_id)]
            assert "hello from the op" in messages
            assert (home / "history" / "runs" / f"{run_id}.db").exists()
        assert (home / "history" / "runs.db").exists() and (home / "history" / "runs" / "index.db").exists()
    finally:
        instance.dispose()


def test_engines_are_kept_per_file_and_the_oldest_dropped(tmp_path: Path) -> None:
    engines = _Engines()
    first = engines.get(f"sqlite:///{tmp_path / 'a.db'}")
    assert engines.get(f"sqlite:///{tmp_path / 'a.db'}") is first
    for i in range(MAX_ENGINES):
        engines.get(f"sqlite:///{tmp_path / f'{i}.db'}")
    assert engines.get(f"sqlite:///{tmp_path / 'a.db'}") is not first, "beyond MAX_ENGINES the oldest is dropped"
