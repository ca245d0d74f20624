"""A one-ticker refresh touches only that ticker in every asset: every other row stays as it was."""

from __future__ import annotations

import polars as pl

from tests.integration._graph import failure_messages, materialize, query, sample_source

TICKER, COMPANY, CIK = "9888.HK", "BIDU", 1329099  # Baidu's HK line, the ADR its filings are kept under
# table -> (the column naming whose row it is, the values that belong to the refreshed ticker)
TABLES = {
    "raw.prices_daily": ("ticker", [TICKER]),
    "core.prices_daily": ("ticker", [TICKER]),
    "dq.price_anomalies": ("ticker", [TICKER]),
    "dq.rejected_prices": ("ticker", [TICKER]),
    "core.fx_daily": ("quote", []),
    "raw.fundamentals_info": ("ticker", [TICKER]),
    "core.fundamentals_snapshot": ("ticker", [TICKER]),
    "core.financials_annual": ("ticker", [TICKER]),
    "raw.sec_facts": ("cik", [CIK]),
    "core.capex": ("ticker", [COMPANY]),
    "dq.capex_issues": ("ticker", [COMPANY]),
}


def _others(warehouse, table: str) -> pl.DataFrame:
    column, own = TABLES[table]
    frame = query(warehouse, f"SELECT * FROM {table} ORDER BY ALL")
    return frame.filter(~pl.col(column).is_in(own))


def test_one_ticker_refresh_leaves_every_other_row_untouched(sample_copy, tmp_path):
    warehouse = sample_copy
    before = {t: _others(warehouse, t) for t in TABLES}
    logs_before = {t: query(warehouse, f"SELECT * FROM {t} ORDER BY ALL") for t in ("raw.loads", "dq.check_results")}
    own_before = query(warehouse, "SELECT max(fetched_at) FROM raw.prices_daily WHERE ticker = ?", [TICKER]).item()

    result = materialize(warehouse, sample_source(tmp_path), tickers=[TICKER])
    assert result.success, failure_messages(result)

    for table, rows in before.items():
        after = _others(warehouse, table)
        assert after.equals(rows), f"{table}: rows of other tickers changed"
    # the ticker itself was refreshed, and the logs only grew by this run's rows
    assert (
        query(warehouse, "SELECT max(fetched_at) FROM raw.prices_daily WHERE ticker = ?", [TICKER]).item() > own_before
    )
    for table, rows in logs_before.items():
        after = query(warehouse, f"SELECT * FROM {table} WHERE run_id IS DISTINCT FROM ? ORDER BY ALL", [result.run_id])
        assert after.equals(rows), table
    loads = query(warehouse, "SELECT asset, tickers FROM raw.loads WHERE run_id = ? ORDER BY asset", [result.run_id])
    assert dict(loads.rows()) == {
        "core.prices_daily": [TICKER],
        "raw.prices_daily": [TICKER],
        "raw.sec_facts": [f"CIK{CIK:010d}"],
    }
