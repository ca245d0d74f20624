"""An incremental price load on real recorded data keeps the data-quality flags of the dates it did not reload."""

from __future__ import annotations

import gzip
import shutil
from datetime import date
from pathlib import Path

import pytest

from tests.integration._graph import (
    CORE_PRICES,
    RAW_PRICES,
    failure_messages,
    materialize,
    query,
    replay_source,
)

pytestmark = pytest.mark.replay

FILES = [  # CNY=X in both shapes (they disagree on some days), 0302.HK (high/low inconsistent on some days)
    "yfinance-history/FX/CNY=X.csv.gz",
    "yfinance-download/CNY=X.csv.gz",
    "yfinance-history/HangSengTech/0302.HK.csv.gz",
]
CORE_FLAGS = (
    "SELECT ticker, trade_date, kind, detail, detected_at FROM dq.price_anomalies"
    " WHERE kind IN ('source_disagreement', 'ohlc_inconsistent') ORDER BY ALL"
)


def test_incremental_load_keeps_earlier_core_flags(replay_dir, tmp_path):
    folder = tmp_path / "replay"
    for rel in FILES:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(replay_dir / rel, folder / rel)
    warehouse = tmp_path / "warehouse.duckdb"

    def load() -> None:
        result = materialize(
            warehouse,
            replay_source(Path(folder), tmp_path),
            selection=[RAW_PRICES, CORE_PRICES],
            tickers=["CNY=X", "0302.HK"],
        )
        assert result.success, failure_messages(result)

    load()
    first = query(warehouse, CORE_FLAGS)
    assert set(first["kind"].to_list()) == {"source_disagreement", "ohlc_inconsistent"}
    assert set(first["ticker"].to_list()) == {"CNY=X", "0302.HK"}

    load()  # nothing new in the files: an incremental load of the overlap window only
    rows = query(
        warehouse, "SELECT row_count FROM raw.loads WHERE asset = 'raw.prices_daily' ORDER BY started_at DESC LIMIT 1"
    )
    assert rows["row_count"][0] < 30
    second = query(warehouse, CORE_FLAGS)
    assert second.height == first.height, f"{first.height} flags after the first load, {second.height} after the second"
    assert second.equals(first)


APPENDED = ["0302.HK", "9888.HK"]  # single history files of one header and time zone: the bulk reader's path
CORE_ROWS = (
    "SELECT ticker, trade_date, open, high, low, close, adj_close, volume, dividend, split_ratio, price_basis"
    " FROM core.prices_daily ORDER BY ticker, trade_date"
)


def _cut(folder: Path, replay_dir: Path, ticker: str, days: int) -> bytes:
    """Write the recorded file without its last ``days`` lines; return those lines (what a recorder appends)."""
    rel = f"yfinance-history/HangSengTech/{ticker}.csv.gz"
    lines = gzip.decompress((replay_dir / rel).read_bytes()).splitlines(keepends=True)
    (folder / rel).parent.mkdir(parents=True, exist_ok=True)
    (folder / rel).write_bytes(gzip.compress(b"".join(lines[:-days])))
    return b"".join(lines[-days:])


def _append(folder: Path, ticker: str, text: bytes) -> None:
    path = folder / f"yfinance-history/HangSengTech/{ticker}.csv.gz"
    path.write_bytes(path.read_bytes() + gzip.compress(text))  # a new gzip member, as a daily recorder appends


def test_appended_days_are_read_from_the_old_end_and_match_a_whole_load(replay_dir, tmp_path):
    """Recorded files that grew by a gzip member: the incremental load reads the new days only, a file
    unchanged gives no rows, and core ends identical to a whole load of the complete files."""
    folder = tmp_path / "replay"
    later = {t: _cut(folder, replay_dir, t, 3) for t in APPENDED}
    warehouse = tmp_path / "warehouse.duckdb"
    source = replay_source(folder, tmp_path)

    def load(selection: list = [RAW_PRICES, CORE_PRICES], target: Path = warehouse) -> None:  # noqa: B006
        result = materialize(target, source, selection=selection, tickers=APPENDED)
        assert result.success, failure_messages(result)

    load()
    marks = query(warehouse, "SELECT ticker, size FROM raw.replay_files ORDER BY ticker")
    assert marks["ticker"].to_list() == APPENDED
    _append(folder, "0302.HK", later["0302.HK"])

    load()

    raw_load = query(
        warehouse,
        "SELECT row_count, tickers FROM raw.loads WHERE asset = 'raw.prices_daily' ORDER BY started_at DESC LIMIT 1",
    )
    assert raw_load["row_count"][0] == 3  # the appended days only: no overlap window re-read
    assert raw_load["tickers"][0].to_list() == APPENDED  # 9888.HK unchanged: still judged for freshness
    grown = query(warehouse, "SELECT size FROM raw.replay_files WHERE ticker = '0302.HK'")["size"][0]
    assert grown == (folder / "yfinance-history/HangSengTech/0302.HK.csv.gz").stat().st_size

    whole = tmp_path / "whole.duckdb"
    load(target=whole)
    assert query(warehouse, CORE_ROWS).equals(query(whole, CORE_ROWS))


def test_marks_of_a_load_core_never_built_are_not_trusted(replay_dir, tmp_path):
    """raw run alone after files grew: its marks cover rows core never got, so the next load reads from the
    ticker's start again and core catches up."""
    folder = tmp_path / "replay"
    later = {t: _cut(folder, replay_dir, t, 2) for t in APPENDED}
    warehouse = tmp_path / "warehouse.duckdb"
    source = replay_source(folder, tmp_path)

    def load(selection: list) -> None:
        result = materialize(warehouse, source, selection=selection, tickers=APPENDED)
        assert result.success, failure_messages(result)

    load([RAW_PRICES, CORE_PRICES])
    for ticker, text in later.items():
        _append(folder, ticker, text)
    load([RAW_PRICES])  # raw reads the new days and marks the files; core does not run
    load([RAW_PRICES, CORE_PRICES])

    last = query(warehouse, "SELECT ticker, max(trade_date) AS d FROM core.prices_daily GROUP BY ticker ORDER BY 1")
    assert last["d"].to_list() == [date(2026, 8, 21)] * 2  # the recording's last day reached core
