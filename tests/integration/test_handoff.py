"""Core built from raw's hand-off (its staged Parquet) equals core built from raw.prices_daily (recorded data)."""

from __future__ import annotations

import shutil

import dagster as dg
import pytest

from assets.handoff import handoff_root
from tests.integration._graph import CORE_PRICES, RAW_PRICES, failure_messages, materialize, query, replay_source

pytestmark = pytest.mark.replay

# both CSV shapes of one ticker (merged, some days disagree), an inconsistent high/low, a plain ADR
TICKERS = ["CNY=X", "0302.HK", "BABA", "9988.HK"]
TABLES = {
    "core.prices_daily": "SELECT * EXCLUDE (load_id, loaded_at) FROM core.prices_daily ORDER BY ticker, trade_date",
    "dq.rejected_prices": "SELECT * EXCLUDE (load_id, rejected_at) FROM dq.rejected_prices ORDER BY ALL",
    "dq.price_anomalies": "SELECT * EXCLUDE (detected_at) FROM dq.price_anomalies ORDER BY ALL",
}


def _read_from(result: dg.ExecuteInProcessResult) -> str:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == CORE_PRICES]
    return event.materialization.metadata["raw_rows_read_from"].value  # type: ignore[union-attr]


def _handoffs() -> list[str]:
    return sorted(p.name for p in handoff_root().glob("*/*"))


def test_core_from_the_hand_off_equals_core_from_the_warehouse(replay_dir, tmp_path):
    source = replay_source(replay_dir, tmp_path)
    one_run = tmp_path / "one_run.duckdb"
    result = materialize(one_run, source, selection=[RAW_PRICES, CORE_PRICES], tickers=TICKERS)
    assert result.success, failure_messages(result)
    assert _read_from(result).startswith("hand-off")
    assert not [h for h in _handoffs() if h.startswith(_load_id(one_run))]  # core deleted what it read

    two_runs = tmp_path / "two_runs.duckdb"
    result = materialize(two_runs, source, selection=[RAW_PRICES], tickers=TICKERS)
    assert result.success, failure_messages(result)
    given = [h for h in _handoffs() if h == _load_id(two_runs)]
    assert given, "raw left no hand-off"
    for folder in handoff_root().glob(f"*/{given[0]}"):
        shutil.rmtree(folder)  # gone (another machine's temp folder): core reads the warehouse
    result = materialize(two_runs, source, selection=[CORE_PRICES], tickers=TICKERS)
    assert result.success, failure_messages(result)
    assert _read_from(result) == "raw.prices_daily"

    for table, sql in TABLES.items():
        a, b = query(one_run, sql), query(two_runs, sql)
        assert a.height > 0 or table != "core.prices_daily"
        assert a.equals(b), f"{table} differs: {a.height} rows from the hand-off, {b.height} from the warehouse"
    kinds = query(one_run, "SELECT DISTINCT kind FROM dq.price_anomalies")["kind"].to_list()
    assert "source_disagreement" in kinds  # the merge of both shapes ran on hand-off rows


def _load_id(warehouse) -> str:
    return query(
        warehouse, "SELECT load_id FROM raw.loads WHERE asset = 'raw.prices_daily' ORDER BY started_at DESC LIMIT 1"
    )["load_id"][0]
