"""Price anomaly rules: one real-shaped bad input per kind on small frames, plus the recorded data.

Shapes follow the cases yfinance's own price repair is tested on (tests/data in
ranaroussi/yfinance: SSW.JO's cents-to-rand switch, AET.L's 100x stretch, 4063.T's
split whose earlier prices were not back-adjusted), rebuilt here by hand.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from assets.transforms import anomalies
from assets.transforms.anomalies import (
    ANOMALY_SCHEMA,
    KINDS,
    LOOKBACK_DAYS,
    detect_anomalies,
    gap,
    load_rules,
    no_data,
    recent_anomalies,
    split_not_back_adjusted,
    stale_series,
    unit_error,
    unit_switch,
    unreported_split,
)
from assets.universe import load_universe

RULES = load_rules()
START = date(2024, 3, 4)  # a Monday; price rules only care about row order
SPLIT_KINDS = ("unreported_split", "split_not_back_adjusted")


def _weekdays(start: date, n: int) -> list[date]:
    days, d = [], start
    while len(days) < n:
        if d.weekday() < 5:
            days.append(d)
        d += timedelta(days=1)
    return days


def _prices(
    closes: list[float],
    *,
    ticker: str = "TEST",
    basis: str = "split_adjusted",
    splits: dict[int, float] | None = None,
    dates: list[date] | None = None,
    adj_closes: list[float] | None = None,
    currency: str = "USD",
) -> pl.DataFrame:
    """A frame in the core price schema; ``splits`` maps row index to split ratio."""
    dates = dates or _weekdays(START, len(closes))
    splits = splits or {}
    n = len(closes)
    return pl.DataFrame(
        {
            "ticker": [ticker] * n,
            "trade_date": dates,
            "open": closes,
            "high": closes,
            "low": closes,
            "close": closes,
            "adj_close": adj_closes or closes,
            "volume": [1000] * n,
            "dividend": [0.0] * n,
            "split_ratio": [splits.get(i) for i in range(n)],
            "currency": [currency] * n,
            "price_basis": [basis] * n,
            "source": ["test"] * n,
        },
        schema_overrides={
            "trade_date": pl.Date,
            "close": pl.Float64,
            "open": pl.Float64,
            "high": pl.Float64,
            "low": pl.Float64,
            "adj_close": pl.Float64,
            "volume": pl.Int64,
            "split_ratio": pl.Float64,
        },
    )


def _universe(**calendars: str) -> pl.DataFrame:
    return pl.DataFrame(
        {"ticker": list(calendars), "calendar": list(calendars.values())},
        schema={"ticker": pl.String, "calendar": pl.String},
    )


def _dates(frame: pl.DataFrame) -> list[date]:
    return frame["trade_date"].to_list()


def _assert_schema(frame: pl.DataFrame) -> None:
    assert dict(frame.schema) == ANOMALY_SCHEMA


def _unit_and_split(prices: pl.DataFrame) -> pl.DataFrame:
    """Every price rule that looks at jumps, together."""
    rules = (unit_error, unit_switch, unreported_split, split_not_back_adjusted)
    return pl.concat([rule(prices, RULES) for rule in rules])


# ------------------------------------------------------------------------------- rules


def test_rules_file_loads_and_kinds_are_fixed() -> None:
    assert RULES["unit_error"]["factor"] >= 10
    assert {2.0, 10.0} <= set(RULES["split"]["common_ratios"])
    assert RULES["split"]["min_checkable_ratio"] > (1 + RULES["split"]["action_tolerance"]) ** 2
    assert RULES["split"]["action_window"] >= 0
    assert set(RULES["gap"]["min_run"]) == {"XNYS", "XHKG", "24/5"}
    assert tuple(KINDS) == (
        "unit_error",
        "unit_switch",
        "unreported_split",
        "split_not_back_adjusted",
        "stale_series",
        "gap",
        "no_data",
    )


# -------------------------------------------------------------------------- unit_error


def test_unit_error_flags_reverting_100x_rows() -> None:
    # a London listing quoted in pence with two bars in pounds
    prices = _prices([462.1, 461.2, 4.611, 4.48, 456.1, 456.9], ticker="CNE.L", currency="GBp")
    out = unit_error(prices, RULES)
    _assert_schema(out)
    days = _weekdays(START, 6)
    assert _dates(out) == [days[2], days[3]]
    assert set(out["kind"]) == {"unit_error"}
    assert out["detail"][0] == "close 4.611 is 0.009998x the last good close 461.2; reverts after 2 row(s)"
    # the jumps into and out of the bad rows are neither a unit switch nor splits
    assert unit_switch(prices, RULES).is_empty()
    assert unreported_split(prices, RULES).is_empty()


def test_unit_error_flags_hundredfold_and_ignores_real_moves() -> None:
    cents = unit_error(_prices([50.0, 5000.0, 50.5, 51.0]), RULES)
    assert _dates(cents) == [_weekdays(START, 4)[1]]
    # Alibaba Health 0241.HK 2014-01-24: +372% (4.7x) is the largest real one-day move;
    # Baidu 9888.HK 2025-09-17: +15.7%
    for closes in ([0.31, 0.3095, 1.461, 1.50], [113.2, 131.0, 130.0]):
        assert _unit_and_split(_prices(closes)).is_empty(), closes


# ------------------------------------------------------------------------- unit_switch


SSW_JO_CENTS = [3690.0, 3661.0, 3610.0, 3540.0, 3507.0, 3453.0, 3432.0, 3423.0, 3501.0]
SSW_JO_RAND = [35.35, 34.97, 34.70, 34.46, 35.09, 34.36, 33.62]


def test_unit_switch_cents_to_rand_from_a_date_on() -> None:
    # SSW.JO (Sibanye-Stillwater, JSE): quoted in cents until 2023-05-31, in rand from
    # 2023-06-01 on and it stays there. Same shape as a London pence -> pounds switch.
    days = _weekdays(date(2023, 5, 19), len(SSW_JO_CENTS) + len(SSW_JO_RAND))
    prices = _prices(SSW_JO_CENTS + SSW_JO_RAND, ticker="SSW.JO", dates=days, currency="ZAc")
    out = unit_switch(prices, RULES)
    _assert_schema(out)
    assert _dates(out) == [date(2023, 6, 1)]
    assert out["detail"][0] == (
        "close 3501.0 -> 35.35 (0.0101x) changes units: the 9 row(s) 2023-05-19 to 2023-05-31 "
        "are 99.04x the recent scale (7 row(s) since 2023-06-01)"
    )
    assert unit_error(prices, RULES).is_empty()
    # switching back later makes the rand rows the odd ones out (the latest rows decide)
    back = _prices(SSW_JO_CENTS + SSW_JO_RAND + [3359.0] * 3, dates=_weekdays(date(2023, 5, 19), 19))
    detail = unit_switch(back, RULES)["detail"].to_list()
    assert len(detail) == 1 and "the 7 row(s) 2023-06-01 to 2023-06-09 are 0.01" in detail[0]


def test_unit_switch_for_a_100x_stretch_longer_than_the_window() -> None:
    # AET.L (suspended, volume 0): 0.1455 pounds, then 9 sessions at 14.55 (pence), then back
    window = RULES["unit_error"]["reversion_window"]
    closes = [0.1455] * 4 + [14.55] * 9 + [0.1455] * 5
    assert window < 9
    days = _weekdays(date(2022, 5, 3), len(closes))
    out = unit_switch(_prices(closes, ticker="AET.L", dates=days, currency="GBP"), RULES)
    assert _dates(out) == [days[13]]
    assert (
        "the 9 row(s) 2022-05-09 to 2022-05-19 are 100.0x the recent scale (5 row(s) since 2022-05-20)"
        in (out["detail"][0])
    )
    assert unit_error(_prices(closes, dates=days), RULES).is_empty()


def test_unit_switch_reports_a_bad_first_or_last_row() -> None:
    # unit_error needs good rows on both sides; a lone bad edge row is a switch
    first = unit_switch(_prices([4620.0, 46.1, 46.3, 46.0]), RULES)
    assert _dates(first) == [_weekdays(START, 4)[1]]
    assert "the 1 row(s)" in first["detail"][0]
    last = unit_switch(_prices([46.1, 46.3, 46.0, 4620.0]), RULES)
    assert "the 3 row(s)" in last["detail"][0] and "(1 row(s) since" in last["detail"][0]


def test_unit_error_and_unit_switch_never_share_a_jump() -> None:
    # pence rows, a 2-row blip in pounds that reverts, more pence (longer than the window),
    # then pounds for good
    closes = [461.0, 462.0, 460.5, 4.6, 4.62, 459.0, 458.0, 457.5, 458.5, 456.0, 455.1, 4.55, 4.56, 4.58, 4.6]
    days = _weekdays(START, len(closes))
    prices = _prices(closes, ticker="CNE.L", dates=days, currency="GBp")
    errors, switches = unit_error(prices, RULES), unit_switch(prices, RULES)
    assert _dates(errors) == days[3:5]
    assert _dates(switches) == [days[11]]
    assert "the 9 row(s)" in switches["detail"][0]  # the blip rows are not counted twice
    kinds = detect_anomalies(prices, _universe(), RULES)["kind"].to_list()
    assert kinds == ["unit_error", "unit_error", "unit_switch"]


def test_reverse_split_with_its_action_is_not_a_unit_switch() -> None:
    # a 1-for-100 consolidation: split-adjusted, so no jump, and no flag
    adjusted = _prices([3.05, 3.1, 3.08, 3.2], splits={2: 0.01})
    assert _unit_and_split(adjusted).is_empty()
    # Yahoo recorded it but left earlier prices as traded: a split fault, not a unit one
    raw = _prices([0.0305, 0.031, 3.08, 3.2], splits={2: 0.01})
    out = _unit_and_split(raw)
    assert out["kind"].to_list() == ["split_not_back_adjusted"]
    assert out["detail"][0].startswith("1-for-100 split recorded")
    # the same 100x jump with no split action is a unit switch
    assert unit_switch(raw.with_columns(split_ratio=None), RULES).height == 1


# -------------------------------------------------------------------- unreported_split


def test_unreported_split_flags_unannounced_ratio_jumps_on_both_bases() -> None:
    out = unreported_split(_prices([100.0, 101.0, 50.4, 51.0]), RULES)
    assert _dates(out) == [_weekdays(START, 4)[2]]
    assert out["detail"][0] == "close 101.0 -> 50.4 looks like a 2-for-1 split but no split action is recorded"
    reverse = unreported_split(_prices([1.0, 1.01, 10.1]), RULES)
    assert "1-for-10" in reverse["detail"][0]
    assert unreported_split(_prices([100.0, 10.0], basis="split_dividend_adjusted"), RULES).height == 1


def test_unreported_split_ignores_real_moves() -> None:
    # AAPL 2000-09-29: -51.9% is real, 3.9% off a 2-for-1; Baidu's +15.7% is nowhere near
    assert unreported_split(_prices([0.800083, 0.385086]), RULES).is_empty()
    assert unreported_split(_prices([113.2, 131.0]), RULES).is_empty()


# ------------------------------------------------------------- split_not_back_adjusted


# Real split-adjusted closes around 2020-08-31 (AAPL 4-for-1, TSLA 5-for-1) and
# 2025-11-17 (NFLX 10-for-1), as Yahoo serves them with auto_adjust=False: continuous.
SPLIT_DAYS_2020 = _weekdays(date(2020, 8, 24), 10)
AAPL_2020 = [125.8575, 124.825, 126.5225, 125.01, 124.8075, 129.04, 134.18, 131.40, 120.88, 120.96]
AAPL_2020_ADJ = [round(c * 0.96914, 4) for c in AAPL_2020]  # dividends before (ex 2020-08-07)
TSLA_2020 = [402.84, 404.668, 430.634, 447.75, 442.68, 498.32, 475.05, 447.37, 407.0, 418.32]
NFLX_2025_DAYS = [date(2025, 11, d) for d in (10, 11, 12, 13, 14, 17, 18, 19)]
NFLX_2025 = [112.007, 113.644, 115.75, 115.423, 111.217, 110.29, 114.09, 110.0]


def _continuous_splits() -> pl.DataFrame:
    return pl.concat(
        [
            _prices(AAPL_2020, ticker="AAPL", dates=SPLIT_DAYS_2020, adj_closes=AAPL_2020_ADJ, splits={5: 4.0}),
            _prices(TSLA_2020, ticker="TSLA", dates=SPLIT_DAYS_2020, splits={5: 5.0}),
            _prices(NFLX_2025, ticker="NFLX", dates=NFLX_2025_DAYS, splits={5: 10.0}),
        ]
    )


def test_series_continuous_over_real_splits_get_no_anomaly() -> None:
    prices = _continuous_splits()
    assert prices.filter(pl.col("split_ratio").is_not_null())["trade_date"].n_unique() == 2
    assert (prices["adj_close"] <= prices["close"]).all()
    universe = _universe(AAPL="XNYS", TSLA="XNYS", NFLX="XNYS")
    assert detect_anomalies(prices, universe, RULES).is_empty()
    auto = prices.with_columns(adj_close="close", price_basis=pl.lit("split_dividend_adjusted"))
    assert detect_anomalies(auto, universe, RULES).is_empty()


def test_split_not_back_adjusted_jump_on_the_split_date() -> None:
    # 0700.HK's 5-for-1 on 2014-05-15, with the earlier closes left as traded
    days = _weekdays(date(2014, 5, 12), 5)
    for basis in ("split_adjusted", "split_dividend_adjusted"):
        bad = _prices([436.4, 439.4, 445.0, 94.2, 94.4], ticker="0700.HK", basis=basis, dates=days, splits={3: 5.0})
        out = split_not_back_adjusted(bad, RULES)
        assert _dates(out) == [date(2014, 5, 15)], basis
        assert out["detail"][0] == (
            "5-for-1 split recorded but close still jumps 445.0 -> 94.2 on 2014-05-15: earlier prices not back-adjusted"
        )
        assert unreported_split(bad, RULES).is_empty()
        assert unit_switch(bad, RULES).is_empty()
    # 0981.HK's 1-for-10 consolidation (2016-12-07), not back-adjusted: the close rises 10x
    smic = _prices([1.12, 1.13, 11.24, 11.3], ticker="0981.HK", splits={2: 0.1})
    assert split_not_back_adjusted(smic, RULES)["detail"][0].startswith("1-for-10 split recorded")


def test_split_not_back_adjusted_jump_a_session_before_the_action() -> None:
    # 4063.T (Shin-Etsu) 5-for-1: action dated 2023-03-30, but the not back-adjusted
    # closes drop 20710 -> 4206 on 2023-03-29. Not an unreported split: the action is there.
    days = [date(2023, 3, d) for d in (23, 24, 27, 28, 29, 30, 31)]
    prices = _prices([20430.0, 20885.0, 20960.0, 20710.0, 4206.0, 4161.0, 4275.0], dates=days, splits={5: 5.0})
    out = _unit_and_split(prices)
    assert out["kind"].to_list() == ["split_not_back_adjusted"]
    assert _dates(out) == [date(2023, 3, 30)]
    assert out["detail"][0].endswith("20710.0 -> 4206.0 on 2023-03-29: earlier prices not back-adjusted")
    # further away than the window it is just an unannounced jump
    far = prices.with_columns(split_ratio=pl.Series([None] * 6 + [5.0]))
    assert [(k, d) for _, d, k, _ in _unit_and_split(far).rows()] == [("unreported_split", date(2023, 3, 29))]


def test_small_bonus_issue_is_not_checked() -> None:
    # 0268.HK's 1.2 bonus issue (2011-04-14): indistinguishable from an ordinary day
    assert split_not_back_adjusted(_prices([10.0, 12.0], splits={1: 1.2}), RULES).is_empty()
    assert split_not_back_adjusted(_prices([12.0, 10.0], splits={1: 1.2}), RULES).is_empty()


# ------------------------------------------------------------------------ stale_series


def test_stale_series_one_anomaly_per_run() -> None:
    closes = [10.0, 11.0, *([12.0] * 12), 13.0, *([14.0] * 9)]
    days = _weekdays(START, len(closes))
    out = stale_series(_prices(closes), _universe(TEST="XNYS"), RULES)
    assert _dates(out) == [days[2]]
    assert out["detail"][0] == f"close 12.0 unchanged for 12 rows through {days[13]}"


def test_stale_series_fx_needs_a_longer_run() -> None:
    fx_min = RULES["stale"]["min_run_by_calendar"]["24/5"]
    universe = _universe(TEST="24/5")
    peg = _prices([7.8] * (fx_min - 1) + [7.81])
    assert stale_series(peg, universe, RULES).is_empty()
    frozen = _prices([7.8] * fx_min + [7.81])
    assert stale_series(frozen, universe, RULES).height == 1
    # tickers outside the universe fall back to the default run length
    assert stale_series(peg, _universe(), RULES).height == 1


# --------------------------------------------------------------------------------- gap


def test_gap_xnys_reports_missing_session_not_holidays() -> None:
    # January 2024: Jan 1 and Jan 15 (MLK) are NYSE holidays; Jan 10 is missing
    days = [d for d in _weekdays(date(2024, 1, 2), 22) if d not in {date(2024, 1, 15)}]
    days = [d for d in days if d != date(2024, 1, 10)]
    out = gap(_prices([100.0] * len(days), dates=days), _universe(TEST="XNYS"), RULES)
    assert _dates(out) == [date(2024, 1, 10)]
    assert out["detail"][0] == "1 consecutive XNYS session(s) missing: 2024-01-10 to 2024-01-10"


def test_gap_xhkg_single_day_is_a_typhoon_two_are_a_gap() -> None:
    universe = _universe(TEST="XHKG")
    days = _weekdays(date(2023, 8, 28), 15)  # Sept 1 (Saola) and Sept 8 (rainstorm)
    typhoons = [d for d in days if d not in {date(2023, 9, 1), date(2023, 9, 8)}]
    assert gap(_prices([80.0] * len(typhoons), dates=typhoons), universe, RULES).is_empty()
    holed = [d for d in days if d not in {date(2023, 9, 12), date(2023, 9, 13)}]
    out = gap(_prices([80.0] * len(holed), dates=holed), universe, RULES)
    assert _dates(out) == [date(2023, 9, 12)]
    assert out["detail"][0].startswith("2 consecutive XHKG")


def test_gap_fx_ignores_new_year_but_not_a_week() -> None:
    universe = _universe(TEST="24/5")
    days = _weekdays(date(2023, 12, 27), 20)
    new_year = [d for d in days if d != date(2024, 1, 1)]
    assert gap(_prices([7.1] * len(new_year), dates=new_year), universe, RULES).is_empty()
    hole = {date(2024, 1, 8), date(2024, 1, 9), date(2024, 1, 10), date(2024, 1, 11)}
    week = [d for d in days if d not in hole]
    assert _dates(gap(_prices([7.1] * len(week), dates=week), universe, RULES)) == [date(2024, 1, 8)]


def test_gap_clamps_to_calendar_bounds() -> None:
    # XHKG holidays start in 1960: a 1959 row must not break the check, only be skipped
    rules = {**RULES, "gap": {**RULES["gap"], "start": {}}}
    days = [date(1959, 12, 28), *_weekdays(date(1960, 1, 4), 10)]
    days.remove(date(1960, 1, 7))
    days.remove(date(1960, 1, 8))
    out = gap(_prices([5.0] * len(days), dates=days), _universe(TEST="XHKG"), rules)
    assert _dates(out) == [date(1960, 1, 7)]


# ----------------------------------------------------------------------------- no_data


def test_no_data_for_universe_tickers_without_rows() -> None:
    out = no_data(_prices([1.0], ticker="AAA"), _universe(AAA="XNYS", BBB="XNYS"))
    _assert_schema(out)
    assert out.rows() == [("BBB", None, "no_data", "no price rows for this universe ticker")]


# ---------------------------------------------------------------------- detect_anomalies


def test_detect_anomalies_combines_kinds_with_the_schema() -> None:
    prices = pl.concat(
        [
            _prices([10.0, 10.1, 1010.0, 10.2], ticker="UNIT"),
            _prices([462.0, 461.0, 4.6, 4.62, 4.61], ticker="SWITCH.L", currency="GBp"),
            _prices([100.0, 101.0, 50.4, 51.0], ticker="SPLIT"),
            _prices([1000.0, 1010.0, 101.5, 102.0], ticker="NOTADJ", splits={2: 10.0}),
            _prices([113.2, 131.0, 130.0], ticker="NEWS"),
        ]
    )
    universe = _universe(UNIT="XNYS", SPLIT="XNYS", NEWS="XNYS", NOTADJ="XNYS", GONE="XHKG")
    out = detect_anomalies(prices, universe, RULES)
    _assert_schema(out)
    assert set(out["kind"]) <= set(KINDS)
    assert sorted(zip(out["ticker"], out["kind"], strict=True)) == [
        ("GONE", "no_data"),
        ("NOTADJ", "split_not_back_adjusted"),
        ("SPLIT", "unreported_split"),
        ("SWITCH.L", "unit_switch"),
        ("UNIT", "unit_error"),
    ]
    empty = detect_anomalies(prices.clear(), _universe(), RULES)
    _assert_schema(empty)
    assert empty.is_empty()


# ------------------------------------------------------------------ recorded real data


def _load_history(root: Path) -> pl.DataFrame:
    """yfinance ``history()`` CSVs (auto_adjust=True: no Adj Close) in the core price schema."""
    frames = []
    for path in sorted(root.glob("*/*.csv.gz")):
        raw = pl.read_csv(path, infer_schema_length=0)
        split = pl.col("Stock Splits").cast(pl.Float64)
        frames.append(
            raw.select(
                pl.lit(path.name.removesuffix(".csv.gz")).alias("ticker"),
                pl.col("Date").str.slice(0, 10).str.to_date().alias("trade_date"),
                *(pl.col(c).cast(pl.Float64).alias(c.lower()) for c in ("Open", "High", "Low")),
                pl.col("Close").cast(pl.Float64).alias("close"),
                pl.col("Close").cast(pl.Float64).alias("adj_close"),
                pl.col("Volume").cast(pl.Float64).cast(pl.Int64).alias("volume"),
                pl.col("Dividends").cast(pl.Float64).alias("dividend"),
                pl.when(split == 0).then(None).otherwise(split).alias("split_ratio"),
                pl.lit("USD").alias("currency"),
                pl.lit("split_dividend_adjusted").alias("price_basis"),
                pl.lit("yfinance-history").alias("source"),
            )
        )
    return pl.concat(frames)


@pytest.fixture(scope="module")
def recorded(replay_dir: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    prices = _load_history(replay_dir / "yfinance-history")
    universe = load_universe()
    return prices, universe, detect_anomalies(prices, universe, RULES)


@pytest.mark.replay
def test_recorded_news_and_splits_are_not_flagged(recorded) -> None:
    prices, _, out = recorded
    baidu = prices.filter(pl.col("ticker") == "9888.HK", pl.col("trade_date") == date(2025, 9, 17))
    assert baidu["close"].round(1).to_list() == [131.0]
    assert out.filter(pl.col("ticker") == "9888.HK").is_empty()
    nflx_split = prices.filter(pl.col("ticker") == "NFLX", pl.col("split_ratio") == 10.0)
    assert _dates(nflx_split) == [date(2025, 11, 17)]
    assert out.filter(pl.col("ticker") == "NFLX").is_empty()
    # 31 recorded split actions (MAG7, 0700.HK, 0268.HK, 0981.HK, 2269.HK): all back-adjusted
    splits = prices.filter(pl.col("split_ratio").is_not_null())
    assert splits.height >= 30
    assert out.filter(pl.col("kind").is_in(["unit_error", "unit_switch", *SPLIT_KINDS])).is_empty()


@pytest.mark.replay
def test_recorded_splits_undone_are_caught(recorded) -> None:
    prices, _, _ = recorded
    nflx = prices.filter(pl.col("ticker") == "NFLX")
    split_day = date(2025, 11, 17)
    # Yahoo records the split but leaves the earlier closes as traded (10x higher)
    raw = nflx.with_columns(
        pl.when(pl.col("trade_date") < split_day).then(pl.col("close") * 10).otherwise(pl.col("close")).alias("close")
    )
    out = _unit_and_split(raw)
    assert out.select("kind", "trade_date").rows() == [("split_not_back_adjusted", split_day)]
    # ... and without the action it is an unreported split
    out = _unit_and_split(raw.with_columns(split_ratio=None))
    assert out.select("kind", "trade_date").rows() == [("unreported_split", split_day)]


@pytest.mark.replay
def test_recorded_listing_switching_units_is_caught(recorded) -> None:
    prices, _, _ = recorded
    baidu = prices.filter(pl.col("ticker") == "9888.HK").sort("trade_date")
    switch_day = baidu["trade_date"][-20]
    cents = baidu.with_columns(
        pl.when(pl.col("trade_date") >= switch_day)
        .then(pl.col("close") * 100)
        .otherwise(pl.col("close"))
        .alias("close")
    )
    out = _unit_and_split(cents)
    assert out["kind"].to_list() == ["unit_switch"]
    assert _dates(out) == [switch_day]
    assert f"are 0.01x the recent scale (20 row(s) since {switch_day})" in out["detail"][0]


@pytest.mark.replay
def test_recorded_counts_are_small_and_explained(recorded) -> None:
    prices, universe, out = recorded
    counts = dict(out.group_by("kind").len().iter_rows())
    # No recorded series has a ~100x bar: the largest real one-day move is 4.7x.
    assert counts.get("unit_error", 0) == 0
    assert counts.get("unit_switch", 0) == 0
    # Split-adjusted history: ratio-like jumps are real crashes/rallies kept out by the
    # tolerance, and no recorded split action jumps.
    assert counts.get("unreported_split", 0) == 0
    assert counts.get("split_not_back_adjusted", 0) == 0
    # Observed 8: HK suspensions (0241.HK 2015, 0268.HK 2008, 0981.HK 2011) and the
    # 2002-2005 CNY/HKD peg stretches; none on US names or indexes (^VIX, early ^GSPC).
    stale = out.filter(pl.col("kind") == "stale_series")
    assert stale.height <= 12
    assert not stale["ticker"].str.starts_with("^").any()
    # Observed 8, all Yahoo FX holes (2001 sparse weeks, 2003-05..11, HKD 2008-08):
    # NYSE holidays since 1970 and HK typhoon days must not show up.
    gaps = out.filter(pl.col("kind") == "gap")
    assert gaps.height <= 12
    assert set(gaps["ticker"]) <= {"CNY=X", "HKD=X"}
    # Universe tickers with no recorded history file (ADRs, NVDA, MRVL, ^NDX, CNH=X).
    missing = set(universe["ticker"]) - set(prices["ticker"])
    assert set(out.filter(pl.col("kind") == "no_data")["ticker"]) == missing
    assert set(counts) <= set(KINDS)


# ------------------------------------------------------------------ incremental loads


def _incremental(
    old: pl.DataFrame, new: pl.DataFrame, first_new: pl.DataFrame, universe: pl.DataFrame, lookback: int = LOOKBACK_DAYS
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """What the dq asset holds after an incremental load: the anomalies on record for ``old``,
    replaced from ``since`` on by the window's, or whole for the tickers the window cannot judge
    (the same swap as replace_anomalies). Returns (anomalies, since)."""
    stored = detect_anomalies(old, universe, RULES)
    window = (
        new.join(first_new, on="ticker", how="inner")
        .filter(pl.col("trade_date") >= pl.col("first_new") - timedelta(days=lookback))
        .drop("first_new")
    )
    switched = stored.filter(pl.col("kind") == "unit_switch")["ticker"].unique().to_list()
    found, since = recent_anomalies(window, first_new, universe, RULES, switched)
    whole = first_new.join(since, on="ticker", how="anti")["ticker"]
    redo = detect_anomalies(
        new.filter(pl.col("ticker").is_in(whole.implode())), universe.filter(pl.col("ticker").is_in(whole.implode()))
    )
    kept = (
        stored.filter(~pl.col("ticker").is_in(whole.implode()))
        .join(since, on="ticker", how="left")
        .filter(pl.col("since").is_null() | (pl.col("trade_date") < pl.col("since")))
        .drop("since")
    )
    merged = pl.concat([kept, found, redo]).sort("ticker", "trade_date", "kind", "detail", nulls_last=False)
    return merged, since


def _same_as_whole(
    old: pl.DataFrame, new: pl.DataFrame, first_new: pl.DataFrame, universe: pl.DataFrame
) -> pl.DataFrame:
    """Assert the incremental result equals the whole-history rerun; returns ``since``."""
    merged, since = _incremental(old, new, first_new, universe)
    truth = detect_anomalies(new, universe, RULES).sort("ticker", "trade_date", "kind", "detail", nulls_last=False)
    assert merged.to_dicts() == truth.to_dicts()
    return since


def _walk(n: int, seed: int = 7, start: float = 100.0) -> list[float]:
    """A deterministic price path with small daily moves (never a rule's hit)."""
    out, x, state = [], start, seed
    for _ in range(n):
        state = (state * 1103515245 + 12345) % 2**31
        x *= 1 + ((state / 2**31) - 0.5) * 0.04
        out.append(round(x, 4))
    return out


EDGE_N = 150  # rows before the new day(s): more than the look-back holds


def _edge_case(closes: list[float], *, new: int = 1, splits: dict[int, float] | None = None, skip: int = 0):
    """(old, new, first_new, universe) for one XNYS ticker: ``closes`` cover old and new rows;
    the last ``new`` rows are the new dates; ``skip`` sessions go missing before the first new row."""
    days = _weekdays(date(2015, 1, 5), len(closes) + skip)
    n_old = len(closes) - new
    days = days[:n_old] + days[n_old + skip :]
    frame = _prices(closes, ticker="EDGE", dates=days, splits=splits)
    first_new = pl.DataFrame({"ticker": ["EDGE"], "first_new": [days[n_old]]})
    return frame.head(n_old), frame, first_new, _universe(EDGE="XNYS")


def test_incremental_plain_day_is_judged_from_the_window() -> None:
    old, new, first_new, universe = _edge_case(_walk(EDGE_N + 1))
    since = _same_as_whole(old, new, first_new, universe)
    assert since["ticker"].to_list() == ["EDGE"]
    # the window judged the last rows only, not the history
    assert since["since"][0] > old["trade_date"][-10]


def test_incremental_unit_error_reverting_in_the_new_rows() -> None:
    # three bars at 100x before the edge (a unit switch until now) revert on the new day
    closes = _walk(EDGE_N)
    closes[-3:] = [c * 100 for c in closes[-3:]]
    old, new, first_new, universe = _edge_case([*closes, closes[-4] * 1.01])
    assert unit_switch(old, RULES).height == 1
    _same_as_whole(old, new, first_new, universe)
    assert _dates(unit_error(new, RULES)) == new["trade_date"][-4:-1].to_list()


def test_incremental_unit_error_starting_and_reverting_in_new_rows() -> None:
    closes = _walk(EDGE_N + 4)
    closes[-3:-1] = [c / 100 for c in closes[-3:-1]]
    _same_as_whole(*_edge_case(closes, new=3))


def test_incremental_unit_switch_starting_on_the_new_day() -> None:
    closes = _walk(EDGE_N + 1)
    closes[-1] *= 100
    old, new, first_new, universe = _edge_case(closes)
    since = _same_as_whole(old, new, first_new, universe)
    assert since.is_empty()  # a level change: the whole history decides which side is off
    assert unit_switch(new, RULES).height == 1


def test_incremental_after_a_unit_switch_on_record() -> None:
    # a switch long ago: every new day changes its detail (rows since the recent scale)
    closes = _walk(EDGE_N + 1)
    closes[:20] = [c * 100 for c in closes[:20]]
    old, new, first_new, universe = _edge_case(closes)
    assert _same_as_whole(old, new, first_new, universe).is_empty()


def test_incremental_stale_run_crossing_the_edge() -> None:
    closes = _walk(EDGE_N + 1)
    closes[-14:] = [closes[-15]] * 14  # 13 old rows and the new one repeat the close
    old, new, first_new, universe = _edge_case(closes)
    assert "unchanged for 14 rows" in stale_series(old, universe, RULES)["detail"][0]
    since = _same_as_whole(old, new, first_new, universe)
    assert since.height == 1  # judged from the window: the run starts inside it
    assert "unchanged for 15 rows" in stale_series(new, universe, RULES)["detail"][0]


def test_incremental_stale_run_longer_than_the_window() -> None:
    closes = _walk(EDGE_N + 1)
    closes[-120:] = [closes[-121]] * 120
    old, new, first_new, universe = _edge_case(closes)
    assert _same_as_whole(old, new, first_new, universe).is_empty()  # whole history


def test_incremental_stale_run_ending_on_the_new_day() -> None:
    closes = _walk(EDGE_N + 1)
    closes[-13:-1] = [closes[-14]] * 12
    _same_as_whole(*_edge_case(closes))


def test_incremental_gap_ending_on_the_new_day() -> None:
    old, new, first_new, universe = _edge_case(_walk(EDGE_N + 1), skip=3)
    assert gap(old, universe, RULES).is_empty()
    assert _same_as_whole(old, new, first_new, universe).height == 1
    out = gap(new, universe, RULES)
    assert out["detail"][0].startswith("3 consecutive XNYS session(s) missing")
    assert old["trade_date"][-1] < out["trade_date"][0] < new["trade_date"][-1]


def test_incremental_split_not_back_adjusted_on_the_new_day() -> None:
    closes = _walk(EDGE_N + 1)
    closes[-1] = closes[-2] / 4 * 1.01
    old, new, first_new, universe = _edge_case(closes, splits={EDGE_N: 4.0})
    assert _same_as_whole(old, new, first_new, universe).height == 1
    assert _dates(split_not_back_adjusted(new, RULES)) == [new["trade_date"][-1]]


def test_incremental_split_action_a_day_after_its_jump() -> None:
    # 4063.T's shape: the close drops on the last old day, Yahoo records the split the next day
    closes = _walk(EDGE_N + 1)
    closes[-2:] = [closes[-3] / 5, closes[-3] / 5 * 0.99]
    old, new, first_new, universe = _edge_case(closes, splits={EDGE_N: 5.0})
    assert unreported_split(old, RULES).height == 1  # until the action arrives
    _same_as_whole(old, new, first_new, universe)
    assert unreported_split(new, RULES).is_empty()
    assert _dates(split_not_back_adjusted(new, RULES)) == [new["trade_date"][-1]]


def test_incremental_reloaded_dates_before_the_edge() -> None:
    # the load rewrites the last old day too (the overlap a replay load re-reads), now at 100x
    old, new, _, universe = _edge_case(_walk(EDGE_N + 2), new=2)
    rewritten = old["trade_date"][-1]
    new = new.with_columns(
        pl.when(pl.col("trade_date") == rewritten).then(pl.col("close") * 100).otherwise(pl.col("close")).alias("close")
    )
    first_new = pl.DataFrame({"ticker": ["EDGE"], "first_new": [rewritten]})
    _same_as_whole(old, new, first_new, universe)
    assert _dates(unit_error(new, RULES)) == [rewritten]


@pytest.mark.replay
def test_incremental_equals_whole_history_on_recorded_data(recorded) -> None:
    """Cut every recorded series at several dates, add the next days: the same anomalies as a full rerun."""
    prices, universe, _ = recorded
    universe = universe.filter(pl.col("ticker").is_in(prices["ticker"].unique().implode()))
    ends = prices.group_by("ticker").agg(pl.col("trade_date").sort().alias("days"))
    judged = 0
    for back, extra in ((1, 1), (5, 3), (60, 1), (400, 10), (2500, 2)):
        cut = ends.filter(pl.col("days").list.len() > back + 20).select(
            "ticker",
            pl.col("days").list.get(-back - 1).alias("first_new"),
            pl.col("days").list.get(-back - 1 + extra - 1).alias("last_new"),
        )
        old = prices.join(cut, on="ticker", how="left").filter(
            pl.col("first_new").is_null() | (pl.col("trade_date") < pl.col("first_new"))
        )
        new = prices.join(cut, on="ticker", how="left").filter(
            pl.col("last_new").is_null() | (pl.col("trade_date") <= pl.col("last_new"))
        )
        since = _same_as_whole(
            old.drop("first_new", "last_new"),
            new.drop("first_new", "last_new"),
            cut.select("ticker", "first_new"),
            universe,
        )
        judged += since.height
    assert judged > 100  # most tickers took the window path


@pytest.mark.replay
def test_detect_anomalies_is_every_rule_on_its_own(recorded) -> None:
    """``detect_anomalies`` shares the rules' intermediate frames: the same rows as each public rule alone."""
    prices, universe, out = recorded
    # a few faults so every price rule has hits
    nflx = pl.col("ticker") == "NFLX"
    faulty = prices.with_columns(
        pl.when(nflx & (pl.col("trade_date") < date(2025, 11, 17)))
        .then(pl.col("close") * 10)
        .when((pl.col("ticker") == "0700.HK") & pl.col("trade_date").is_between(date(2020, 3, 2), date(2020, 3, 4)))
        .then(pl.col("close") * 100)
        .when((pl.col("ticker") == "9888.HK") & (pl.col("trade_date") >= date(2025, 1, 2)))
        .then(pl.col("close") / 100)
        .when((pl.col("ticker") == "AAPL") & (pl.col("trade_date") >= date(2024, 6, 3)))
        .then(pl.col("close") / 2)
        .otherwise(pl.col("close"))
        .alias("close")
    )
    for frame, found in ((prices, out), (faulty, detect_anomalies(faulty, universe, RULES))):
        each = pl.concat(
            [
                unit_error(frame, RULES),
                unit_switch(frame, RULES),
                unreported_split(frame, RULES),
                split_not_back_adjusted(frame, RULES),
                stale_series(frame, universe, RULES),
                gap(frame, universe, RULES),
                no_data(frame, universe),
            ]
        ).sort("ticker", "trade_date", "kind", "detail", nulls_last=False)
        assert found.sort("ticker", "trade_date", "kind", "detail", nulls_last=False).equals(each)
    kinds = set(detect_anomalies(faulty, universe, RULES)["kind"])
    assert {"unit_error", "unit_switch", "unreported_split", "split_not_back_adjusted"} <= kinds


def test_stale_runs_of_the_same_close_apart_stay_apart() -> None:
    rules = {**RULES, "stale": {"min_run": 2, "min_run_by_calendar": {}}}
    prices = _prices([5.0, 5.0, 6.0, 5.0, 5.0, 5.0, 7.0])
    out = stale_series(prices, _universe(TEST="XNYS"), rules)
    days = _weekdays(START, 7)
    assert out.select("trade_date", "detail").rows() == [
        (days[0], f"close 5.0 unchanged for 2 rows through {days[1]}"),
        (days[3], f"close 5.0 unchanged for 3 rows through {days[5]}"),
    ]


@pytest.mark.replay
def test_rules_do_not_depend_on_row_order_or_repeated_dates(recorded) -> None:
    prices, universe, out = recorded
    shuffled = prices.sample(fraction=1.0, shuffle=True, seed=3)
    assert detect_anomalies(shuffled, universe, RULES).equals(out)
    fx = prices.filter(pl.col("ticker").is_in(["CNY=X", "HKD=X"]))
    assert gap(pl.concat([fx, fx.head(500)]), universe, RULES).equals(gap(fx, universe, RULES))


def _random_case(rng: random.Random) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """A short history with faults placed around the edge of an incremental load at random."""
    n_old, n_new = rng.randint(20, 140), rng.randint(1, 6)
    n = n_old + n_new
    closes = _walk(n, seed=rng.randint(1, 10**6))
    splits: dict[int, float] = {}
    for _ in range(rng.randint(0, 3)):
        at = rng.randint(max(1, n_old - 25), n - 1)
        kind = rng.choice(["unit", "stale", "split", "unreported", "split_late"])
        if kind == "unit":  # a stretch at 100x or 1/100, reverting or not
            length = rng.randint(1, 8)
            factor = rng.choice([100.0, 0.01])
            for i in range(at, min(n, at + length)):
                closes[i] *= factor
        elif kind == "stale":
            for i in range(at, min(n, at + rng.randint(2, 30))):
                closes[i] = closes[at - 1]
        elif kind in ("split", "unreported", "split_late"):
            ratio = rng.choice([2.0, 4.0, 5.0, 10.0])
            for i in range(at, n):
                closes[i] /= ratio
            if kind == "split":
                splits[at] = ratio
            elif kind == "split_late" and at + 1 < n:
                splits[at + 1] = ratio
    days = _weekdays(date(2016, 1, 4), n + 10)
    for _ in range(rng.randint(0, 2)):  # sessions missing around the edge
        at = rng.randint(max(1, n_old - 10), len(days) - 2)
        del days[at : at + rng.randint(1, 3)]
    days = days[:n]
    frame = _prices(closes[: len(days)], ticker="RND", dates=days, splits=splits)
    n_old = min(n_old, frame.height - 1)
    old = frame.head(n_old)
    first = n_old - (1 if rng.random() < 0.3 else 0)  # sometimes the load re-reads the last old day
    if first < n_old:
        frame = frame.with_columns(
            pl.when(pl.int_range(pl.len()) == first)
            .then(pl.col("close") * rng.choice([1.0, 1.01, 100.0]))
            .otherwise(pl.col("close"))
            .alias("close")
        )
    first_new = pl.DataFrame({"ticker": ["RND"], "first_new": [frame["trade_date"][first]]})
    return old, frame, first_new, _universe(RND="XNYS")


def test_incremental_equals_whole_history_on_random_edges(monkeypatch: pytest.MonkeyPatch) -> None:
    # every case spans other dates: slice one cached XNYS range instead of building a calendar each time
    every = anomalies._sessions("XNYS", date(2015, 1, 2), date(2018, 12, 31))
    assert every is not None

    def sessions(name: str, start: date, end: date) -> pl.Series:
        assert name == "XNYS" and date(2015, 1, 2) <= start <= end <= date(2018, 12, 31)
        return every.filter(every.is_between(start, end))

    monkeypatch.setattr(anomalies, "_sessions", sessions)
    rng = random.Random(20261207)
    judged = 0
    for _ in range(100):
        judged += _same_as_whole(*_random_case(rng)).height
    assert 20 < judged < 100  # both paths taken
