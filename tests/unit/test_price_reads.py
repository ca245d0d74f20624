"""The price step's reads of held rows and its return profile: shortcuts against the exact computations."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import polars as pl
import pytest

from assets.prices import RETURN_COLUMNS, held_from_previous
from assets.quality.profiles import tickers_with_moves

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


def test_tickers_with_moves_same_on_ordered_whole_histories() -> None:
    """The shortcut for whole histories in order (what core stages) finds the same tickers as the general path."""
    days = [date(2024, 1, 1) + timedelta(days=k) for k in range(300)]
    closes = {
        "CALM": [10.0 * 1.001**k for k in range(300)],
        "JUMP": [10.0 if k < 150 else 14.0 for k in range(300)],  # +34% unexplained: a move
        "SPLIT": [10.0 if k < 100 else 5.0 for k in range(300)],  # explained by a split that day
        "DROP": [10.0 if k < 200 else 7.0 for k in range(300)],  # -36%: a move
        "ZERO": [10.0 if k != 50 else 0.0 for k in range(300)],  # a non-positive close is skipped
    }
    frames = [
        pl.DataFrame(
            {
                "ticker": t,
                "trade_date": days,
                "adj_close": c,
                "dividend": 0.0,
                "split_ratio": [0.5 if (t == "SPLIT" and k == 100) else None for k in range(300)],
            },
            schema={
                "ticker": pl.String,
                "trade_date": pl.Date,
                "adj_close": pl.Float64,
                "dividend": pl.Float64,
                "split_ratio": pl.Float64,
            },
        )
        for t, c in sorted(closes.items())
    ]
    staged = pl.concat(frames)
    none = staged.head(0)

    ordered = tickers_with_moves(none, staged)

    assert ordered == ["DROP", "JUMP"]
    assert ordered == tickers_with_moves(none, staged.reverse())  # not in order: the general path
    assert ordered == tickers_with_moves(none, pl.concat([staged, staged.tail(1)]))  # a key twice: general
