"""Price anomaly detection: data-quality warnings over frames in the core price schema.

Pure Polars and Dagster-free so the asset layer only persists the result and tests can call
each rule on a few constructed rows. One function per anomaly kind, each returning rows in
``ANOMALY_SCHEMA``; ``detect_anomalies`` runs them all. Thresholds live in
``assets/quality/anomaly_rules.toml`` so tuning them is a data change, not a code change.

Every series in core is split-adjusted, whatever its ``price_basis`` ('split_adjusted' or
'split_dividend_adjusted'): Yahoo back-adjusts Open/High/Low/Close for splits in both of
its shapes, so a correct series never jumps on a split date. A jump by a split ratio is
therefore always a fault: a split Yahoo does not know about (``unreported_split``) or one
it recorded without back-adjusting earlier prices (``split_not_back_adjusted``).

Warnings, not errors: nothing here drops or edits prices.
"""

from __future__ import annotations

import math
import tomllib
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl

from assets.transforms.calendars import sessions_between

RULES_PATH = Path(__file__).resolve().parents[1] / "quality" / "anomaly_rules.toml"

ANOMALY_SCHEMA: dict[str, pl.DataType] = {
    "ticker": pl.String(),
    "trade_date": pl.Date(),
    "kind": pl.String(),
    "detail": pl.String(),
}

# Every kind the rules here can raise, with what it means in plain words (the UI's check text).
KINDS: dict[str, str] = {
    "unit_error": "no close is about 100x (or 1/100) off its neighbours and jumps back within a few rows",
    "unit_switch": "no listing changes scale by about 100x (cents/units, pence/pounds) for good without a split",
    "unreported_split": "no close jumps by a common split ratio without a split action that day",
    "split_not_back_adjusted": "no split action whose date still shows the jump (Yahoo did not back-adjust)",
    "stale_series": "no close repeats unchanged for weeks (a suspension or a frozen feed)",
    "gap": "no run of missing exchange sessions beyond the calendar's holidays",
    "no_data": "every universe ticker has price rows (the tickers listed have none at all)",
}

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

    Rows without a positive close cannot be compared, so the price rules skip them; the
    casts let an all-null ``split_ratio`` (no actions at all) through.
    """
    usable = prices.select(
        "ticker", "trade_date", pl.col("close").cast(pl.Float64), pl.col("split_ratio").cast(pl.Float64)
    ).filter(pl.col("ticker").is_not_null() & pl.col("trade_date").is_not_null() & (pl.col("close") > 0))
    return (usable if _in_key_order(usable) else _sort_by_key(usable)).with_columns(
        pl.col("close").shift(1).over("ticker").alias("prev_close"),
        pl.int_range(pl.len()).over("ticker").alias("row"),
    )


def _in_key_order(frame: pl.DataFrame) -> bool:
    """True when rows already run by ticker, then strictly by date (core is read back that
    way): sorting them again would change nothing and costs a quarter of the rules' time."""
    if frame.height < 2:
        return True
    ticker, day = pl.col("ticker"), pl.col("trade_date")
    ahead = (ticker > ticker.shift(1)) | ((ticker == ticker.shift(1)) & (day > day.shift(1)))
    return bool(frame.select(ahead.slice(1).all()).item())


def _sort_by_key(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame.sort("ticker", "trade_date")`` by one integer key (ticker rank, day): several
    times faster than sorting by the text column on a batch of 25-year histories."""
    names = frame["ticker"].unique().sort()
    rank = pl.col("ticker").replace_strict(names, pl.int_range(names.len(), eager=True), return_dtype=pl.Int64)
    return frame.sort(rank * (1 << 32) + pl.col("trade_date").to_physical().cast(pl.Int64))


def _split_label(ratio: pl.Expr) -> pl.Expr:
    """'10-for-1' for a forward split, '1-for-10' for a reverse one."""

    def whole(expr: pl.Expr) -> pl.Expr:
        return _num(expr, 4).str.strip_suffix(".0")

    return (
        pl.when(ratio >= 1).then(pl.format("{}-for-1", whole(ratio))).otherwise(pl.format("1-for-{}", whole(1 / ratio)))
    )


# ---------------------------------------------------------------------- split actions


def _split_jumps(s: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    """Split actions whose ratio the close still jumps by, at most ``action_window`` rows away.

    One row per such action: (ticker, action row/date, ratio, label) and the jump row's
    (row, jump_date, prev_close, close). The closest matching jump wins. Shared by every
    rule so one jump is explained once: it is the split, not a unit change or an
    unreported split.
    """
    cfg = rules["split"]
    window = int(cfg.get("action_window", 0))
    ratio = pl.col("split_ratio")
    actions = (
        s.filter(ratio.is_not_null() & (ratio > 0))
        .filter(ratio.log().abs() >= math.log(float(cfg["min_checkable_ratio"])))
        .select(
            "ticker",
            pl.col("row").alias("action_row"),
            pl.col("trade_date").alias("action_date"),
            ratio.alias("ratio"),
            _split_label(ratio).alias("label"),
        )
    )
    implied = pl.col("prev_close") / pl.col("close")  # new shares per old
    return (
        actions.with_columns(pl.int_ranges(-window, window + 1).alias("offset"))
        .explode("offset")
        .with_columns((pl.col("action_row") + pl.col("offset")).alias("row"))
        .join(
            s.select("ticker", "row", pl.col("trade_date").alias("jump_date"), "prev_close", "close"),
            on=["ticker", "row"],
            how="inner",
        )
        .filter(
            pl.col("prev_close").is_not_null()
            & ((implied.log() - pl.col("ratio").log()).abs() <= math.log1p(float(cfg["action_tolerance"])))
        )
        .sort("ticker", "action_row", pl.col("offset").abs(), "offset")
        .unique(["ticker", "action_row"], keep="first", maintain_order=True)
        .unique(["ticker", "row"], keep="first", maintain_order=True)
        .drop("offset")
    )


def _explained(s: pl.DataFrame, rules: Rules, jumps: pl.DataFrame | None = None) -> pl.DataFrame:
    """``s`` with ``split_jump``: True on rows whose jump a recorded split action explains."""
    jumps = (_split_jumps(s, rules) if jumps is None else jumps).select(
        "ticker", "row", pl.lit(True).alias("split_jump")
    )
    # s is in key order (``_series``) and the left join keeps it
    return s.join(jumps, on=["ticker", "row"], how="left", maintain_order="left").with_columns(
        pl.col("split_jump").fill_null(False)
    )


# -------------------------------------------------------------------- unit_error / switch


def _levels(prices: pl.DataFrame, rules: Rules, explained: pl.DataFrame | None = None) -> pl.DataFrame:
    """Usable closes with a per-ticker unit ``level`` and its run id ``seg``.

    Every jump of at least ``factor`` (pence/pounds, cents/dollars) moves the level up or
    down by one, except a jump a recorded split action explains (a reverse split is a split).
    Both unit rules read the same levels, so a jump is never both a unit error and a switch.
    """
    factor = float(rules["unit_error"]["factor"])
    ratio = pl.col("close") / pl.col("prev_close")
    step = (
        pl.when(pl.col("split_jump"))
        .then(0)
        .when(ratio >= factor)
        .then(1)
        .when(ratio <= 1 / factor)
        .then(-1)
        .otherwise(0)
    )
    return (
        (_explained(_series(prices), rules) if explained is None else explained)
        .with_columns(step.alias("step"))
        .with_columns(pl.col("step").cum_sum().over("ticker").alias("level"))
        .with_columns(pl.col("level").rle_id().over("ticker").alias("seg"))
    )


def _moving(levels: pl.DataFrame) -> pl.DataFrame:
    """Only the tickers whose unit level ever changes: the others have no unit error or switch."""
    return levels.filter(pl.col("ticker").is_in(levels.filter(pl.col("step") != 0)["ticker"].unique().implode()))


def _unit_error_rows(levels: pl.DataFrame, window: int) -> pl.DataFrame:
    """Rows of stretches of at most ``window`` rows at one level with the same other level
    on both sides, with the stretch length and the last good close before it."""
    levels = _moving(levels)
    segs = (
        levels.group_by("ticker", "seg")
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
    return levels.join(segs, on=["ticker", "seg"], how="inner").sort("ticker", "trade_date")


def unit_error(prices: pl.DataFrame, rules: Rules | None = None) -> pl.DataFrame:
    """Closes ~100x (or 1/100) off their neighbours that jump back within a few rows.

    A stretch of at most ``reversion_window`` rows at one unit level, with the same other
    level on both sides, is a unit error: those are the bad rows. A change of scale that
    does not revert in time, or a bad first or last row, is ``unit_switch`` instead.
    """
    rules = _rules(rules)
    return _unit_error_of(_unit_error_rows(_levels(prices, rules), int(rules["unit_error"]["reversion_window"])))


def _unit_error_of(bad: pl.DataFrame) -> pl.DataFrame:
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


def unit_switch(prices: pl.DataFrame, rules: Rules | None = None) -> pl.DataFrame:
    """A ~100x change of scale that does not revert within the unit-error window.

    Yahoo switches a listing between pence and pounds (or cents and dollars) from some date
    on and fixes it weeks later, so one side of the jump has the wrong unit. Which side is
    a guess; the latest rows set the listing's recent scale and every run of rows at another
    scale is reported once, dated on the jump that ends it, with its dates and its factor.
    Unit-error rows are left out first, so their jumps are never reported here too.
    """
    rules = _rules(rules)
    levels = _levels(prices, rules)
    return _unit_switch_of(levels, _unit_error_rows(levels, int(rules["unit_error"]["reversion_window"])))


def _unit_switch_of(levels: pl.DataFrame, bad: pl.DataFrame) -> pl.DataFrame:
    rest = (
        _moving(levels)
        .join(bad.select("ticker", "row"), on=["ticker", "row"], how="anti")
        .sort("ticker", "trade_date")
        .with_columns(pl.col("level").rle_id().over("ticker").alias("seg"))
    )
    runs = (
        rest.group_by("ticker", "seg")
        .agg(
            pl.col("level").first(),
            pl.len().alias("n"),
            pl.col("trade_date").first().alias("first_date"),
            pl.col("trade_date").last().alias("last_date"),
            pl.col("close").first().alias("first_close"),
            pl.col("close").last().alias("last_close"),
        )
        .sort("ticker", "seg")
        .with_columns(
            pl.col("first_date").shift(-1).over("ticker").alias("trade_date"),
            pl.col("first_close").shift(-1).over("ticker").alias("next_close"),
        )
        .with_columns(
            # log of (recent scale / this run's scale): the jumps from here to the latest rows
            (pl.col("next_close") / pl.col("last_close"))
            .log()
            .fill_null(0.0)
            .cum_sum(reverse=True)
            .over("ticker")
            .alias("to_recent"),
            pl.col("level").last().over("ticker").alias("recent_level"),
            pl.col("n").last().over("ticker").alias("recent_n"),
            pl.col("first_date").last().over("ticker").alias("recent_from"),
        )
        .filter(pl.col("level") != pl.col("recent_level"))
    )
    return _emit(
        runs,
        "unit_switch",
        pl.format(
            "close {} -> {} ({}x) changes units: the {} row(s) {} to {} are {}x the recent scale ({} row(s) since {})",
            _num(pl.col("last_close")),
            _num(pl.col("next_close")),
            _num(pl.col("next_close") / pl.col("last_close"), 4),
            pl.col("n"),
            pl.col("first_date"),
            pl.col("last_date"),
            _num((-pl.col("to_recent")).exp(), 4),
            pl.col("recent_n"),
            pl.col("recent_from"),
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


def unreported_split(prices: pl.DataFrame, rules: Rules | None = None) -> pl.DataFrame:
    """A day-over-day close jump matching a common split ratio with no split action that day.

    Split-adjusted data never jumps on a split Yahoo knows about, so this is a split it
    neither reported nor adjusted for (or a wrong price): returns across it are wrong. A
    jump a nearby split action explains is ``split_not_back_adjusted`` instead. The
    tolerance is tight because real crashes and rallies sit near 2:1 and 5:1.
    """
    rules = _rules(rules)
    return _unreported_split_of(_explained(_series(prices), rules), rules)


def _unreported_split_of(explained: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    cfg = rules["split"]
    implied = pl.col("prev_close") / pl.col("close")  # new shares per old
    ratios, tolerance = [float(r) for r in cfg["common_ratios"]], float(cfg["jump_tolerance"])
    # only a move at least as large as the smallest ratio (less the tolerance) can match one
    floor = min(abs(math.log(r)) for r in ratios) - math.log1p(tolerance) - 1e-9
    s = (explained.filter(implied.log().abs() >= floor) if floor > 0 else explained).with_columns(
        _common_ratio_match(implied, ratios, tolerance).alias("label")
    )
    hits = s.filter(pl.col("label").is_not_null() & pl.col("split_ratio").is_null() & ~pl.col("split_jump"))
    return _emit(
        hits,
        "unreported_split",
        pl.format(
            "close {} -> {} looks like a {} split but no split action is recorded",
            _num(pl.col("prev_close")),
            _num(pl.col("close")),
            pl.col("label"),
        ),
    )


def split_not_back_adjusted(prices: pl.DataFrame, rules: Rules | None = None) -> pl.DataFrame:
    """A split action whose ratio the close still jumps by, on its date (or ``action_window`` rows off).

    Yahoo recorded the split but did not back-adjust the prices before it, so everything
    earlier is off by the ratio. Applies to both price bases: both are split-adjusted.
    Splits closer to 1 than ``min_checkable_ratio`` look like ordinary days and are skipped.
    """
    return _split_not_back_adjusted_of(_split_jumps(_series(prices), _rules(rules)))


def _split_not_back_adjusted_of(jumps: pl.DataFrame) -> pl.DataFrame:
    hits = jumps.with_columns(pl.col("action_date").alias("trade_date"))
    return _emit(
        hits.sort("ticker", "trade_date"),
        "split_not_back_adjusted",
        pl.format(
            "{} split recorded but close still jumps {} -> {} on {}: earlier prices not back-adjusted",
            pl.col("label"),
            _num(pl.col("prev_close")),
            _num(pl.col("close")),
            pl.col("jump_date"),
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
    return _stale_series_of(_series(prices), universe, _rules(rules))


def _stale_series_of(s: pl.DataFrame, universe: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    cfg = rules["stale"]
    default = int(cfg["min_run"])
    by_calendar = {k: int(v) for k, v in cfg.get("min_run_by_calendar", {}).items()}
    # runs of equal closes (a ticker's first row has no previous close, so starts a run);
    # only rows of runs of two or more can be reported, so the rest is dropped first
    same = (pl.col("close") == pl.col("prev_close")).fill_null(False)
    s = s.with_columns(same.alias("same")).with_columns((~pl.col("same")).cum_sum().alias("run"))
    if min([default, *by_calendar.values()]) >= 2:
        s = s.filter(pl.col("same") | pl.col("same").shift(-1).fill_null(False))
    runs = (
        s.group_by("ticker", "run")
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
    import exchange_calendars as xc  # with pandas ~0.8 s to import: only the gap rule needs it

    shared = sessions_between(name, start, end)  # one calendar per process, not one per span
    if shared is not None:
        return shared
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


def _tickers_missing_sessions(dates: pl.DataFrame, spans: pl.DataFrame, frames: list[pl.DataFrame]) -> pl.Series:
    """Tickers with fewer rows on sessions than sessions between their first and last row.

    Only they can have a gap, so only they go through the session-by-session comparison (a
    ticker x session cross join): the same result for a fraction of the work.
    """
    expected = []
    for frame in frames:
        name = frame["calendar"][0]
        part = spans.filter(pl.col("calendar") == name)
        sessions = frame["session"]
        count = sessions.search_sorted(part["hi"], side="right") - sessions.search_sorted(part["lo"], side="left")
        expected.append(part.select("ticker", pl.Series("expected", count, dtype=pl.Int64)))
    held = pl.concat(
        [
            dates.filter(
                pl.col("ticker").is_in(spans.filter(pl.col("calendar") == frame["calendar"][0])["ticker"].implode())
                & pl.col("trade_date").is_in(frame["session"].implode())
            )
            .group_by("ticker")
            .agg(pl.col("trade_date").n_unique().cast(pl.Int64).alias("held"))
            for frame in frames
        ]
    )
    return (
        pl.concat(expected)
        .join(held, on="ticker", how="left")
        .filter(pl.col("expected") > pl.col("held").fill_null(0))["ticker"]
    )


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
    dates = prices.select("ticker", "trade_date").drop_nulls()  # duplicates are harmless below
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
    spans = spans.filter(pl.col("ticker").is_in(_tickers_missing_sessions(dates, spans, frames).implode()))
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


# ------------------------------------------------------------------------------ no_data


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


# ------------------------------------------------------------------------------- all


def detect_anomalies(prices: pl.DataFrame, universe: pl.DataFrame, rules: Rules | None = None) -> pl.DataFrame:
    """Every rule over ``prices`` (many tickers), as one frame in ``ANOMALY_SCHEMA``.

    No future-date rule: ``build_core`` rejects rows dated after today, so core never has one.
    """
    rules = _rules(rules)
    # the frames several rules share, built once: the sorted series, split jumps, unit levels
    s = _series(prices)
    jumps = _split_jumps(s, rules)
    explained = _explained(s, rules, jumps)
    levels = _levels(prices, rules, explained)
    bad = _unit_error_rows(levels, int(rules["unit_error"]["reversion_window"]))
    parts = [
        _unit_error_of(bad),
        _unit_switch_of(levels, bad),
        _unreported_split_of(explained, rules),
        _split_not_back_adjusted_of(jumps),
        _stale_series_of(s, universe, rules),
        gap(prices, universe, rules),
        no_data(prices, universe),
    ]
    return pl.concat([_empty(), *parts]).sort("ticker", "trade_date", "kind", nulls_last=False, maintain_order=True)


# ------------------------------------------------------------------ incremental loads

# Calendar days of history read before a ticker's first new date for ``recent_anomalies``:
# about 80 sessions, several times what the rules' windows need, so a stale run reaching
# back across the edge is usually seen whole. Never a matter of correctness: a window too
# short for a ticker sends it to the whole-history path.
LOOKBACK_DAYS = 120


def window_margins(rules: Rules | None = None) -> tuple[int, int]:
    """(edge, need) in rows: a window's first ``edge`` rows may differ from the whole history
    (no close before them, split actions just outside), and a window must hold ``need`` rows
    before the first new date to judge a ticker on its own.

    A split action's jump is looked for ``action_window`` (w) rows either side and the nearest
    earlier action wins a shared jump, so split flags are exact from row 3w + 1 on; the unit
    rules need a stretch longer than ``reversion_window`` before the rows the new dates can
    touch (from 2w rows before the first new one).
    """
    rules = _rules(rules)
    w = int(rules["split"].get("action_window", 0))
    edge = 3 * w + 3
    return edge, edge + int(rules["unit_error"]["reversion_window"]) + 2 * w + 2


def recent_anomalies(
    window: pl.DataFrame,
    first_new: pl.DataFrame,
    universe: pl.DataFrame,
    rules: Rules | None = None,
    switched: list[str] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Anomalies of tickers that got new dates, judged from a window of their recent rows.

    ``window`` holds each ticker's rows from some look-back before its first new date
    (``first_new``: ticker, first_new) on; rows before that date are unchanged since the
    anomalies on record were found, which ``switched`` lists the unit-switch tickers of.
    Returns ``(found, since)``: per ticker judged here, ``since`` is the date from which its
    anomalies are replaced by ``found`` (exactly what the whole-history rules give there);
    the ones before it are what the whole history gives too. Tickers of ``first_new`` left
    out of ``since`` need the whole history: a unit level change in the window or on record
    (``unit_switch`` compares every row with the latest scale), a window without ``need`` rows
    before the first new date, or a stale run reaching back to the window's edge.

    Why a window is enough otherwise: split flags and jumps change only from 2w rows before
    the first new row, unreported splits and gaps from the row before it, a stale run from
    the start of the run holding the last old row; with no level change in the window (and
    none on record) the levels are flat over more than the reversion window before the
    first new row, so no unit error or switch can start or end earlier.
    """
    rules = _rules(rules)
    edge, need = window_margins(rules)
    w = int(rules["split"].get("action_window", 0))
    empty_since = pl.DataFrame(schema={"ticker": pl.String, "since": pl.Date})
    levels = _levels(window, rules).join(first_new.select("ticker", "first_new"), on="ticker", how="inner")
    if levels.is_empty():
        return _empty(), empty_since
    levels = levels.sort("ticker", "trade_date").with_columns(pl.col("close").rle_id().over("ticker").alias("run"))
    per = levels.group_by("ticker").agg(
        (pl.col("trade_date") < pl.col("first_new")).sum().cast(pl.Int64).alias("k"),
        ((pl.col("step") != 0) & (pl.col("row") >= edge)).any().alias("moved"),
    )
    last_old = levels.join(per, on="ticker").filter(pl.col("row") == pl.col("k") - 1).select("ticker", "run")
    run_start = (
        levels.join(last_old, on=["ticker", "run"], how="semi")
        .group_by("ticker")
        .agg(pl.col("row").min().alias("run_start"))
    )
    plan = (
        per.join(run_start, on="ticker", how="left")
        .filter(
            (pl.col("k") >= need)
            & (pl.col("run_start") >= edge)
            & ~pl.col("moved")
            & ~pl.col("ticker").is_in(pl.Series(switched or [], dtype=pl.String).implode())
        )
        .with_columns(pl.min_horizontal(pl.col("k") - 2 * w - 1, pl.col("run_start")).alias("row"))
    )
    since = (
        plan.join(levels.select("ticker", "row", "trade_date"), on=["ticker", "row"], how="inner")
        .select("ticker", pl.col("trade_date").alias("since"))
        .sort("ticker")
    )
    if since.is_empty():
        return _empty(), empty_since
    mine = pl.col("ticker").is_in(since["ticker"].implode())
    found = (
        detect_anomalies(window.filter(mine), universe.filter(mine), rules)
        .join(since, on="ticker", how="inner")
        .filter(pl.col("trade_date") >= pl.col("since"))
        .drop("since")
    )
    return found, since
