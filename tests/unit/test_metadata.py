"""The load summary a batched write reports (assets/metadata.py, ``LoadTally``)."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from assets.metadata import LoadTally


def _batch(tickers: list[str], first: date, days: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ticker": [t for t in tickers for _ in range(days)],
            "trade_date": [first + timedelta(days=i) for _ in tickers for i in range(days)],
            "close": [float(i) for i in range(len(tickers) * days)],
        }
    )


def test_the_preview_holds_the_ten_newest_rows_of_all_batches():
    batches = [
        _batch(["A", "B"], date(2024, 1, 1), 300),
        _batch(["C"], date(2024, 12, 1), 100),  # newest dates here
        _batch(["D", "E", "F"], date(2023, 1, 1), 50),
    ]
    tally = LoadTally()
    for batch in batches:
        tally.add(batch)
    whole = pl.concat(batches)
    assert tally.sample is not None
    assert tally.sample["trade_date"].to_list() == whole["trade_date"].sort(descending=True).head(10).to_list()
    assert set(tally.sample["ticker"]) == {"C"}
    assert (tally.rows, tally.lo, tally.hi) == (whole.height, whole["trade_date"].min(), whole["trade_date"].max())
    assert tally.keys == {"A", "B", "C", "D", "E", "F"}


def test_ties_on_the_newest_date_fill_the_preview():
    tally = LoadTally()
    tally.add(_batch([f"T{i:02d}" for i in range(30)], date(2024, 1, 1), 3))  # 30 rows on the last date
    assert tally.sample is not None
    assert tally.sample.height == 10
    assert tally.sample["trade_date"].unique().to_list() == [date(2024, 1, 3)]


def test_table_summary_says_an_empty_table_has_no_dates_and_gives_a_full_ones_range():
    import duckdb

    from assets.warehouse import table_summary

    con = duckdb.connect()
    con.execute("CREATE TABLE t (trade_date DATE)")
    assert table_summary(con, "t", "trade_date") == {
        "table_rows": 0,
        "table_date_min": "(no rows)",
        "table_date_max": "(no rows)",
    }
    con.execute("INSERT INTO t VALUES (DATE '2024-01-02'), (DATE '2024-03-04')")
    assert table_summary(con, "t", "trade_date") == {
        "table_rows": 2,
        "table_date_min": "2024-01-02",
        "table_date_max": "2024-03-04",
    }
