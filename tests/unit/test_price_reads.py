"""The price step's reads of held rows: the bounded previous-close look-up against the exact query."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import polars as pl
import pytest

from assets.prices import RETURN_COLUMNS, held_from_previous

EXACT = """
WITH prev AS (
    SELECT c.ticker, max(c.trade_date) AS d FROM core.prices_daily AS c JOIN _firsts AS f USING (ticker)
    WHERE c.trade_date < f.first GROUP BY c.ticker
)
SELECT c.ticker, c.trade_date, c.adj_close, c.dividend, c.split_ratio
FROM core.prices_daily AS c JOIN _firsts AS f USING (ticker) LEFT JOIN prev USING (ticker)
WHERE c.trade_date >= coalesce(prev.d, f.first)
ORDER BY c.ticker, c.trade_date
"""


def _rows(ticker: str, days: list[date]) -> list[tuple[object, ...]]:
    return [(ticker, d, 10.0 + i, 0.0, None) for i, d in enumerate(days)]


@pytest.fixture()
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA core")
    con.execute(
        "CREATE TABLE core.prices_daily (ticker VARCHAR, trade_date DATE, adj_close DOUBLE,"
        " dividend DOUBLE, split_ratio DOUBLE)"
    )
    end = date(2026, 8, 21)
    daily = [end - timedelta(days=k) for k in range(400, -1, -1)]
    rows = (
        _rows("DAILY", daily)  # a previous close the day before
        + _rows("GAP", [date(2025, 1, 2), date(2025, 1, 3), end - timedelta(days=1), end])  # months of nothing
        + _rows("LONGGAP", [date(2020, 1, 2), end])  # the previous close years before the staged day
        + _rows("ONLYNEW", [end])  # nothing held before the staged day
        + _rows("OTHER", daily)  # not staged: never read
    )
    con.executemany("INSERT INTO core.prices_daily VALUES (?, ?, ?, ?, ?)", rows)
    return con


@pytest.mark.parametrize(
    "firsts",
    [
        {
            "DAILY": date(2026, 8, 21),
            "GAP": date(2026, 8, 20),
            "LONGGAP": date(2026, 8, 21),
            "ONLYNEW": date(2026, 8, 21),
        },
        {"DAILY": date(2026, 8, 14), "GAP": date(2026, 8, 21), "LONGGAP": date(2020, 1, 2)},
        {"DAILY": date(2026, 1, 5)},  # a window longer than the scanned margin
    ],
)
def test_held_from_previous_equals_the_exact_query(con: duckdb.DuckDBPyConnection, firsts: dict[str, date]) -> None:
    staged = pl.DataFrame(
        {"ticker": list(firsts), "trade_date": list(firsts.values())},
        schema={"ticker": pl.String, "trade_date": pl.Date},
    ).with_columns(
        pl.lit(1.0).alias("adj_close"), pl.lit(0.0).alias("dividend"), pl.lit(None, pl.Float64).alias("split_ratio")
    )
    con.register("_firsts", staged.select("ticker", pl.col("trade_date").alias("first")).to_arrow())
    exact = con.execute(EXACT).pl()
    con.unregister("_firsts")

    got = held_from_previous(con, staged.select(RETURN_COLUMNS))

    assert got.equals(exact.cast(got.schema))  # type: ignore[arg-type]
    assert got.height > len(firsts)  # previous closes were found, not just the staged days
