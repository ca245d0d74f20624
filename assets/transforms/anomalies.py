"""Price anomaly detection: data-quality warnings over frames in the core price schema.

Pure Polars and Dagster-free so the asset layer only persists the result and tests can call
each rule on a few constructed rows. One function per anomaly kind, each returning rows in
``ANOMALY_SCHEMA``; ``detect_anomalies`` runs them all. Thresholds live in
``assets/quality/anomaly_rules.toml`` so tuning them is a data change, not a code change.

Warnings, not errors: nothing here drops or edits prices.
"""

from __future__ import annotations

import math
import tomllib
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import exchange_calendars as xc
import polars as pl

RULES_PATH = Path(__file__).resolve().parents[1] / "quality" / "anomaly_rules.toml"

ANOMALY_SCHEMA: dict[str, pl.DataType] = {
    "ticker": pl.String(),
    "trade_date": pl.Date(),
    "kind": pl.String(),
    "detail": pl.String(),
}

KINDS = (
    "unit_error",
    "unadjusted_split",
    "split_without_jump",
    "misadjusted_split",
    "stale_series",
    "gap",
    "no_data",
    "future_date",
)

Rules = dict[str, Any]


def load_rules(path: Path | str = RULES_PATH) -> Rules:
    """Read the thresholds file (TOML) into a plain dict."""
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def _rules(rules: Rules | None) -> Rules:
    return load_rules() if rules is None else rules


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=ANOMALY_SCHEMA)


def _emit(frame: pl.DataFrame, kind: str, detail: pl.Expr) -> pl.DataFrame:
    """Project rule hits onto the anomaly schema."""
    return frame.select(
        pl.col("ticker").cast(pl.String),
        pl.col("trade_date").cast(pl.Date),
        pl.lit(kind, dtype=pl.String).alias("kind"),
        detail.cast(pl.String).alias("detail"),
    )


def _num(expr: pl.Expr, digits: int = 6) -> pl.Expr:
    """A price rendered short for detail strings (6 significant digits)."""
    return expr.round_sig_figs(digits).cast(pl.String)


def _series(prices: pl.DataFrame) -> pl.DataFrame:
    """Usable closes sorted per ticker, with the previous close and a per-ticker row number.

    Rows without a positive close cannot be compared, so the price rules skip them.
    """
    return (
        prices.select("ticker", "trade_date", "close", "split_ratio", "price_basis")
        .filter(pl.col("ticker").is_not_null() & pl.col("trade_date").is_not_null() & (pl.col("close") > 0))
        .sort("ticker", "trade_date")
        .with_columns(
            pl.col("close").shift(1).over("ticker").alias("prev_close"),
            pl.int_range(pl.len()).over("ticker").alias("row"),
        )
    )


def _split_label(ratio: pl.Expr) -> pl.Expr:
    """'10-for-1' for a forward split, '1-for-10' for a reverse one."""

    def whole(expr: pl.Expr) -> pl.Expr:
        return _num(expr, 4).str.strip_suffix(".0")

    return (
        pl.when(ratio >= 1).then(pl.format("{}-for-1", whole(ratio))).otherwise(pl.format("1-for-{}", whole(1 / ratio)))
    )


# --------------------------------------------------------------------------- unit_error


def unit_error(prices: pl.DataFrame, rules: Rules | None = None) -> pl.DataFrame:
    """Closes ~100x (or 1/100) off their neighbours that jump back within a few rows.

    Every jump of at least ``factor`` moves a per-ticker "level" up or down by one. A
    stretch of at most ``reversion_window`` rows at one level, with the same other level
    on both sides, is a unit error: those are the bad rows. A permanent change of scale
    is not flagged (it never reverts), nor is a bad first or last row (one side missing).
    """
    cfg = _rules(rules)["unit_error"]
    factor = float(cfg["factor"])
    window = int(cfg["reversion_window"])
    ratio = pl.col("close") / pl.col("prev_close")
    step = pl.when(ratio >= factor).then(1).when(ratio <= 1 / factor).then(-1).otherwise(0)
    s = (
        _series(prices)
        .with_columns(step.alias("step"))
        .with_columns(pl.col("step").cum_sum().over("ticker").alias("level"))
        .with_columns(pl.col("level").rle_id().over("ticker").alias("seg"))
    )
    segs = (
        s.group_by("ticker", "seg")
        .agg(
            pl.col("level").first(),
            pl.len().alias("seg_len"),
            pl.col("prev_close").first().alias("ref"),
        )
        .sort("ticker", "seg")
        .with_columns(
            pl.col("level").shift(1).over("ticker").alias("before"),
            pl.col("level").shift(-1).over("ticker").alias("after"),
        )
        .filter(
            (pl.col("seg_len") <= window)
            & (pl.col("before") == pl.col("after"))
            & (pl.col("level") != pl.col("before"))
        )
        .select("ticker", "seg", "seg_len", "ref")
    )
    bad = s.join(segs, on=["ticker", "seg"], how="inner").sort("ticker", "trade_date")
    return _emit(
        bad,
        "unit_error",
        pl.format(
            "close {} is {}x the last good close {}; reverts after {} row(s)",
            _num(pl.col("close")),
            _num(pl.col("close") / pl.col("ref"), 4),
            _num(pl.col("ref")),
            pl.col("seg_len"),
        ),
    )


# ---------------------------------------------------------------------- split checks


def _common_ratio_match(implied: pl.Expr, ratios: list[float], tolerance: float) -> pl.Expr:
    """Label of the common split ratio ``implied`` matches (log-space tolerance), else null."""
    tol = math.log1p(tolerance)
    candidates = sorted({*ratios, *(1 / r for r in ratios)})
    match: Any = None
    for ratio in candidates:
        cond = (implied.log() - math.log(ratio)).abs() <= tol
        label = f"{ratio:g}-for-1" if ratio >= 1 else f"1-for-{1 / ratio:g}"
        match = pl.when(cond) if match is None else match.when(cond)
        match = match.then(pl.lit(label))
    return match.otherwise(pl.lit(None, dtype=pl.String))


def unadjusted_split(prices: pl.DataFrame, rules: Rules | None = None) -> pl.DataFrame:
    """A day-over-day close jump matching a common split ratio with no split action that day.

    On unadjusted data that is a split the source did not report; on adjusted data a split
    the source neither reported nor adjusted for. Either way later returns are wrong. The
    tolerance is tight because real crashes and rallies sit near 2:1 and 5:1.
    """
    cfg = _rules(rules)["split"]
    implied = pl.col("prev_close") / pl.col("close")  # new shares per old
    s = _series(prices).with_columns(
        _common_ratio_match(implied, [float(r) for r in cfg["common_ratios"]], float(cfg["jump_tolerance"])).alias(
            "label"
        )
    )
    hits = s.filter(pl.col("label").is_not_null() & pl.col("split_ratio").is_null())
    return _emit(
        hits,
        "unadjusted_split",
        pl.format(
            "close {} -> {} looks like a {} split but no split action is recorded",
            _num(pl.col("prev_close")),
            _num(pl.col("close")),
            pl.col("label"),
        ),
    )


def _split_days(prices: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    """Rows with a checkable split action, flagged with whether the close jumped by it."""
    cfg = rules["split"]
    ratio = pl.col("split_ratio")
    implied = pl.col("prev_close") / pl.col("close")
    return (
        _series(prices)
        .filter(ratio.is_not_null() & (ratio > 0) & pl.col("prev_close").is_not_null())
        .filter(ratio.log().abs() >= math.log(float(cfg["min_checkable_ratio"])))
        .with_columns(
            ((implied.log() - ratio.log()).abs() <= math.log1p(float(cfg["action_tolerance"]))).alias("jumped"),
            _split_label(ratio).alias("label"),
        )
    )


def split_without_jump(prices: pl.DataFrame, rules: Rules | None = None) -> pl.DataFrame:
    """A split action on unadjusted data with no matching close jump that day.

    Prices as traded must drop by ~1/ratio on the ex-date; if they do not, the action's
    date or ratio is wrong. Adjusted data never jumps, so it is not checked here.
    """
    s = _split_days(prices, _rules(rules))
    hits = s.filter((pl.col("price_basis") == "unadjusted") & ~pl.col("jumped"))
    return _emit(
        hits,
        "split_without_jump",
        pl.format(
            "{} split recorded but close went {} -> {} (expected about {})",
            pl.col("label"),
            _num(pl.col("prev_close")),
            _num(pl.col("close")),
            _num(pl.col("prev_close") / pl.col("split_ratio")),
        ),
    )


def misadjusted_split(prices: pl.DataFrame, rules: Rules | None = None) -> pl.DataFrame:
    """Adjusted data that still jumps by the split ratio on the split date (not adjusted)."""
    s = _split_days(prices, _rules(rules))
    hits = s.filter((pl.col("price_basis") == "adjusted") & pl.col("jumped"))
    return _emit(
        hits,
        "misadjusted_split",
        pl.format(
            "adjusted close still jumps {} -> {} on the {} split date",
            _num(pl.col("prev_close")),
            _num(pl.col("close")),
            pl.col("label"),
        ),
    )


# ------------------------------------------------------------------------ stale_series


def _calendars(universe: pl.DataFrame) -> pl.DataFrame:
    return universe.select("ticker", "calendar").unique("ticker")


def stale_series(prices: pl.DataFrame, universe: pl.DataFrame, rules: Rules | None = None) -> pl.DataFrame:
    """The same close on at least ``min_run`` consecutive rows: one anomaly per run.

    Trading suspensions and frozen feeds look like this; the minimum run is per calendar
    because pegged currencies legitimately repeat for weeks.
    """
    cfg = _rules(rules)["stale"]
    default = int(cfg["min_run"])
    by_calendar = {k: int(v) for k, v in cfg.get("min_run_by_calendar", {}).items()}
    runs = (
        _series(prices)
        .with_columns(pl.col("close").rle_id().over("ticker").alias("run"))
        .group_by("ticker", "run")
        .agg(
            pl.len().alias("n"),
            pl.col("trade_date").min().alias("trade_date"),
            pl.col("trade_date").max().alias("last_date"),
            pl.col("close").first(),
        )
        .join(_calendars(universe), on="ticker", how="left")
        .with_columns(
            pl.col("calendar")
            .replace_strict(by_calendar, default=default, return_dtype=pl.Int64)
            .fill_null(default)
            .alias("min_run")
        )
        .filter(pl.col("n") >= pl.col("min_run"))
        .sort("ticker", "trade_date")
    )
    return _emit(
        runs,
        "stale_series",
        pl.format(
            "close {} unchanged for {} rows through {}",
            _num(pl.col("close")),
            pl.col("n"),
            pl.col("last_date"),
        ),
    )


# ---------------------------------------------------------------------------------- gap


@lru_cache(maxsize=32)
def _sessions(name: str, start: date, end: date) -> pl.Series | None:
    """Session dates of calendar ``name`` within [start, end], clamped to its bounds.

    Cached: building a calendar costs ~0.3 s, and repeated runs ask for the same range.
    The bounds (e.g. XHKG holidays start in 1960) are only looked up when the range is
    refused, because that needs a second, default-range calendar.
    """
    try:
        cal = xc.get_calendar(name, start=start.isoformat(), end=end.isoformat())
    except ValueError:
        cls = type(xc.get_calendar(name))
        lo, hi = cls.bound_min(), cls.bound_max()
        if lo is not None:
            start = max(start, lo.date())
        if hi is not None:
            end = min(end, hi.date())
        if start > end:
            return None
        cal = xc.get_calendar(name, start=start.isoformat(), end=end.isoformat())
    return pl.Series("session", cal.sessions.to_numpy()).cast(pl.Date)


def gap(prices: pl.DataFrame, universe: pl.DataFrame, rules: Rules | None = None) -> pl.DataFrame:
    """Runs of consecutive missing exchange sessions between a ticker's first and last row.

    Sessions come from ``exchange_calendars`` (fetched once per calendar, not per ticker);
    runs shorter than the calendar's ``min_run`` are ignored because closures the calendar
    does not know (HK typhoons, FX Jan 1 / Dec 25) leave real one-to-three-day holes.
    """
    cfg = _rules(rules)["gap"]
    starts = {k: date.fromisoformat(str(v)) for k, v in cfg.get("start", {}).items()}
    min_runs = {k: int(v) for k, v in cfg.get("min_run", {}).items()}
    default_run = int(cfg.get("default_min_run", 1))
    dates = prices.select("ticker", "trade_date").drop_nulls().unique()
    spans = (
        dates.group_by("ticker")
        .agg(pl.col("trade_date").min().alias("lo"), pl.col("trade_date").max().alias("hi"))
        .join(_calendars(universe).drop_nulls(), on="ticker", how="inner")
    )
    frames = []
    for name, lo, hi in (
        spans.group_by("calendar").agg(pl.col("lo").min(), pl.col("hi").max()).sort("calendar").iter_rows()
    ):
        first = max(lo, starts.get(name, lo))
        sessions = _sessions(name, first, hi) if first <= hi else None
        if sessions is None or sessions.is_empty():
            continue
        frames.append(
            pl.DataFrame({"session": sessions})
            .with_row_index("sidx")
            .with_columns(pl.lit(name, dtype=pl.String).alias("calendar"))
        )
    if not frames:
        return _empty()
    missing = (
        spans.join(pl.concat(frames), on="calendar")
        .filter(pl.col("session").is_between(pl.col("lo"), pl.col("hi")))
        .join(dates, left_on=["ticker", "session"], right_on=["ticker", "trade_date"], how="anti")
        .sort("ticker", "sidx")
        .with_columns((pl.col("sidx").diff().over("ticker") != 1).fill_null(True).cum_sum().alias("run"))
        .group_by("ticker", "run")
        .agg(
            pl.len().alias("n"),
            pl.col("session").min().alias("trade_date"),
            pl.col("session").max().alias("last_date"),
            pl.col("calendar").first(),
        )
        .with_columns(
            pl.col("calendar").replace_strict(min_runs, default=default_run, return_dtype=pl.Int64).alias("min_run")
        )
        .filter(pl.col("n") >= pl.col("min_run"))
        .sort("ticker", "trade_date")
    )
    return _emit(
        missing,
        "gap",
        pl.format(
            "{} consecutive {} session(s) missing: {} to {}",
            pl.col("n"),
            pl.col("calendar"),
            pl.col("trade_date"),
            pl.col("last_date"),
        ),
    )


# ------------------------------------------------------------------- no_data, future


def no_data(prices: pl.DataFrame, universe: pl.DataFrame) -> pl.DataFrame:
    """Universe tickers with no price rows at all (trade_date is null)."""
    have = prices.select("ticker").unique()
    hits = (
        universe.select("ticker")
        .unique()
        .join(have, on="ticker", how="anti")
        .sort("ticker")
        .with_columns(pl.lit(None, dtype=pl.Date).alias("trade_date"))
    )
    return _emit(hits, "no_data", pl.lit("no price rows for this universe ticker"))


def future_date(prices: pl.DataFrame, today: date | None = None) -> pl.DataFrame:
    """Rows dated after ``today`` (a bad timezone conversion or a fabricated bar)."""
    today = date.today() if today is None else today
    hits = prices.filter(pl.col("trade_date") > today).sort("ticker", "trade_date")
    return _emit(hits, "future_date", pl.lit(f"trade_date is after {today.isoformat()}"))


# ------------------------------------------------------------------------------- all


def detect_anomalies(
    prices: pl.DataFrame,
    universe: pl.DataFrame,
    rules: Rules | None = None,
    today: date | None = None,
) -> pl.DataFrame:
    """Every rule over ``prices`` (many tickers), as one frame in ``ANOMALY_SCHEMA``.

    Future-dated rows are reported once as ``future_date`` and left out of the other
    rules, so one bad bar does not also show up as a months-long gap.
    """
    rules = _rules(rules)
    today = date.today() if today is None else today
    current = prices.filter(pl.col("trade_date").is_null() | (pl.col("trade_date") <= today))
    parts = [
        unit_error(current, rules),
        unadjusted_split(current, rules),
        split_without_jump(current, rules),
        misadjusted_split(current, rules),
        stale_series(current, universe, rules),
        gap(current, universe, rules),
        no_data(prices, universe),
        future_date(prices, today),
    ]
    return pl.concat([_empty(), *parts]).sort("ticker", "trade_date", "kind", nulls_last=False, maintain_order=True)
