"""Daily fundamentals snapshots: one per day (the run's scope.as_of), history kept, a re-run replaces only that day."""

from __future__ import annotations

import polars as pl
import pytest

from assets.sources.resource import SourceResource
from tests.integration._graph import (
    RAW_INFO,
    SAMPLE_DAY,
    SNAPSHOT,
    failure_messages,
    materialize,
    materialized_keys,
    query,
    sample_source,
    scalar,
)

D1, D2 = "2026-08-10", "2026-08-14"
SNAPSHOT_SQL = "SELECT * FROM core.fundamentals_snapshot WHERE as_of_date = ? ORDER BY ticker"


def _snapshot_day(warehouse, tmp_path, day):
    result = materialize(warehouse, sample_source(tmp_path), selection=[RAW_INFO, SNAPSHOT], as_of=day)
    assert result.success, failure_messages(result)
    assert materialized_keys(result) == {RAW_INFO, SNAPSHOT}
    return result


def _counts(warehouse) -> dict[str, int]:
    rows = query(warehouse, "SELECT as_of_date::VARCHAR, count(*) FROM core.fundamentals_snapshot GROUP BY 1").rows()
    return dict(rows)


def test_snapshot_days_are_kept_and_rerun_replaces_only_that_day(sample_copy, tmp_path):
    warehouse = sample_copy
    _snapshot_day(warehouse, tmp_path, D1)
    _snapshot_day(warehouse, tmp_path, D2)
    counts = _counts(warehouse)
    assert set(counts) == {SAMPLE_DAY, D1, D2}  # the sample run's day is kept too
    assert counts[D1] == counts[D2] == counts[SAMPLE_DAY] > 0
    # each day's snapshot prices the tickers at that day's close, not today's
    d1_prices = query(warehouse, "SELECT ticker, price FROM core.fundamentals_snapshot WHERE as_of_date = ?", [D1])
    closes = query(warehouse, "SELECT ticker, close FROM core.prices_daily WHERE trade_date = ?", [D1])
    joined = d1_prices.join(closes, on="ticker")
    assert joined.height > 0
    assert (joined["price"] - joined["close"]).abs().max() < 1e-3  # sample info rounds to 4 decimals

    d2_before = query(warehouse, SNAPSHOT_SQL, [D2])
    raw_d2_before = query(warehouse, "SELECT * FROM raw.fundamentals_info WHERE as_of_date = ? ORDER BY ticker", [D2])
    d1_before = query(warehouse, SNAPSHOT_SQL, [D1])

    _snapshot_day(warehouse, tmp_path, D1)

    assert _counts(warehouse) == counts
    d1_after = query(warehouse, SNAPSHOT_SQL, [D1])
    assert d1_after.drop("fetched_at").equals(d1_before.drop("fetched_at"))
    assert (d1_after["fetched_at"] > d1_before["fetched_at"]).all()  # really re-fetched
    assert query(warehouse, SNAPSHOT_SQL, [D2]).equals(d2_before)  # untouched, fetch times included
    raw_d2_after = query(warehouse, "SELECT * FROM raw.fundamentals_info WHERE as_of_date = ? ORDER BY ticker", [D2])
    assert raw_d2_after.equals(raw_d2_before)
    for table in ("core.fundamentals_snapshot", "raw.fundamentals_info"):
        dupes = scalar(
            warehouse,
            f"SELECT count(*) FROM (SELECT ticker, as_of_date FROM {table} GROUP BY ALL HAVING count(*) > 1)",
        )
        assert dupes == 0, table
    assert query(warehouse, "SELECT DISTINCT source FROM core.fundamentals_snapshot")["source"].to_list() == ["sample"]
    assert pl.Series(d1_after["ticker"]).is_unique().all()


@pytest.mark.parametrize("day", ["2026-01-05", SAMPLE_DAY])
def test_live_source_refuses_to_backfill_a_past_day(tmp_path, day):
    source = SourceResource(source="live", sec_user_agent="ct test@example.com", cache_dir=str(tmp_path / "cache"))
    result = materialize(tmp_path / "warehouse.duckdb", source, selection=[RAW_INFO], as_of=day)
    assert not result.success
    message = failure_messages(result)["raw__fundamentals_info"]
    assert f"as_of {day}" in message
    assert "snapshot of now" in message and "only today" in message
