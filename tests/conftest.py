"""Shared fixtures: the recorded-data folder (skip when absent) and isolated yfinance caches."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).with_name("fixtures")


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
