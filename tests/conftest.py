"""Shared fixtures: the recorded-data folder (skip when absent) and isolated yfinance caches; test order."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).with_name("fixtures")


# The heaviest test files first (seconds on one worker, measured under load: 340, 260, 200, 170, 140, 130,
# 110, 90, ...). `make test` runs `--dist loadfile --no-loadscope-reorder`, so the workers take files in
# this order: longest first, the many short files last, and both workers finish together instead of one
# running a four-minute file alone at the end. Files not listed follow: integration, then unit.
HEAVIEST_FIRST = (
    "integration/test_fault_matrix.py",
    "integration/test_readme_sequence.py",
    "integration/test_ui_launch.py",
    "integration/test_trust.py",
    "integration/test_ducklake.py",
    "integration/test_snapshot.py",
    "integration/test_sample_graph.py",
    "integration/test_cli_run.py",
    "integration/test_marts.py",
    "integration/test_backup.py",
    "integration/test_overlapping_runs.py",
    "integration/test_readers.py",
    "integration/test_scope.py",
    "integration/test_processes.py",
)


def _file_rank(item: pytest.Item) -> tuple[int, int]:
    path = item.nodeid.split("::", 1)[0].removeprefix("tests/")
    if path in HEAVIEST_FIRST:
        return (0, HEAVIEST_FIRST.index(path))
    return (1 if path.startswith("integration/") else 2, 0)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Heaviest files first (stable: a file's own tests keep their order)."""
    items.sort(key=_file_rank)


def _replay_dir() -> Path:
    return Path(os.environ.get("CHINATECH_REPLAY_DIR", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def replay_dir() -> Path:
    """The recorded real data (../shared/data by default); tests needing it skip when absent."""
    path = _replay_dir()
    if not (path / "README.md").exists() and not (path / "yfinance-history").is_dir():
        pytest.skip(f"recorded data not found at {path} (set CHINATECH_REPLAY_DIR)")
    return path


@pytest.fixture()
def yf_cache(tmp_path: Path) -> Path:
    """Point yfinance's caches at a temp dir so a recorded fake cookie never leaks between runs."""
    import yfinance as yf

    cache = tmp_path / "yf-cache"
    cache.mkdir()
    yf.set_tz_cache_location(str(cache))
    return cache


@pytest.fixture()
def yf_state(yf_cache: Path):
    """Fresh yfinance singleton state: no crumb/cookie from an earlier test, no cached GETs."""
    from yfinance.data import YfData

    data = YfData()
    saved = (data._cookie, data._crumb, data._cookie_strategy, data.fundamentals_use_chunked)

    def reset() -> None:
        data._cookie, data._crumb = None, None
        data._cookie_strategy = "basic"
        data.fundamentals_use_chunked = False
        YfData.cache_get.cache_clear()

    reset()
    yield data
    reset()
    data._cookie, data._crumb, data._cookie_strategy, data.fundamentals_use_chunked = saved
