"""FX rates from the recorded CNY=X history, anomalies, and USD conversion (Polars and SQL)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from assets.transforms.fx import FX_SCHEMA, fx_anomalies, fx_daily_from_prices
from assets.universe import load_universe

REPO = Path(__file__).resolve().parents[2]
FRIDAY, SATURDAY, SUNDAY = date(2024, 12, 6), date(2024, 12, 7), date(2024, 12, 8)


def history_prices(replay_dir: Path, ticker: str) -> pl.DataFrame:
    """Core-like price rows from a recorded history CSV: the calendar date as written
    (first 10 characters), never shifted through UTC (bars are stamped 00:00 London)."""
    raw = pl.read_csv(replay_dir / "yfinance-history" / "FX" / f"{ticker}.csv.gz")
    return raw.select(
        pl.lit(ticker).alias("ticker"),
        pl.col("Date").str.slice(0, 10).str.to_date().alias("trade_date"),
        pl.col("Close").alias("close"),
        pl.lit("replay").alias("source"),
    )


@pytest.fixture()
def cny_fx(replay_dir: Path) -> pl.DataFrame:
    return fx_daily_from_prices(history_prices(replay_dir, "CNY=X"), load_universe())


def test_recorded_history_ends_with_a_saturday_bar(replay_dir: Path) -> None:
    prices = history_prices(replay_dir, "CNY=X")
    assert prices["trade_date"].max() == SATURDAY
    raw = pl.read_csv(replay_dir / "yfinance-history" / "FX" / "CNY=X.csv.gz")
    assert raw["Date"].str.ends_with("+01:00").any()  # BST-stamped rows: dates as written
    assert raw["Date"][0] == "2001-06-25 00:00:00+01:00"
    assert prices["trade_date"][0] == date(2001, 6, 25)  # not 2001-06-24 via UTC


def test_fx_daily_drops_weekend_bars(cny_fx: pl.DataFrame) -> None:
    assert cny_fx.schema == pl.Schema(FX_SCHEMA)
    assert cny_fx["trade_date"].max() == FRIDAY
    assert cny_fx.filter(pl.col("trade_date").dt.weekday() > 5).is_empty()
    assert cny_fx.select("base", "quote").unique().rows() == [("USD", "CNY")]
    assert cny_fx.filter(pl.col("trade_date") == FRIDAY)["rate"].item() == pytest.approx(7.2592, abs=1e-4)
    assert not cny_fx.select("trade_date").is_duplicated().any()


def test_fx_daily_only_takes_fx_tickers() -> None:
    prices = pl.DataFrame(
        {"ticker": ["AAPL", "HKD=X"], "trade_date": [FRIDAY, FRIDAY], "close": [240.0, 7.78], "source": ["x", "x"]}
    )
    out = fx_daily_from_prices(prices, load_universe())
    assert out.rows() == [(FRIDAY, "USD", "HKD", 7.78, "x")]


def test_weekend_cny_amount_uses_fridays_rate_sql(cny_fx: pl.DataFrame) -> None:
    con = duckdb.connect()
    con.execute((REPO / "sql" / "schema" / "00_schemas.sql").read_text())
    con.execute((REPO / "sql" / "schema" / "30_fx_fundamentals.sql").read_text())
    con.execute((REPO / "sql" / "views" / "fx.sql").read_text())
    recent = cny_fx.filter(pl.col("trade_date") >= date(2024, 11, 1))  # read by duckdb by name
    con.execute("INSERT INTO core.fx_daily SELECT * FROM recent")
    friday_rate = recent.filter(pl.col("trade_date") == FRIDAY)["rate"].item()

    got = con.execute(
        "SELECT core.to_usd(1000.0, 'CNY', DATE '2024-12-07'), core.to_usd(1000.0, 'cny', '2024-12-08'),"
        " core.to_usd(20.0, 'USD', DATE '2024-12-07'), core.to_usd(1.0, 'CNY', DATE '2024-10-01'),"
        " core.to_usd(7.0, 'CNH', DATE '2024-12-07')"
    ).fetchone()
    assert got[0] == pytest.approx(1000.0 / friday_rate)
    assert got[1] == pytest.approx(1000.0 / friday_rate)
    assert got[2] == 20.0
    assert got[3] is None and got[4] is None

    # per-row use over a table of amounts, and the view's USD leg
    rows = con.execute(
        "SELECT d, core.to_usd(a, c, d) FROM (VALUES (DATE '2024-12-06', 100.0, 'CNY'),"
        " (DATE '2024-12-07', 100.0, 'CNY')) t(d, a, c) ORDER BY d"
    ).fetchall()
    assert rows[0][1] == pytest.approx(rows[1][1])
    assert con.execute("SELECT core.to_usd(5.0, 'usd', DATE '2024-12-07')").fetchone()[0] == 5.0


def synthetic_fx(rates: list[tuple[date, float]], quote: str = "CNY") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "trade_date": [d for d, _ in rates],
            "base": ["USD"] * len(rates),
            "quote": [quote] * len(rates),
            "rate": [r for _, r in rates],
            "source": ["synthetic"] * len(rates),
        },
        schema=FX_SCHEMA,
    )


def test_fx_anomalies_jump_gap_nonpositive() -> None:
    start = date(2024, 12, 2)  # Monday
    rates = [(start + timedelta(days=i), 7.20) for i in range(5)]  # Mon..Fri
    rates.append((date(2024, 12, 9), 7.20 * 1.06))  # Monday after a weekend: +6% jump
    rates.append((date(2024, 12, 20), 7.63))  # 11 days later: a gap
    rates.append((date(2024, 12, 23), 0.0))  # a bad zero
    rates.append((date(2024, 12, 24), 7.63))  # back to normal: no second jump
    out = fx_anomalies(synthetic_fx(rates))

    kinds = {(r["trade_date"], r["kind"]) for r in out.iter_rows(named=True)}
    assert kinds == {
        (date(2024, 12, 9), "fx_jump"),
        (date(2024, 12, 20), "fx_gap"),
        (date(2024, 12, 23), "fx_nonpositive"),
    }
    assert set(out["ticker"].to_list()) == {"CNY=X"}
    gap = out.filter(pl.col("kind") == "fx_gap")["detail"].item()
    assert "11 days" in gap


def test_fx_anomalies_quiet_on_real_recent_history(cny_fx: pl.DataFrame) -> None:
    recent = cny_fx.filter(pl.col("trade_date") >= date(2023, 1, 1))
    assert fx_anomalies(recent).is_empty()
    assert fx_anomalies(recent, max_move=0.001).filter(pl.col("kind") == "fx_jump").height > 0


def test_fx_anomalies_empty() -> None:
    assert fx_anomalies(pl.DataFrame(schema=FX_SCHEMA)).is_empty()


def test_fx_daily_ignores_row_order_and_load_window(replay_dir: Path) -> None:
    prices = history_prices(replay_dir, "CNY=X").filter(pl.col("trade_date") >= date(2024, 1, 1))
    # a second source for two days (as a full reload from another source would leave)
    other = prices.filter(pl.col("trade_date").is_in([date(2024, 12, 5), date(2024, 12, 6)])).with_columns(
        pl.col("close") + 0.01, pl.lit("live").alias("source")
    )
    rows = pl.concat([prices, other])
    universe = load_universe()
    first = fx_daily_from_prices(rows, universe)
    anomalies = fx_anomalies(first, max_move=0.002)
    assert not first.select("trade_date", "quote").is_duplicated().any()
    for seed in range(5):
        shuffled = rows.sample(fraction=1.0, shuffle=True, seed=seed)
        again = fx_daily_from_prices(shuffled, universe)
        assert again.equals(first), seed
        assert fx_anomalies(again.sample(fraction=1.0, shuffle=True, seed=seed), max_move=0.002).equals(anomalies)
    start = date(2024, 7, 1)
    window = fx_daily_from_prices(rows.filter(pl.col("trade_date") >= start), universe)
    assert window.equals(first.filter(pl.col("trade_date") >= start))


def test_fx_daily_drops_non_finite_closes() -> None:
    days = [date(2024, 12, 2), date(2024, 12, 3), date(2024, 12, 4)]
    prices = pl.DataFrame(
        {"ticker": ["CNY=X"] * 3, "trade_date": days, "close": [7.25, float("nan"), float("inf")], "source": ["x"] * 3}
    )
    out = fx_daily_from_prices(prices, load_universe())
    assert out.select("trade_date", "rate").rows() == [(days[0], 7.25)]
