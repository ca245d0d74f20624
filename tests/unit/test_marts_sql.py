"""The SQL marts on small hand-built warehouses (in memory, the real schema and views)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb
import polars as pl
import pytest

from assets.mart_sql import load_mart_sql, mart_names, parse_mart_sql, sql_params
from assets.marts import publish_mart
from assets.warehouse import ensure_schema

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PARAMS = {**sql_params(), "max_close_age_days": 7, "max_fx_age_days": 7, "month_ends_from": "2025-01-31"}


def _warehouse(mode: str = "replay") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    ensure_schema(con)
    con.execute("INSERT INTO meta.warehouse (source_mode, created_at, path) VALUES (?, ?, ':memory:')", [mode, NOW])
    return con


def _prices(con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, float]], currency: str = "HKD") -> None:
    """(ticker, date, adj_close) rows into core.prices_daily (close = adj_close)."""
    frame = pl.DataFrame(
        {
            "ticker": [r[0] for r in rows],
            "trade_date": [date.fromisoformat(r[1]) for r in rows],
            "close": [r[2] for r in rows],
            "adj_close": [r[2] for r in rows],
            "dividend": [0.0] * len(rows),
            "currency": [currency] * len(rows),
            "price_basis": ["split_dividend_adjusted"] * len(rows),
            "source": ["replay"] * len(rows),
            "load_id": ["t"] * len(rows),
            "loaded_at": [NOW] * len(rows),
        }
    )
    con.register("_p", frame.to_arrow())
    con.execute("INSERT INTO core.prices_daily BY NAME SELECT * FROM _p")
    con.unregister("_p")


def _flag(con: duckdb.DuckDBPyConnection, ticker: str, day: str, kind: str) -> None:
    con.execute(
        "INSERT INTO dq.price_anomalies VALUES (?, ?, ?, 'test', ?)", [ticker, date.fromisoformat(day), kind, NOW]
    )


def _mart(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> None:
    publish_mart(con, load_mart_sql(name), frame)


def test_every_mart_file_parses_with_a_documented_table() -> None:
    for name in mart_names():
        mart = load_mart_sql(name)
        assert mart.table == f"marts.{name}"
        assert mart.description and mart.columns and mart.queries


def test_header_parser_reads_description_columns_and_named_queries() -> None:
    text = """-- marts.demo
--
-- First paragraph
-- continues here.
--
-- Second paragraph.
--
-- Columns:
--   a               first column
--   b               second column that
--                   wraps onto a second line

-- name: mart
SELECT 1 AS a, 2 AS b;

-- name: other
SELECT $x AS a
"""
    mart = parse_mart_sql("demo", text)
    assert mart.description == "First paragraph continues here.\n\nSecond paragraph."
    assert mart.columns == {"a": "first column", "b": "second column that wraps onto a second line"}
    assert set(mart.queries) == {"mart", "other"}
    con = duckdb.connect()
    assert mart.run(con, "other", {"x": 5, "unused": 1})["a"].to_list() == [5]
    with pytest.raises(KeyError, match="needs parameters"):
        mart.run(con, "other", {})


def test_publish_refuses_an_undocumented_column() -> None:
    con = _warehouse()
    with pytest.raises(ValueError, match="not in the header"):
        publish_mart(con, load_mart_sql("as_of_dates"), pl.DataFrame({"as_of_date": [date(2025, 1, 1)], "oops": [1]}))


# --------------------------------------------------------------------------- returns_daily


def _returns(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return load_mart_sql("returns_daily").run(con)


def test_returns_use_total_return_closes_and_skip_data_errors() -> None:
    con = _warehouse()
    _prices(con, [("A", "2025-01-02", 100.0), ("A", "2025-01-03", 110.0), ("A", "2025-01-06", 11000.0)])
    _prices(con, [("A", "2025-01-07", 121.0), ("A", "2025-01-08", 121.0)])
    _flag(con, "A", "2025-01-06", "unit_error")
    _flag(con, "A", "2025-01-08", "stale_series")
    out = _returns(con).sort("trade_date")
    assert out["simple_return"].to_list()[:2] == [None, pytest.approx(0.10)]
    bad = out.row(2, named=True)
    assert bad["is_excluded"] and bad["excluded_kinds"] == ["unit_error"] and bad["simple_return"] is None
    after = out.row(3, named=True)
    # the return after the excluded day runs from the last valid close, and says so
    assert after["prev_date"] == date(2025, 1, 3) and after["simple_return"] == pytest.approx(0.10)
    assert after["days_spanned"] == 4
    warned = out.row(4, named=True)
    assert not warned["is_excluded"] and warned["warning_kinds"] == ["stale_series"]
    assert warned["log_return"] == pytest.approx(0.0)


def test_unlisted_anomaly_kinds_are_reported() -> None:
    con = _warehouse()
    _prices(con, [("A", "2025-01-02", 100.0)])
    _flag(con, "A", "2025-01-02", "brand_new_kind")
    unlisted = load_mart_sql("returns_daily").run(con, "unlisted_kinds")
    assert unlisted["kind"].to_list() == ["brand_new_kind"]
    assert not _returns(con)["is_excluded"][0]  # a kind nobody classified is not an error


# --------------------------------------------------------------------------- performance


def _instruments(rows: list[tuple[str, str, str]]) -> pl.DataFrame:
    """(ticker, group, currency) -> a marts.instruments frame."""
    return pl.DataFrame(
        {
            "ticker": [r[0] for r in rows],
            "name": [r[0] for r in rows],
            "group": [r[1] for r in rows],
            "is_equity": [r[1] in ("hstech", "adr", "us_bigtech") for r in rows],
            "exchange": ["X"] * len(rows),
            "currency": [r[2] for r in rows],
            "calendar": ["XHKG"] * len(rows),
            "hk_ticker": [None] * len(rows),
            "adr_ratio": [None] * len(rows),
            "first_date": [None] * len(rows),
            "last_date": [None] * len(rows),
            "price_rows": [1] * len(rows),
        },
        schema_overrides={"hk_ticker": pl.String, "adr_ratio": pl.Float64, "first_date": pl.Date, "last_date": pl.Date},
    )


def _members(rows: list[tuple[str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "group_name": [r[0] for r in rows],
            "ticker": [r[1] for r in rows],
            "capex_ticker": [None] * len(rows),
            "company": [r[1] for r in rows],
            "defined_in": ["universe.csv"] * len(rows),
            "in_universe": [True] * len(rows),
        },
        schema_overrides={"capex_ticker": pl.String},
    )


def _empty_basket() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "series": pl.String,
            "kind": pl.String,
            "trade_date": pl.Date,
            "level": pl.Float64,
            "source_close": pl.Float64,
            "daily_return": pl.Float64,
            "currency": pl.String,
            "members": pl.Int64,
            "members_traded": pl.Int64,
            "rebalance_date": pl.Date,
            "method": pl.String,
            "is_approximation": pl.Boolean,
            "label": pl.String,
        }
    )


def _fx(con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, float]]) -> None:
    for day, quote, rate in rows:
        con.execute(
            "INSERT INTO core.fx_daily VALUES (?, 'USD', ?, ?, 'replay')", [date.fromisoformat(day), quote, rate]
        )


def _performance_setup(fx_rows: list[tuple[str, str, float]], as_of: list[str]) -> duckdb.DuckDBPyConnection:
    con = _warehouse()
    # A: HK stock; last close of 2024 on the 31st (a half day); 2025-09-17 a Wednesday
    _prices(con, [("A", "2024-12-30", 90.0), ("A", "2024-12-31", 100.0), ("A", "2025-08-15", 120.0)])
    _prices(con, [("A", "2025-09-16", 130.0), ("A", "2025-09-17", 150.0)])
    _prices(con, [("B", "2024-12-31", 50.0), ("B", "2025-09-17", 55.0)])
    # L listed in 2025: no YTD
    _prices(con, [("L", "2025-03-03", 10.0), ("L", "2025-09-17", 20.0)])
    _prices(con, [("^X", "2024-12-31", 1000.0), ("^X", "2025-09-17", 1100.0)], currency="USD")
    _prices(con, [("HKD=X", "2024-12-31", 7.8), ("HKD=X", "2025-09-17", 7.8)])
    _fx(con, fx_rows)
    _mart(con, "returns_daily", _returns(con))
    hk = [("A", "hstech", "HKD"), ("B", "hstech", "HKD"), ("L", "hstech", "HKD")]
    instruments = _instruments([*hk, ("^X", "us_index", "USD"), ("HKD=X", "fx", "HKD")])
    _mart(con, "instruments", instruments)
    _mart(con, "group_members", _members([("hstech", "A"), ("hstech", "B"), ("hstech", "L"), ("us_index", "^X")]))
    _mart(con, "hstech_basket", _empty_basket())
    dates = pl.DataFrame(
        {
            "as_of_date": [date.fromisoformat(d) for d in as_of],
            "reasons": [["test"]] * len(as_of),
            "has_prices": [True] * len(as_of),
        }
    )
    _mart(con, "as_of_dates", dates)
    return con


def _perf(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str, str], dict]:
    frame = load_mart_sql("performance").run(con, params=PARAMS)
    return {(r["ticker"], str(r["as_of_date"]), r["period"]): r for r in frame.iter_rows(named=True)}


def test_ytd_starts_from_the_last_close_of_the_previous_year_in_local_and_usd() -> None:
    con = _performance_setup([("2024-12-31", "HKD", 7.8), ("2025-09-17", "HKD", 7.5)], ["2025-09-17"])
    perf = _perf(con)
    a = perf[("A", "2025-09-17", "YTD")]
    assert (a["start_date"], a["end_date"]) == (date(2024, 12, 31), date(2025, 9, 17))
    assert a["return_local"] == pytest.approx(0.5)
    assert a["return_usd"] == pytest.approx((150 / 7.5) / (100 / 7.8) - 1)
    assert perf[("^X", "2025-09-17", "YTD")]["return_usd"] == pytest.approx(0.1)  # USD needs no rate
    one_month = perf[("A", "2025-09-17", "1M")]
    assert one_month["start_date"] == date(2025, 8, 15)  # 2025-08-17 is a Sunday: last close before it
    assert ("HKD=X", "2025-09-17", "YTD") not in perf  # FX rates are not instruments here


def test_a_missing_fx_rate_leaves_usd_null_and_says_why() -> None:
    con = _performance_setup([("2024-11-01", "HKD", 7.8), ("2025-09-17", "HKD", 7.5)], ["2025-09-17"])
    a = _perf(con)[("A", "2025-09-17", "YTD")]
    assert a["return_local"] == pytest.approx(0.5)
    assert a["return_usd"] is None
    assert "no HKD per USD rate within 7 days of 2024-12-31" in a["note"]


def test_a_series_that_starts_later_has_no_return_and_weekend_as_of_uses_friday() -> None:
    con = _performance_setup([("2024-12-31", "HKD", 7.8), ("2025-09-17", "HKD", 7.8)], ["2025-09-20"])
    perf = _perf(con)
    late = perf[("L", "2025-09-20", "YTD")]
    assert late["return_local"] is None and "starts later" in late["note"]
    assert perf[("A", "2025-09-20", "YTD")]["end_date"] == date(2025, 9, 17)
    group = perf[("hstech", "2025-09-20", "YTD")]
    assert group["kind"] == "group" and group["members"] == 3 and group["members_with_return"] == 2
    assert group["return_local"] == pytest.approx((0.5 + 0.1) / 2)
    assert "no return for L" in group["note"]
    assert ("us_index", "2025-09-20", "YTD") not in perf  # indexes are not averaged into a group


def test_return_between_any_two_dates_macro() -> None:
    con = _performance_setup([("2024-12-31", "HKD", 7.8)], ["2025-09-17"])
    con.execute(load_mart_sql("performance").query("macro"))
    rows = con.execute(
        "SELECT * FROM marts.return_between(DATE '2025-09-16', DATE '2025-09-17') WHERE ticker = 'A'"
    ).pl()
    assert rows.row(0, named=True)["return_local"] == pytest.approx(150 / 130 - 1)


def test_as_of_dates_hold_latest_day_month_ends_and_claims() -> None:
    con = _warehouse()
    _prices(con, [("A", "2025-01-02", 1.0), ("A", "2025-03-14", 1.0)])
    universe = pl.DataFrame({"ticker": ["A"], "group": ["hstech"]})
    claims = pl.DataFrame({"claim_id": [7], "as_of": [date(2025, 2, 28)]})
    con.register("_universe", universe.to_arrow())
    con.register("_claims", claims.to_arrow())
    out = load_mart_sql("as_of_dates").run(con, params=PARAMS)
    got = {str(r["as_of_date"]): r["reasons"] for r in out.iter_rows(named=True)}
    assert got == {
        "2025-01-31": ["month end"],
        "2025-02-28": ["claim 7", "month end"],
        "2025-03-14": ["latest trading day"],
    }


# --------------------------------------------------------------------------- valuation


def _snapshot(con: duckdb.DuckDBPyConnection, rows: list[tuple]) -> None:
    """(ticker, as_of, market_cap, currency, forward_pe, trailing_pe) rows."""
    for t, d, cap, ccy, fpe, tpe in rows:
        con.execute(
            "INSERT INTO core.fundamentals_snapshot (ticker, as_of_date, market_cap, currency, source, fetched_at,"
            " forward_pe_recomputed, trailing_pe_recomputed) VALUES (?, ?, ?, ?, 'replay', ?, ?, ?)",
            [t, date.fromisoformat(d), cap, ccy, NOW, fpe, tpe],
        )


def test_valuation_is_the_market_cap_weighted_harmonic_mean_in_one_currency() -> None:
    con = _warehouse()
    _fx(con, [("2026-01-02", "HKD", 8.0)])
    # H1: cap 800 HKD = 100 USD at 10x; H2: cap 300 USD at 40x; H3 loss-making (no P/E)
    _snapshot(con, [("H1", "2026-01-02", 800.0, "HKD", 10.0, 12.0), ("H2", "2026-01-02", 300.0, "USD", 40.0, None)])
    _snapshot(con, [("H3", "2026-01-02", 100.0, "USD", None, None), ("U1", "2026-01-02", 500.0, "USD", 20.0, 25.0)])
    _mart(con, "group_members", _members([("hstech", "H1"), ("hstech", "H2"), ("hstech", "H3"), ("us_bigtech", "U1")]))
    out = load_mart_sql("valuation").run(con, params={**PARAMS, "groups": ["hstech", "us_bigtech"]})
    hs = out.filter(pl.col("group_name") == "hstech").row(0, named=True)
    # total cap over total earnings: 400 / (10 + 7.5) = 22.9x (a cap-weighted mean of P/E would say 32.5x)
    assert hs["forward_pe"] == pytest.approx((100 + 300) / (100 / 10 + 300 / 40))
    assert hs["members_forward"] == 2 and hs["members"] == 3
    assert hs["coverage_forward"] == pytest.approx(400 / 500)
    assert hs["trailing_pe"] == pytest.approx(12.0) and hs["members_trailing"] == 1
    assert hs["relative_forward_pe"] == pytest.approx(hs["forward_pe"] / 20)
    assert hs["is_sample"] is False


def test_valuation_has_no_rows_without_snapshots() -> None:
    con = _warehouse("sample")
    _mart(con, "group_members", _members([("hstech", "H1")]))
    assert load_mart_sql("valuation").run(con, params=PARAMS).is_empty()
