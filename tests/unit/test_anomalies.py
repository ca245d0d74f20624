"""Price anomaly rules: one bad-input case per kind on tiny frames, plus the recorded data."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from assets.transforms.anomalies import (
    ANOMALY_SCHEMA,
    KINDS,
    detect_anomalies,
    future_date,
    gap,
    load_rules,
    misadjusted_split,
    no_data,
    split_without_jump,
    stale_series,
    unadjusted_split,
    unit_error,
)
from assets.universe import load_universe

RULES = load_rules()
START = date(2024, 3, 4)  # a Monday; price rules only care about row order


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
    basis: str = "unadjusted",
    splits: dict[int, float] | None = None,
    dates: list[date] | None = None,
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
            "adj_close": closes,
            "volume": [1000] * n,
            "dividend": [0.0] * n,
            "split_ratio": [splits.get(i) for i in range(n)],
            "currency": ["USD"] * n,
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


# ------------------------------------------------------------------------------- rules


def test_rules_file_loads() -> None:
    assert RULES["unit_error"]["factor"] >= 10
    assert {2.0, 10.0} <= set(RULES["split"]["common_ratios"])
    assert RULES["split"]["min_checkable_ratio"] > (1 + RULES["split"]["action_tolerance"]) ** 2
    assert set(RULES["gap"]["min_run"]) == {"XNYS", "XHKG", "24/5"}


# -------------------------------------------------------------------------- unit_error


def test_unit_error_flags_reverting_100x_rows() -> None:
    prices = _prices([10.0, 10.1, 1010.0, 1005.0, 10.2, 10.3])
    out = unit_error(prices, RULES)
    _assert_schema(out)
    days = _weekdays(START, 6)
    assert _dates(out) == [days[2], days[3]]
    assert set(out["kind"]) == {"unit_error"}
    assert "reverts after 2 row(s)" in out["detail"][0]
    # the jumps into and out of the bad rows are not mistaken for splits
    assert unadjusted_split(prices, RULES).is_empty()


def test_unit_error_flags_hundredth_and_ignores_permanent_or_real_moves() -> None:
    hundredth = unit_error(_prices([50.0, 0.5, 50.5, 51.0]), RULES)
    assert _dates(hundredth) == [_weekdays(START, 4)[1]]
    # a permanent rescale never reverts; a +15.7% day (Baidu 2025-09-17) is news
    assert unit_error(_prices([10.0, 10.0, 1000.0, 1001.0, 1002.0, 1003.0, 999.0]), RULES).is_empty()
    assert unit_error(_prices([113.2, 131.0, 130.0]), RULES).is_empty()


def test_unit_error_needs_reversion_within_window() -> None:
    window = RULES["unit_error"]["reversion_window"]
    closes = [10.0] + [1000.0] * (window + 1) + [10.0]
    assert unit_error(_prices(closes), RULES).is_empty()


# -------------------------------------------------------------------- unadjusted_split


def test_unadjusted_split_flags_unannounced_ratio_jumps() -> None:
    out = unadjusted_split(_prices([100.0, 101.0, 50.4, 51.0]), RULES)
    assert _dates(out) == [_weekdays(START, 4)[2]]
    assert "2-for-1" in out["detail"][0]
    reverse = unadjusted_split(_prices([1.0, 1.01, 10.1]), RULES)
    assert "1-for-10" in reverse["detail"][0]
    # adjusted data must not jump either
    assert unadjusted_split(_prices([100.0, 10.0], basis="adjusted"), RULES).height == 1


def test_unadjusted_split_ignores_announced_splits_and_real_moves() -> None:
    announced = _prices([1000.0, 1010.0, 101.5, 102.0], splits={2: 10.0})
    assert unadjusted_split(announced, RULES).is_empty()
    assert split_without_jump(announced, RULES).is_empty()
    assert misadjusted_split(announced, RULES).is_empty()
    # AAPL 2000-09-29: -51.9% is real, 3.9% off a 2-for-1; Baidu's +15.7% is nowhere near
    assert unadjusted_split(_prices([0.800083, 0.385086]), RULES).is_empty()
    assert unadjusted_split(_prices([113.2, 131.0]), RULES).is_empty()


# ------------------------------------------------------- split_without_jump / misadjusted


def test_split_without_jump_on_unadjusted_data() -> None:
    out = split_without_jump(_prices([1000.0, 1010.0, 1005.0], splits={2: 10.0}), RULES)
    assert _dates(out) == [_weekdays(START, 3)[2]]
    assert out["detail"][0].startswith("10-for-1 split recorded")
    # a 1.2 bonus issue is indistinguishable from an ordinary day, so it is not checked
    assert split_without_jump(_prices([10.0, 10.0], splits={1: 1.2}), RULES).is_empty()


def test_adjusted_split_without_jump_is_expected() -> None:
    # NFLX 2025-11-17 style: adjusted history, 10-for-1 action, no jump
    nflx = _prices([112.0, 111.0, 110.29, 111.5], basis="adjusted", splits={2: 10.0})
    assert split_without_jump(nflx, RULES).is_empty()
    assert misadjusted_split(nflx, RULES).is_empty()
    assert unadjusted_split(nflx, RULES).is_empty()


def test_misadjusted_split_flags_adjusted_jump_on_split_date() -> None:
    bad = _prices([1120.0, 1110.0, 110.29, 111.5], basis="adjusted", splits={2: 10.0})
    out = misadjusted_split(bad, RULES)
    assert _dates(out) == [_weekdays(START, 4)[2]]
    assert set(out["kind"]) == {"misadjusted_split"}
    reverse = _prices([10.0, 100.5], basis="adjusted", splits={1: 0.1})
    assert "1-for-10 split" in misadjusted_split(reverse, RULES)["detail"][0]
    # the same jump on unadjusted data is the split itself
    assert misadjusted_split(bad.with_columns(price_basis=pl.lit("unadjusted")), RULES).is_empty()


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


# ------------------------------------------------------------------ no_data, future_date


def test_no_data_for_universe_tickers_without_rows() -> None:
    out = no_data(_prices([1.0], ticker="AAA"), _universe(AAA="XNYS", BBB="XNYS"))
    _assert_schema(out)
    assert out.rows() == [("BBB", None, "no_data", "no price rows for this universe ticker")]


def test_future_date_and_it_is_not_also_a_gap() -> None:
    days = _weekdays(date(2024, 1, 2), 5)
    prices = _prices([10.0] * 5 + [10.5], dates=[*days, date(2024, 6, 3)])
    today = date(2024, 1, 9)
    assert _dates(future_date(prices, today)) == [date(2024, 6, 3)]
    out = detect_anomalies(prices, _universe(TEST="XNYS"), RULES, today=today)
    assert out["kind"].to_list() == ["future_date"]


# ---------------------------------------------------------------------- detect_anomalies


def test_detect_anomalies_combines_kinds_with_the_schema() -> None:
    prices = pl.concat(
        [
            _prices([10.0, 10.1, 1010.0, 10.2], ticker="UNIT"),
            _prices([100.0, 101.0, 50.4, 51.0], ticker="SPLIT"),
            _prices([113.2, 131.0, 130.0], ticker="NEWS"),
        ]
    )
    universe = _universe(UNIT="XNYS", SPLIT="XNYS", NEWS="XNYS", GONE="XHKG")
    out = detect_anomalies(prices, universe, RULES, today=date(2024, 3, 31))
    _assert_schema(out)
    assert set(out["kind"]) <= set(KINDS)
    assert sorted(zip(out["ticker"], out["kind"], strict=True)) == [
        ("GONE", "no_data"),
        ("SPLIT", "unadjusted_split"),
        ("UNIT", "unit_error"),
    ]
    empty = detect_anomalies(prices.clear(), _universe(), RULES, today=date(2024, 3, 31))
    _assert_schema(empty)
    assert empty.is_empty()


# ------------------------------------------------------------------ recorded real data


def _load_history(root: Path) -> pl.DataFrame:
    """yfinance ``history()`` CSVs in the core price schema (prices already adjusted)."""
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
                pl.lit("adjusted").alias("price_basis"),
                pl.lit("yfinance-history").alias("source"),
            )
        )
    return pl.concat(frames)


@pytest.fixture(scope="module")
def recorded(replay_dir: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    prices = _load_history(replay_dir / "yfinance-history")
    universe = load_universe()
    today = prices["trade_date"].max()
    return prices, universe, detect_anomalies(prices, universe, RULES, today=today)


@pytest.mark.replay
def test_recorded_news_and_splits_are_not_flagged(recorded) -> None:
    prices, _, out = recorded
    baidu = prices.filter(pl.col("ticker") == "9888.HK", pl.col("trade_date") == date(2025, 9, 17))
    assert baidu["close"].round(1).to_list() == [131.0]
    assert out.filter(pl.col("ticker") == "9888.HK").is_empty()
    nflx_split = prices.filter(pl.col("ticker") == "NFLX", pl.col("split_ratio") == 10.0)
    assert _dates(nflx_split) == [date(2025, 11, 17)]
    assert out.filter(pl.col("ticker") == "NFLX").is_empty()


@pytest.mark.replay
def test_recorded_counts_are_small_and_explained(recorded) -> None:
    prices, universe, out = recorded
    counts = dict(out.group_by("kind").len().iter_rows())
    # No recorded series has a ~100x bar: the largest real one-day move is 4.7x.
    assert counts.get("unit_error", 0) <= 2
    # Adjusted history: ratio-like jumps are real crashes/rallies kept out by the tolerance.
    assert counts.get("unadjusted_split", 0) <= 2
    # Every file is 'adjusted', so this rule cannot fire; the 31 split actions do not jump.
    assert counts.get("split_without_jump", 0) == 0
    assert counts.get("misadjusted_split", 0) <= 2
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
    assert counts.get("future_date", 0) == 0
