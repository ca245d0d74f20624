"""Failing and passing frames for every ``marts_*`` expectation (merged into test_gx.CASES).

Each failing frame is what a mart computes from input that really occurs: the replay data has
no ADR price files and no fundamentals snapshots, HKD rates that end in December 2024,
Kuaishou listing in February 2021, Alibaba Health's +372% week in January 2014.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import polars as pl

from assets.quality.mart_profiles import (
    claim_inputs_profile,
    excluded_share_profile,
    kinds_profile,
    series_presence,
    snapshot_profile,
)

Frames = dict[str, pl.DataFrame]
Case = tuple[Frames, Frames, str]


def _pair(good: pl.DataFrame, bad_rows: pl.DataFrame, on: str = "rows") -> tuple[Frames, Frames]:
    return {on: pl.concat([good, bad_rows], how="vertical_relaxed")}, {on: good}


def instruments_without_prices(replay_dir: Path, universe: pl.DataFrame) -> Case:
    """The replay folder holds no file for the ADRs: BABA has no price rows."""
    good = pl.DataFrame({"ticker": ["9988.HK"], "group": ["hstech"], "price_rows": [1656]})
    bad, ok = _pair(good, pl.DataFrame({"ticker": ["BABA"], "group": ["adr"], "price_rows": [0]}))
    return bad, ok, "BABA"


def group_ticker_typo(replay_dir: Path, universe: pl.DataFrame) -> Case:
    good = pl.DataFrame({"group_name": ["china_big_four"], "ticker": ["9988.HK"], "in_universe": [True]})
    bad, ok = _pair(
        good, pl.DataFrame({"group_name": ["china_big_four"], "ticker": ["9988.KH"], "in_universe": [False]})
    )
    return bad, ok, "9988.KH"


def claim_before_prices(replay_dir: Path, universe: pl.DataFrame) -> Case:
    good = pl.DataFrame({"as_of_date": [date(2025, 9, 17)], "reasons": ["claim 1"], "has_prices": [True]})
    bad, ok = _pair(
        good, pl.DataFrame({"as_of_date": [date(1925, 9, 17)], "reasons": ["claim 9"], "has_prices": [False]})
    )
    return bad, ok, "1925-09-17"


def unclassified_kind(replay_dir: Path, universe: pl.DataFrame) -> Case:
    classified = ["gap", "source_disagreement"]
    return (
        {"kinds": kinds_profile(["gap", "adjustment_drift"], classified)},
        {"kinds": kinds_profile(["gap", "source_disagreement"], classified)},
        "adjustment_drift",
    )


def patched_history(replay_dir: Path, universe: pl.DataFrame) -> Case:
    rows = pl.DataFrame({"ticker": ["CNY=X"] * 100 + ["X.HK"] * 100, "is_excluded": [False] * 195 + [True] * 5})
    clean = rows.with_columns(pl.lit(False).alias("is_excluded"))
    return {"excluded": excluded_share_profile(rows)}, {"excluded": excluded_share_profile(clean)}, "X.HK"


def implausible_day(replay_dir: Path, universe: pl.DataFrame) -> Case:
    """Alibaba Health (0241.HK) on 2014-01-24: +372%, real, and worth a look; Baidu's +15.7% is not."""
    good = pl.DataFrame({"ticker": ["9888.HK"], "trade_date": [date(2025, 9, 17)], "log_return": [0.1459]})
    bad, ok = _pair(
        good, pl.DataFrame({"ticker": ["0241.HK"], "trade_date": [date(2014, 1, 24)], "log_return": [1.5524]})
    )
    return bad, ok, "0241.HK"


def members_not_trading(replay_dir: Path, universe: pl.DataFrame) -> Case:
    good = pl.DataFrame(
        {"trade_date": [date(2025, 9, 17)], "members": [29], "members_traded": [29], "traded_share": [1.0]}
    )
    row = pl.DataFrame(
        {"trade_date": [date(2025, 9, 18)], "members": [29], "members_traded": [9], "traded_share": [9 / 29]}
    )
    bad, ok = _pair(good, row)
    return bad, ok, "2025-09-18"


def equal_weighted_quarter(replay_dir: Path, universe: pl.DataFrame) -> Case:
    """Replay has no fundamentals snapshots: every quarter falls back to equal weights."""
    good = pl.DataFrame({"rebalance_date": [date(2026, 6, 30)], "method": ["market_cap_capped"], "members": [29]})
    row = pl.DataFrame({"rebalance_date": [date(2025, 6, 30)], "method": ["equal_weight"], "members": [29]})
    bad, ok = _pair(good, row, on="weights")
    return bad, ok, "2025-06-30"


def comparison_index_missing(replay_dir: Path, universe: pl.DataFrame) -> Case:
    """^NDX comes from the yfinance-download file only; without it the comparison loses a line."""
    present = pl.DataFrame({"series": ["^IXIC", "^GSPC"], "trade_date": [date(2025, 1, 2)] * 2})
    full = pl.concat([present, pl.DataFrame({"series": ["^NDX"], "trade_date": [date(2025, 1, 2)]})])
    wanted = ["^NDX", "^IXIC", "^GSPC"]
    return {"compare": series_presence(wanted, present)}, {"compare": series_presence(wanted, full)}, "^NDX"


def listing_after_start(replay_dir: Path, universe: pl.DataFrame) -> Case:
    """Kuaishou (1024.HK) listed on 2021-02-05: no YTD as of 2021-02-28."""
    good = pl.DataFrame(
        {
            "ticker": ["0700.HK"],
            "as_of_date": [date(2021, 2, 28)],
            "period": ["YTD"],
            "return_local": [0.3],
            "note": [None],
        },
        schema_overrides={"note": pl.String},
    )
    row = pl.DataFrame(
        {
            "ticker": ["1024.HK"],
            "as_of_date": [date(2021, 2, 28)],
            "period": ["YTD"],
            "return_local": [None],
            "note": ["no close on or before 2020-12-31: the series starts later"],
        },
        schema_overrides={"return_local": pl.Float64},
    )
    bad, ok = _pair(good, row)
    return bad, ok, "1024.HK"


def hkd_rates_end(replay_dir: Path, universe: pl.DataFrame) -> Case:
    """The recorded HKD=X history ends on 2024-12-06: no USD return for Hong Kong lines in 2025."""
    good = pl.DataFrame(
        {
            "ticker": ["^IXIC"],
            "as_of_date": [date(2025, 9, 17)],
            "period": ["YTD"],
            "return_usd": [0.153],
            "note": [None],
        },
        schema_overrides={"note": pl.String},
    )
    row = pl.DataFrame(
        {
            "ticker": ["0700.HK"],
            "as_of_date": [date(2025, 9, 17)],
            "period": ["YTD"],
            "return_usd": [None],
            "note": ["no HKD per USD rate within 7 days of 2024-12-31"],
        },
        schema_overrides={"return_usd": pl.Float64},
    )
    bad, ok = _pair(good, row, on="with_local")
    return bad, ok, "0700.HK"


def implausible_week(replay_dir: Path, universe: pl.DataFrame) -> Case:
    good = pl.DataFrame({"series": ["9888.HK"], "week_end_date": [date(2025, 9, 19)], "weekly_return": [0.16]})
    row = pl.DataFrame({"series": ["0241.HK"], "week_end_date": [date(2014, 1, 24)], "weekly_return": [3.72]})
    bad, ok = _pair(good, row)
    return bad, ok, "0241.HK"


def group_year_incomplete(replay_dir: Path, universe: pl.DataFrame) -> Case:
    """Replay has Alibaba's filings to fiscal 2020 only and nothing for Tencent, Baidu, JD."""
    good = pl.DataFrame({"entity": ["us_hyperscalers"], "year": [2025], "missing": [""], "status": ["complete"]})
    row = pl.DataFrame(
        {"entity": ["china_big_four"], "year": [2025], "missing": ["0700.HK 2025: no data"], "status": ["incomplete"]}
    )
    bad, ok = _pair(good, row, on="groups")
    return bad, ok, "china_big_four"


def fiscal_year_standing_in(replay_dir: Path, universe: pl.DataFrame) -> Case:
    """NVIDIA's fiscal year ends in late January and its quarters cannot bridge to December."""
    good = pl.DataFrame({"entity": ["GOOGL"], "year": [2024], "components": ["FY2024"], "is_approximation": [False]})
    row = pl.DataFrame(
        {
            "entity": ["NVDA"],
            "year": [2024],
            "components": ["FY2025 covers 338 of 366 days"],
            "is_approximation": [True],
        }
    )
    bad, ok = _pair(good, row, on="calendar")
    return bad, ok, "NVDA"


def no_snapshots(replay_dir: Path, universe: pl.DataFrame) -> Case:
    """The recorded data has no yfinance-info files: no snapshot, no P/E."""
    return {"snapshots": snapshot_profile([])}, {"snapshots": snapshot_profile([date(2026, 8, 21)])}, '"snapshots": 0'


def thin_pe_coverage(replay_dir: Path, universe: pl.DataFrame) -> Case:
    good = pl.DataFrame({"group_name": ["us_bigtech"], "as_of_date": [date(2026, 8, 21)], "coverage_forward": [0.98]})
    row = pl.DataFrame({"group_name": ["hstech"], "as_of_date": [date(2026, 8, 21)], "coverage_forward": [0.55]})
    bad, ok = _pair(good, row)
    return bad, ok, "hstech"


def adr_without_prices(replay_dir: Path, universe: pl.DataFrame) -> Case:
    good = pl.DataFrame({"series": ["JD"], "adr_prices": [True], "hk_prices": [True], "rows": [1500]})
    row = pl.DataFrame({"series": ["BABA"], "adr_prices": [False], "hk_prices": [True], "rows": [0]})
    bad, ok = _pair(good, row, on="pairs")
    return bad, ok, "BABA"


def wrong_share_ratio(replay_dir: Path, universe: pl.DataFrame) -> Case:
    """A ratio typed as 1 instead of 5 HK shares per ADS (NetEase) makes a 400% 'premium'."""
    good = pl.DataFrame({"adr_ticker": ["BABA"], "hk_trade_date": [date(2025, 9, 17)], "premium_pct": [0.4]})
    row = pl.DataFrame({"adr_ticker": ["NTES"], "hk_trade_date": [date(2025, 9, 17)], "premium_pct": [402.0]})
    bad, ok = _pair(good, row)
    return bad, ok, "NTES"


def claim_names_unknown_ticker(replay_dir: Path, universe: pl.DataFrame) -> Case:
    present = {"0700.HK": True, "9988.HK": True, "TME": False}
    return (
        {"inputs": claim_inputs_profile([(9, ["0700.HK", "TME"])], present)},
        {"inputs": claim_inputs_profile([(9, ["0700.HK", "9988.HK"])], present)},
        "TME",
    )


def claim_not_verifiable(replay_dir: Path, universe: pl.DataFrame) -> Case:
    good = pl.DataFrame({"claim_id": [2], "verdict": ["confirmed"]})
    bad, ok = _pair(good, pl.DataFrame({"claim_id": [8], "verdict": ["not verifiable"]}))
    return bad, ok, '"claim_id": 8'


MART_CASES: dict[str, tuple[str, Callable[[Path, pl.DataFrame], Case]]] = {
    "every_instrument_has_prices": ("marts_instruments", instruments_without_prices),
    "group_tickers_in_universe": ("marts_group_members", group_ticker_typo),
    "as_of_dates_have_prices": ("marts_as_of_dates", claim_before_prices),
    "anomaly_kinds_classified": ("marts_returns_daily", unclassified_kind),
    "excluded_share_below_1pct": ("marts_returns_daily", patched_history),
    "daily_moves_plausible": ("marts_returns_daily", implausible_day),
    "members_mostly_traded": ("marts_hstech_basket", members_not_trading),
    "market_cap_weights": ("marts_hstech_basket", equal_weighted_quarter),
    "comparison_indexes_present": ("marts_hstech_basket", comparison_index_missing),
    "start_close_known": ("marts_performance", listing_after_start),
    "usd_return_known": ("marts_performance", hkd_rates_end),
    "weekly_moves_plausible": ("marts_weekly_streaks", implausible_week),
    "group_years_complete": ("marts_capex_trend", group_year_incomplete),
    "calendar_years_exact": ("marts_capex_trend", fiscal_year_standing_in),
    "snapshots_present": ("marts_valuation", no_snapshots),
    "forward_pe_coverage": ("marts_valuation", thin_pe_coverage),
    "pairs_have_prices": ("marts_adr_hk_premium", adr_without_prices),
    "premium_plausible": ("marts_adr_hk_premium", wrong_share_ratio),
    "claim_inputs_present": ("marts_claims_scorecard", claim_names_unknown_ticker),
    "claims_verifiable": ("marts_claims_scorecard", claim_not_verifiable),
}
