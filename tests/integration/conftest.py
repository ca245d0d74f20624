"""Expensive warehouses built once per session and shared (read-only) by the integration tests.

Tests that write take a private copy (``copy_warehouse``); nothing here touches the repo's data/.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from tests.integration._graph import copy_warehouse, materialize, replay_source, sample_source

REPO = Path(__file__).resolve().parents[2]


@dataclass
class GraphRun:
    warehouse: Path
    result: dg.ExecuteInProcessResult


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> GraphRun:
    """Every asset and check from the sample source, once, into a fresh warehouse (do not write to it)."""
    tmp = tmp_path_factory.mktemp("sample")
    warehouse = tmp / "warehouse.duckdb"
    return GraphRun(warehouse, materialize(warehouse, sample_source(tmp)))


@pytest.fixture(scope="session")
def sample_rerun(sample_run: GraphRun, tmp_path_factory: pytest.TempPathFactory) -> GraphRun:
    """The whole graph run a second time on a copy of ``sample_run``'s warehouse."""
    assert sample_run.result.success
    tmp = tmp_path_factory.mktemp("sample_rerun")
    warehouse = copy_warehouse(sample_run.warehouse, tmp)
    return GraphRun(warehouse, materialize(warehouse, sample_source(tmp)))


@pytest.fixture(scope="session")
def replay_run(replay_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> GraphRun:
    """Every asset and check from the recorded files in ../shared/data (skips when absent)."""
    tmp = tmp_path_factory.mktemp("replay")
    warehouse = tmp / "warehouse.duckdb"
    return GraphRun(warehouse, materialize(warehouse, replay_source(replay_dir, tmp)))


@pytest.fixture()
def sample_copy(sample_run: GraphRun, tmp_path: Path) -> Path:
    """A private, writable copy of the sample warehouse."""
    assert sample_run.result.success
    return copy_warehouse(sample_run.warehouse, tmp_path / "wh")


@pytest.fixture()
def dagster_home(tmp_path: Path) -> Path:
    """A DAGSTER_HOME holding a copy of the project's instance config."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    return home
