"""An incremental price load on real recorded data keeps the data-quality flags of the dates it did not reload."""

from __future__ import annotations

import shutil
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
