"""Pure mart transforms on hand-built frames: basket weights, streaks, capex calendarisation, ADR alignment."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from assets.transforms.adr import adr_premium
from assets.transforms.basket import CAPPED, EQUAL, basket_levels, capped_weights, rebalance_dates, rebase
from assets.transforms.calendars import session_closes, week_last_sessions
from assets.transforms.capex_trend import BRIDGED, EXACT, MAJORITY, capex_trend
from assets.transforms.streaks import streak_as_of, weekly_streaks

# --------------------------------------------------------------------------- basket


def test_single_stock_cap_redistributes_the_excess_pro_rata() -> None:
    caps = {"BIG": 500.0, "MID": 100.0, **{f"S{i}": 25.0 for i in range(16)}}  # 1000 in all
    weights, capped = capped_weights(caps, 0.08)
    assert sum(weights.values()) == pytest.approx(1.0)
    assert max(weights.values()) <= 0.08 + 1e-12
    assert capped == {"BIG", "MID"}
    # the 16 small ones share what is left equally, as their caps are equal
    assert weights["S0"] == pytest.approx((1 - 2 * 0.08) / 16)


def test_cap_redistribution_iterates_until_nothing_exceeds_it() -> None:
    caps = {"A": 300.0, "B": 90.0, **{f"S{i}": 10.0 for i in range(20)}}  # B exceeds 8% only after A is capped
    weights, capped = capped_weights(caps, 0.08)
    assert capped == {"A", "B"}
    assert weights["A"] == weights["B"] == pytest.approx(0.08)
    assert sum(weights.values()) == pytest.approx(1.0)


def test_cap_that_cannot_hold_gives_equal_weights() -> None:
    weights, _ = capped_weights({"A": 10.0, "B": 1.0, "C": 1.0}, 0.08)  # 3 x 8% < 100%
    assert list(weights.values()) == pytest.approx([1 / 3] * 3)


def test_rebalance_dates_are_the_last_trading_day_of_each_quarter() -> None:
    days = [date(2024, 12, 30), date(2024, 12, 31), date(2025, 3, 28), date(2025, 4, 1), date(2025, 6, 30)]
    assert rebalance_dates(days, date(2024, 12, 31)) == [date(2024, 12, 31), date(2025, 3, 28), date(2025, 6, 30)]


def _closes(rows: dict[str, list[float]], start: date) -> pl.DataFrame:
    out = []
    for ticker, values in rows.items():
        for i, v in enumerate(values):
            if v is not None:
                out.append((ticker, start + timedelta(days=i), v))
    return pl.DataFrame(out, schema={"ticker": pl.String, "trade_date": pl.Date, "close": pl.Float64}, orient="row")


NO_CAPS = pl.DataFrame(schema={"ticker": pl.String, "as_of_date": pl.Date, "market_cap": pl.Float64})


def test_equal_weight_basket_is_buy_and_hold_within_the_quarter() -> None:
    start = date(2025, 3, 30)  # 30, 31 Mar (rebalance on the 31st), 1, 2 Apr
    closes = _closes({"A": [10, 10, 20, 20], "B": [10, 10, 10, 5]}, start)
    levels, weights = basket_levels(closes, NO_CAPS, base_date=date(2025, 3, 31), base_level=100.0)
    assert levels["trade_date"].to_list() == [date(2025, 3, 31), date(2025, 4, 1), date(2025, 4, 2)]
    # half in A (doubles), half in B: 100 -> 150 -> 125 (weights drift: not rebalanced daily)
    assert levels["level"].to_list() == pytest.approx([100.0, 150.0, 125.0])
    assert set(weights["method"].to_list()) == {EQUAL}
    assert levels["daily_return"].to_list()[1:] == pytest.approx([0.5, -1 / 6])


def test_member_that_did_not_trade_carries_its_last_close_and_joins_at_rebalance() -> None:
    start = date(2025, 3, 30)
    closes = _closes({"A": [10, 10, None, 12], "B": [10, 10, 11, 11], "NEW": [None, None, 50, 60]}, start)
    levels, weights = basket_levels(closes, NO_CAPS, base_date=date(2025, 3, 31), base_level=100.0)
    day1 = levels.filter(pl.col("trade_date") == date(2025, 4, 1)).row(0, named=True)
    assert day1["level"] == pytest.approx(100 * (0.5 * 1.0 + 0.5 * 1.1))  # A carried at 10
    assert (day1["members"], day1["members_traded"]) == (2, 1)
    assert sorted(weights["ticker"].to_list()) == ["A", "B"]  # NEW waits for the next rebalance


def test_market_cap_weights_when_every_cap_is_known_else_equal() -> None:
    start = date(2025, 3, 30)
    names = [f"T{i:02d}" for i in range(14)]
    closes = _closes({n: [10.0, 10.0, 11.0] for n in names}, start)
    caps = pl.DataFrame({"ticker": names, "as_of_date": [date(2025, 3, 1)] * 14, "market_cap": [1000.0] + [10.0] * 13})
    _, weights = basket_levels(closes, caps, base_date=date(2025, 3, 31), cap=0.08)
    assert set(weights["method"].to_list()) == {CAPPED}
    assert weights.filter(pl.col("ticker") == "T00")["weight"][0] == pytest.approx(0.08)
    assert weights["capped"].sum() == 1
    _, partial = basket_levels(closes, caps.head(13), base_date=date(2025, 3, 31))
    assert set(partial["method"].to_list()) == {EQUAL}  # one cap unknown: no half-cap-weighted basket
    stale = caps.with_columns(pl.lit(date(2024, 6, 1)).alias("as_of_date"))
    _, old = basket_levels(closes, stale, base_date=date(2025, 3, 31), max_cap_age_days=92)
    assert set(old["method"].to_list()) == {EQUAL}


def test_rebase_puts_an_index_on_the_basket_scale() -> None:
    frame = pl.DataFrame({"trade_date": [date(2025, 1, 1), date(2025, 1, 2)], "close": [200.0, 210.0]})
    assert rebase(frame, on=date(2025, 1, 1), to=1000.0)["level"].to_list() == pytest.approx([1000.0, 1050.0])


# --------------------------------------------------------------------------- weekly streaks


def _levels(series: str, rows: list[tuple[str, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "series": [series] * len(rows),
            "trade_date": [date.fromisoformat(d) for d, _ in rows],
            "level": [v for _, v in rows],
        }
    )


def test_weeks_end_at_the_last_trading_day_and_streaks_count_consecutive_gains() -> None:
    levels = _levels(
        "B",
        [
            ("2025-04-04", 100.0),  # Friday
            ("2025-04-11", 101.0),
            ("2025-04-16", 103.0),  # Wednesday; Thu 17 is the last session before Good Friday
            ("2025-04-17", 104.0),
            ("2025-04-25", 99.0),
            ("2025-05-02", 99.0),
            ("2025-05-09", 100.0),
        ],
    )
    out = weekly_streaks(levels)
    assert out["week_end_date"].to_list()[2] == date(2025, 4, 17)
    assert out["direction"].to_list() == [None, "up", "up", "down", "flat", "up"]
    assert out["streak_weeks"].to_list() == [None, 1, 2, 1, 1, 1]
    assert out["streak_start_week_end"].to_list()[2] == date(2025, 4, 11)


def test_latest_week_is_incomplete_until_its_last_session() -> None:
    levels = _levels("B", [("2025-09-05", 90.0), ("2025-09-12", 100.0), ("2025-09-17", 110.0)])  # stops on a Wednesday
    last = week_last_sessions("XHKG", date(2025, 9, 15), date(2025, 9, 17)).with_columns(pl.lit("B").alias("series"))
    out = weekly_streaks(levels, last)
    assert out["is_complete"].to_list() == [True, True, False]
    # a streak "up to 2025-09-17" counts complete weeks only
    assert streak_as_of(out, "B", date(2025, 9, 17))["week_end_date"] == date(2025, 9, 12)


def test_streak_as_of_reports_zero_when_the_last_week_went_the_other_way() -> None:
    levels = _levels("B", [("2025-09-05", 100.0), ("2025-09-12", 99.0), ("2025-09-19", 98.0)])
    row = streak_as_of(weekly_streaks(levels), "B", date(2025, 9, 19), "up")
    assert row["weeks"] == 0 and row["direction"] == "down" and row["streak_weeks"] == 2


# --------------------------------------------------------------------------- capex calendarisation


def _capex(rows: list[tuple]) -> pl.DataFrame:
    """(ticker, fiscal_year, duration, start, end, capex, currency, capex_usd) rows."""
    return pl.DataFrame(
        [
            (t, fy, d, date.fromisoformat(s) if s else None, date.fromisoformat(e), c, ccy, usd, "sec")
            for t, fy, d, s, e, c, ccy, usd in rows
        ],
        schema={
            "ticker": pl.String,
            "fiscal_year": pl.Int64,
            "duration": pl.String,
            "period_start": pl.Date,
            "period_end": pl.Date,
            "capex": pl.Float64,
            "currency": pl.String,
            "capex_usd": pl.Float64,
            "source": pl.String,
        },
        orient="row",
    )


NO_GROUPS = pl.DataFrame(schema={"group": pl.String, "capex_ticker": pl.String})


def _row(trend: pl.DataFrame, entity: str, basis: str, year: int) -> dict:
    return trend.filter((pl.col("entity") == entity) & (pl.col("basis") == basis) & (pl.col("year") == year)).row(
        0, named=True
    )


def _companies(*tickers: str) -> pl.DataFrame:
    return pl.DataFrame({"ticker": list(tickers), "company": list(tickers)})


def test_apple_like_fiscal_year_is_calendarised_from_filed_quarters() -> None:
    capex = _capex(
        [
            ("AAPL", 2024, "annual", "2023-10-01", "2024-09-28", 9.447, "USD", 9.447),
            ("AAPL", 2024, "quarterly", "2023-10-01", "2023-12-30", 2.392, "USD", 2.392),
            ("AAPL", 2025, "quarterly", "2024-09-29", "2024-12-28", 2.940, "USD", 2.940),
        ]
    )
    trend = capex_trend(capex, _companies("AAPL"), NO_GROUPS, [2024])
    cal = _row(trend, "AAPL", "calendar", 2024)
    assert cal["alignment"] == BRIDGED and not cal["is_approximation"]
    assert cal["capex"] == pytest.approx(9.447 - 2.392 + 2.940)
    assert (cal["period_start"], cal["period_end"]) == (date(2023, 12, 31), date(2024, 12, 28))
    assert _row(trend, "AAPL", "fiscal", 2024)["capex"] == pytest.approx(9.447)


def test_nvidia_like_year_without_quarters_takes_the_majority_fiscal_year_flagged() -> None:
    capex = _capex([("NVDA", 2025, "annual", "2024-01-29", "2025-01-26", 3.236, "USD", 3.236)])
    trend = capex_trend(capex, _companies("NVDA"), NO_GROUPS, [2024, 2025])
    cal = _row(trend, "NVDA", "calendar", 2024)
    assert cal["alignment"] == MAJORITY and cal["is_approximation"]
    assert cal["capex"] == pytest.approx(3.236) and "covers 338 of 366 days" in cal["components"]
    # 2025 is covered by FY2025 for 26 days only: no data, not a zero
    gap = _row(trend, "NVDA", "calendar", 2025)
    assert gap["status"] == "no data" and gap["capex"] is None


def test_alibaba_march_year_bridged_with_january_to_march_quarters_in_cny_and_usd() -> None:
    capex = _capex(
        [
            ("BABA", 2024, "annual", "2023-04-01", "2024-03-31", 100.0, "CNY", 14.0),
            ("BABA", 2023, "quarterly", "2023-01-01", "2023-03-31", 20.0, "CNY", 2.9),
            ("BABA", 2024, "quarterly", "2024-01-01", "2024-03-31", 30.0, "CNY", 4.2),
        ]
    )
    cal = _row(capex_trend(capex, _companies("BABA"), NO_GROUPS, [2023]), "BABA", "calendar", 2023)
    assert cal["alignment"] == BRIDGED
    assert cal["capex"] == pytest.approx(100 + 20 - 30) and cal["currency"] == "CNY"
    assert cal["capex_usd"] == pytest.approx(14.0 + 2.9 - 4.2)


def test_december_fiscal_year_is_the_calendar_year_with_yoy() -> None:
    capex = _capex(
        [
            ("GOOGL", 2023, "annual", "2023-01-01", "2023-12-31", 32.0, "USD", 32.0),
            ("GOOGL", 2024, "annual", "2024-01-01", "2024-12-31", 52.0, "USD", 52.0),
        ]
    )
    trend = capex_trend(capex, _companies("GOOGL"), NO_GROUPS, [2023, 2024])
    row = _row(trend, "GOOGL", "calendar", 2024)
    assert row["alignment"] == EXACT and row["yoy_change_usd"] == pytest.approx(52 / 32 - 1)
    assert _row(trend, "GOOGL", "calendar", 2023)["yoy_change"] is None


def test_group_total_needs_every_member_and_names_the_missing_ones() -> None:
    capex = _capex(
        [
            ("A", 2024, "annual", "2024-01-01", "2024-12-31", 10.0, "USD", 10.0),
            ("B", 2024, "annual", "2024-01-01", "2024-12-31", 70.0, "CNY", 10.0),
            ("A", 2025, "annual", "2025-01-01", "2025-12-31", 12.0, "USD", 12.0),
        ]
    )
    groups = pl.DataFrame({"group": ["g", "g", "g"], "capex_ticker": ["A", "B", "C"]})
    trend = capex_trend(capex, _companies("A", "B", "C"), groups, [2024, 2025])
    g24 = _row(trend, "g", "calendar", 2024)
    assert g24["capex_usd"] is None and g24["status"] == "incomplete"
    assert g24["missing"] == ["C 2024: no data"]
    assert _row(trend, "C", "fiscal", 2024)["status"] == "no data"  # a row that says so, not a zero
    complete = capex_trend(capex, _companies("A", "B"), groups.head(2), [2024])
    assert _row(complete, "g", "calendar", 2024)["capex_usd"] == pytest.approx(20.0)


# --------------------------------------------------------------------------- ADR premium


def _px(ticker: str, rows: list[tuple[str, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ticker": [ticker] * len(rows),
            "trade_date": [date.fromisoformat(d) for d, _ in rows],
            "close": [c for _, c in rows],
        }
    )


PAIRS = pl.DataFrame({"adr_ticker": ["BABA"], "hk_ticker": ["9988.HK"], "adr_ratio": [8.0]})


def _premium(hk: pl.DataFrame, adr: pl.DataFrame, fx: pl.DataFrame) -> pl.DataFrame:
    lo, hi = date(2024, 12, 15), date(2025, 9, 30)
    return adr_premium(hk, adr, PAIRS, fx, session_closes("XHKG", lo, hi), session_closes("XNYS", lo, hi))


def test_hong_kong_close_is_compared_with_the_previous_new_york_close() -> None:
    hk = _px("9988.HK", [("2025-09-16", 100.0), ("2025-09-17", 110.0)])
    adr = _px("BABA", [("2025-09-15", 100.0), ("2025-09-16", 104.0), ("2025-09-17", 200.0)])
    fx = pl.DataFrame({"trade_date": [date(2025, 9, 15)], "rate": [7.8]})
    out = _premium(hk, adr, fx)
    row = out.filter(pl.col("hk_trade_date") == date(2025, 9, 17)).row(0, named=True)
    # HK closes 08:00 UTC on the 17th; New York's close of the 17th (20:00 UTC) comes later, so the 16th is used
    assert row["adr_trade_date"] == date(2025, 9, 16)
    assert row["hk_close_utc"] == datetime(2025, 9, 17, 8, 0, tzinfo=UTC)
    assert row["adr_close_utc"] == datetime(2025, 9, 16, 20, 0, tzinfo=UTC)  # daylight saving: 16:00 EDT
    assert row["hours_apart"] == pytest.approx(12.0)
    assert row["premium_pct"] == pytest.approx(100 * (104.0 / 8 * 7.8 / 110.0 - 1))
    assert out.filter(pl.col("hk_trade_date") == date(2025, 9, 16))["adr_trade_date"][0] == date(2025, 9, 15)


def test_after_a_us_holiday_and_on_a_half_day_the_last_earlier_us_close_is_used() -> None:
    # 2025-07-04 (Fri) New York closed: HK Monday 7 July pairs with Thursday 3 July
    hk = _px("9988.HK", [("2025-07-07", 100.0), ("2024-12-24", 80.0)])
    adr = _px("BABA", [("2025-07-03", 96.0), ("2025-07-07", 97.0), ("2024-12-23", 70.0), ("2024-12-24", 71.0)])
    fx = pl.DataFrame({"trade_date": [date(2024, 12, 20), date(2025, 7, 1)], "rate": [7.77, 7.85]})
    out = _premium(hk, adr, fx)
    july = out.filter(pl.col("hk_trade_date") == date(2025, 7, 7)).row(0, named=True)
    assert july["adr_trade_date"] == date(2025, 7, 3)
    xmas = out.filter(pl.col("hk_trade_date") == date(2024, 12, 24)).row(0, named=True)
    # Christmas Eve is a Hong Kong half day (closes 12:00 HKT = 04:00 UTC): still the US close of the 23rd
    assert xmas["hk_close_utc"] == datetime(2024, 12, 24, 4, 0, tzinfo=UTC)
    assert xmas["adr_trade_date"] == date(2024, 12, 23)
    assert xmas["adr_close_utc"] == datetime(2024, 12, 23, 21, 0, tzinfo=UTC)  # winter: 16:00 EST


def test_no_premium_without_a_recent_adr_close_or_fx_rate() -> None:
    hk = _px("9988.HK", [("2025-09-17", 110.0)])
    stale = _px("BABA", [("2025-09-01", 100.0)])
    fx = pl.DataFrame({"trade_date": [date(2025, 9, 15)], "rate": [7.8]})
    assert _premium(hk, stale, fx).is_empty()
    fresh = _px("BABA", [("2025-09-16", 100.0)])
    old_fx = pl.DataFrame({"trade_date": [date(2025, 8, 1)], "rate": [7.8]})
    assert _premium(hk, fresh, old_fx).is_empty()
    empty = adr_premium(hk.clear(), fresh, PAIRS, fx, hk.clear(), hk.clear())
    assert empty.is_empty() and "premium_pct" in empty.columns
