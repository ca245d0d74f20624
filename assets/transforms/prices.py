"""Pure Polars transforms for daily prices: parse the two yfinance CSV shapes, build core rows.

Both the live adapter and the replay reader hand their frames to the same parsers here, so
the recorded files exercise exactly the code that live data goes through.

Yahoo serves Open/High/Low/Close split-adjusted in every mode; ``auto_adjust`` only decides
whether dividends are folded into Close too. Hence two price bases, told apart by whether a
row carries an Adj Close: ``split_adjusted`` (Close without dividends, Adj Close beside it:
the download shape and ``auto_adjust=False`` history) and ``split_dividend_adjusted`` (history
written with ``auto_adjust=True``: no Adj Close, adj_close = close).
"""

from __future__ import annotations

import io
import re
from datetime import date, datetime, timedelta
from functools import lru_cache

import polars as pl

from assets.sources.errors import SourceError
from assets.transforms.anomalies import ANOMALY_SCHEMA
from assets.transforms.calendars import sessions_between
from assets.transforms.order import in_strict_order

RAW_PRICES_SCHEMA: dict[str, pl.DataType] = {
    "ticker": pl.String(),
    "source": pl.String(),
    "shape": pl.String(),
    "trade_date": pl.Date(),
    "source_date": pl.String(),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "adj_close": pl.Float64(),
    "volume": pl.Float64(),
    "dividends": pl.Float64(),
    "stock_splits": pl.Float64(),
}

CORE_PRICES_SCHEMA: dict[str, pl.DataType] = {
    "ticker": pl.String(),
    "trade_date": pl.Date(),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "adj_close": pl.Float64(),
    "volume": pl.Int64(),
    "dividend": pl.Float64(),
    "split_ratio": pl.Float64(),
    "currency": pl.String(),
    "price_basis": pl.String(),
    "source": pl.String(),
}

REJECTED_SCHEMA: dict[str, pl.DataType] = {
    "ticker": pl.String(),
    "trade_date": pl.Date(),
    "source": pl.String(),
    "shape": pl.String(),
    "reason": pl.String(),
    "row_json": pl.String(),
}

SPLIT_ADJUSTED = "split_adjusted"
SPLIT_DIVIDEND_ADJUSTED = "split_dividend_adjusted"
PRICE_BASES = (SPLIT_ADJUSTED, SPLIT_DIVIDEND_ADJUSTED)

# Anomaly kinds build_core returns; conflicting_duplicate comes from conflict_anomalies().
CORE_ANOMALY_KINDS = ["source_disagreement", "ohlc_inconsistent", "non_session_day"]
CONFLICT_KIND = "conflicting_duplicate"

# yfinance column names (either shape) -> raw column names.
_COLUMNS = {
    "Open": "open",
    "High": "high",
    "Low": "low",
    "Close": "close",
    "Adj Close": "adj_close",
    "Volume": "volume",
    "Dividends": "dividends",
    "Stock Splits": "stock_splits",
}
# Every shape has these; Adj Close, Dividends and Stock Splits legitimately come and go.
_REQUIRED_COLUMNS = ("Open", "High", "Low", "Close", "Volume")
_DATE_COLUMNS = ("Date", "Datetime", "date", "index")
_PRICES = ("open", "high", "low", "close")
_VALUES = tuple(_COLUMNS.values())
_KEY = ("ticker", "source", "shape", "trade_date")
# Calendars of instruments that trade round the clock: no exchange, no session days.
_NO_EXCHANGE = ("24/5", "24/7", "")
# Two shapes of the same ticker "agree" when closes differ by less than this (rounding).
DISAGREEMENT_TOLERANCE = 5e-4


def empty_raw() -> pl.DataFrame:
    return pl.DataFrame(schema=RAW_PRICES_SCHEMA)


def _empty(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


# ---------------------------------------------------------------- exchange calendars


@lru_cache(maxsize=64)
def exchange_tz(calendar: str | None) -> str | None:
    """IANA time zone of an exchange calendar ('XHKG' -> 'Asia/Hong_Kong').

    None for calendars with no exchange ('24/5' FX, empty): their bars keep the date of the
    source's own stamp. An unknown calendar name raises ValueError (a universe typo).
    """
    if calendar is None or calendar.strip() in _NO_EXCHANGE:
        return None
    import exchange_calendars as xcals

    try:
        return str(xcals.get_calendar(calendar.strip()).tz)
    except xcals.errors.InvalidCalendarName as exc:
        raise ValueError(f"unknown exchange calendar {calendar!r}") from exc


@lru_cache(maxsize=64)
def _weekmask(calendar: str) -> str:
    import exchange_calendars as xcals

    return str(xcals.get_calendar(calendar).weekmask)


@lru_cache(maxsize=64)
def _holidays(calendar: str, first_year: int, last_year: int) -> tuple[date, ...]:
    """Weekmask days without a session in whole years, within the calendar's recorded range."""
    import exchange_calendars as xcals

    probe = xcals.get_calendar(calendar)
    lo, hi = date(first_year, 1, 1), date(last_year, 12, 31)
    if probe.bound_min() is not None:
        lo = max(lo, probe.bound_min().date())
    if probe.bound_max() is not None:
        hi = min(hi, probe.bound_max().date())
    if lo > hi:
        return ()
    shared = sessions_between(calendar, lo, hi)  # one calendar per process, not one per span
    if shared is not None:
        sessions = set(shared.to_list())
    else:
        sessions = {d.date() for d in xcals.get_calendar(calendar, start=lo.isoformat(), end=hi.isoformat()).sessions}
    mask = probe.weekmask
    days = (lo + timedelta(days=i) for i in range((hi - lo).days + 1))
    return tuple(d for d in days if mask[d.weekday()] == "1" and d not in sessions)


def calendar_days(calendars: pl.DataFrame) -> pl.DataFrame:
    """(calendar, trade_date) -> whether that date is a weekend or a holiday of the calendar.

    Weekend means outside the calendar's weekmask; holiday means a weekmask day with no
    session (exchange_calendars records holidays only from its bound, e.g. 1960 for XHKG:
    earlier days are never called holidays). Exchange-free calendars ('24/5') get neither.
    """
    out = calendars.select("calendar", "trade_date").unique().sort("calendar", "trade_date")
    weekend: list[bool] = []
    holiday: list[bool] = []
    for (name,), part in out.partition_by("calendar", as_dict=True, maintain_order=True).items():
        days = part["trade_date"].to_list()
        if exchange_tz(name) is None:
            weekend += [False] * len(days)
            holiday += [False] * len(days)
            continue
        mask = _weekmask(str(name))
        known = set(_holidays(str(name), min(days).year, max(days).year))
        weekend += [mask[d.weekday()] == "0" for d in days]
        holiday += [d in known for d in days]
    return out.with_columns(
        pl.Series("_weekend", weekend, dtype=pl.Boolean), pl.Series("_holiday", holiday, dtype=pl.Boolean)
    )


# ---------------------------------------------------------------- parsing


def normalize_history(
    ticker: str,
    frame: pl.DataFrame,
    source: str,
    shape: str = "history",
    *,
    tz: str | None = None,
    name: str = "history",
) -> pl.DataFrame:
    """A ``Ticker.history()`` frame (Date or Datetime column as text) -> raw rows.

    ``tz`` is the listing's exchange time zone: a stamp with an offset is converted to it
    before taking the date, so a Hong Kong bar stamped 11:00-05:00 lands on the next HK day.
    ``tz=None`` keeps the date as written (FX: Yahoo's own London stamp). Dates without a
    time stay as written. A missing or renamed column raises a schema-drift SourceError
    naming ``name`` (the file): a load with volume or prices silently null is worse.
    Rows keep file order within a date; duplicate dates are resolved by ``resolve_duplicates``.
    """
    date_col = next((c for c in _DATE_COLUMNS if c in frame.columns), None)
    if date_col is None:
        raise SourceError(ticker, f"{name}: schema drift: no Date/Datetime column; columns are {frame.columns}")
    _check_columns(ticker, name, frame.columns)
    present = {k: v for k, v in _COLUMNS.items() if k in frame.columns}
    out = frame.select(
        pl.col(date_col).cast(pl.String).alias("source_date"),
        *[pl.col(k).cast(pl.Float64, strict=False).alias(v) for k, v in present.items()],
    )
    return _finish_raw(out, ticker, source, shape, tz=tz, name=name, has_adj="Adj Close" in present)


def normalize_history_many(
    frame: pl.DataFrame,
    source: str,
    *,
    tz: str | None = None,
    starts: dict[str, date | None] | None = None,
    shape: str = "history",
) -> pl.DataFrame:
    """``normalize_history`` for many tickers' files of one header and time zone at once.

    ``frame`` is their rows as text with a ``ticker`` column. ``starts`` drops rows more than a
    day before each ticker's load window before any parsing (the exact clip is the adapter's).
    Any problem raises SourceError: callers fall back to ``normalize_history`` per file, which
    names the ticker and the file.
    """
    columns = [c for c in frame.columns if c != "ticker"]
    date_col = next((c for c in _DATE_COLUMNS if c in columns), None)
    if date_col is None:
        raise SourceError("(bulk)", f"schema drift: no Date/Datetime column; columns are {columns}")
    _check_columns("(bulk)", "bulk read", columns)
    bounded = {t: s - timedelta(days=1) for t, s in (starts or {}).items() if s is not None}
    if bounded:
        lim = pl.DataFrame(
            {"ticker": list(bounded), "_start": list(bounded.values())}, schema={"ticker": pl.String, "_start": pl.Date}
        )
        written = pl.col(date_col).str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
        frame = (
            frame.join(lim, on="ticker", how="left", maintain_order="left")
            .filter(pl.col("_start").is_null() | written.is_null() | (written >= pl.col("_start")))
            .drop("_start")
        )
    present = {k: v for k, v in _COLUMNS.items() if k in columns}
    out = frame.select(
        "ticker",
        pl.col(date_col).cast(pl.String).alias("source_date"),
        *[pl.col(k).cast(pl.Float64, strict=False).alias(v) for k, v in present.items()],
    )
    for col in _VALUES:
        if col not in out.columns:
            out = out.with_columns(pl.lit(None, dtype=pl.Float64).alias(col))
    if "Adj Close" in present:
        out = out.with_columns(
            pl.when(pl.col("adj_close").is_null() & pl.col("close").is_not_null())
            .then(float("nan"))
            .otherwise(pl.col("adj_close"))
            .alias("adj_close")
        )
    parsed = out.with_columns(pl.lit(source).alias("source"), pl.lit(shape).alias("shape"))
    # yfinance's own stamp format first (one parse instead of three); the general rule otherwise
    fast = _fast_trade_date(parsed["source_date"], tz)
    parsed = parsed.with_columns(
        fast.alias("trade_date") if fast is not None else _trade_date(pl.col("source_date"), tz).alias("trade_date")
    )
    if parsed["trade_date"].null_count():
        raise SourceError("(bulk)", "rows with unparseable dates")
    return (
        parsed.select(list(RAW_PRICES_SCHEMA))
        .cast(RAW_PRICES_SCHEMA)  # type: ignore[arg-type]
        .sort("ticker", "trade_date", maintain_order=True)  # stable: file order kept within a date
    )


def normalize_download(frame: pl.DataFrame, source: str, *, name: str = "download") -> pl.DataFrame:
    """A ``yfinance.download()`` frame in long form (ticker, field, Date, value) -> raw rows.

    Dates have no time, so they stay as written. The same schema-drift rule as history.
    """
    parts = []
    for ticker, part in frame.partition_by("ticker", as_dict=True, maintain_order=True).items():
        tk = str(ticker[0])
        _check_columns(tk, name, part["field"].unique(maintain_order=True).to_list())
        # a date written twice stays two rows (nth occurrence of each field), in file order,
        # so resolve_duplicates can keep the later one and report the other
        occ = part.with_columns(pl.col("Date").cum_count().over("field", "Date").alias("_occ"))
        wide = occ.pivot(on="field", index=["Date", "_occ"], values="value", aggregate_function="last").sort(
            "Date", "_occ"
        )
        present = {k: v for k, v in _COLUMNS.items() if k in wide.columns}
        out = wide.select(
            pl.col("Date").cast(pl.String).alias("source_date"),
            *[pl.col(k).cast(pl.Float64, strict=False).alias(v) for k, v in present.items()],
        )
        # a multi-ticker file has empty cells where one ticker did not trade: not a bar at all
        out = out.filter(~pl.all_horizontal(pl.col(c).is_null() for c in present.values() if c != "volume"))
        parts.append(_finish_raw(out, tk, source, "download", tz=None, name=name, has_adj="Adj Close" in present))
    return pl.concat(parts, how="vertical") if parts else empty_raw()


def read_download_csv(text: str | bytes, name: str = "download") -> pl.DataFrame:
    """Parse the three-header-row CSV that ``yfinance.download(...).to_csv()`` writes.

    Row 1 names the field (Price,Adj Close,Close,...), row 2 the ticker of each column, row 3
    is ``Date,,,``. Returns long form (ticker, field, Date, value) for any number of tickers.
    A UTF-8 byte-order mark (Excel's "CSV UTF-8") and CRLF line ends are read as the same file.
    """
    raw = (text.decode("utf-8-sig") if isinstance(text, bytes) else text).removeprefix("\ufeff")
    lines = raw.splitlines()
    if len(lines) < 3 or not lines[0].startswith("Price") or not lines[1].startswith("Ticker"):
        raise SourceError(name, "not a yfinance.download() CSV (expected Price/Ticker/Date header rows)")
    fields = lines[0].split(",")[1:]
    tickers = lines[1].split(",")[1:]
    names = ["Date"] + [f"{i}" for i in range(len(fields))]
    body = pl.read_csv(
        io.StringIO("\n".join(lines[3:])),
        has_header=False,
        new_columns=names,
        schema_overrides={n: pl.Float64 for n in names[1:]} | {"Date": pl.String},
    )
    meta = pl.DataFrame({"col": names[1:], "field": fields, "ticker": tickers})
    return (
        body.with_row_index("_line")
        .unpivot(index=["_line", "Date"], variable_name="col", value_name="value")
        .join(meta, on="col", how="left")
        .sort("_line", maintain_order=True)
        .select("ticker", "field", "Date", "value")
    )


def _squash(column: str) -> str:
    return re.sub(r"[^a-z]", "", column.lower())


def _check_columns(ticker: str, name: str, columns: list[str]) -> None:
    """Schema drift: required columns missing, or a known column under another spelling."""
    known = {_squash(c): c for c in _COLUMNS}
    renamed = [(c, known[_squash(c)]) for c in columns if _squash(c) in known and c not in _COLUMNS]
    if renamed:
        pairs = ", ".join(f"{got!r} for {want!r}" for got, want in renamed)
        raise SourceError(ticker, f"{name}: schema drift: renamed column {pairs}; columns are {columns}")
    missing = [c for c in _REQUIRED_COLUMNS if c not in columns]
    if missing:
        label = "column" if len(missing) == 1 else "columns"
        raise SourceError(ticker, f"{name}: schema drift: missing {label} {', '.join(missing)}; columns are {columns}")


def _trade_date(stamp: pl.Expr, tz: str | None) -> pl.Expr:
    """The stamp's date in ``tz`` when it carries an offset; otherwise its first ten characters."""
    as_written = stamp.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    if tz is None:
        return as_written
    text = stamp.str.strip_chars().str.replace("T", " ", literal=True).str.replace(r"Z$", "+00:00")
    instant = pl.coalesce(
        text.str.to_datetime("%Y-%m-%d %H:%M:%S%z", strict=False, time_zone="UTC"),
        text.str.to_datetime("%Y-%m-%d %H:%M:%S%.f%z", strict=False, time_zone="UTC"),
        text.str.to_datetime("%Y-%m-%d %H:%M%z", strict=False, time_zone="UTC"),
    )
    has_offset = text.str.contains(r"\d[+-]\d{2}:?\d{2}$")
    return pl.when(has_offset).then(instant.dt.convert_time_zone(tz).dt.date()).otherwise(as_written)


def _fast_trade_date(stamps: pl.Series, tz: str | None) -> pl.Series | None:
    """``_trade_date`` for a column that is all ``YYYY-MM-DD HH:MM:SS+HH:MM`` (what history() writes), else None."""
    if tz is None or stamps.is_empty():
        return None
    # The date is a pure function of the stamp text, and a bulk read repeats each session's
    # stamp once per ticker: parse every distinct stamp once and join the dates back (about
    # 6x faster than parsing and converting every row; the same rules, so the same dates).
    frame = stamps.rename("_stamp").to_frame()
    distinct = frame.unique()
    if distinct.height * 2 > frame.height:  # mostly distinct stamps: nothing to share
        return _stamp_dates(stamps, tz)
    dates = _stamp_dates(distinct["_stamp"], tz)
    if dates is None:
        return None
    joined = frame.join(
        distinct.with_columns(dates.alias("_date")), on="_stamp", how="left", nulls_equal=True, maintain_order="left"
    )
    return joined["_date"].rename(stamps.name)


def _stamp_dates(stamps: pl.Series, tz: str) -> pl.Series | None:
    """Each stamp's date in ``tz``; None unless every stamp is ``YYYY-MM-DD HH:MM:SS+HH:MM``."""
    instant = stamps.str.to_datetime("%Y-%m-%d %H:%M:%S%:z", strict=False, time_zone="UTC")
    if instant.null_count():
        return None
    return instant.dt.convert_time_zone(tz).dt.date().rename(stamps.name)


def _finish_raw(
    out: pl.DataFrame, ticker: str, source: str, shape: str, *, tz: str | None, name: str, has_adj: bool
) -> pl.DataFrame:
    for col in _VALUES:
        if col not in out.columns:
            out = out.with_columns(pl.lit(None, dtype=pl.Float64).alias(col))
    if has_adj:
        # A file with an Adj Close column but an empty cell: NaN (as pandas reads it), so the
        # row is rejected instead of passing for split_dividend_adjusted (no Adj Close).
        out = out.with_columns(
            pl.when(pl.col("adj_close").is_null() & pl.col("close").is_not_null())
            .then(float("nan"))
            .otherwise(pl.col("adj_close"))
            .alias("adj_close")
        )
    parsed = out.with_columns(
        pl.lit(ticker).alias("ticker"),
        pl.lit(source).alias("source"),
        pl.lit(shape).alias("shape"),
        _trade_date(pl.col("source_date"), tz).alias("trade_date"),
    )
    bad_dates = parsed.filter(pl.col("trade_date").is_null())
    if bad_dates.height:
        sample = bad_dates["source_date"].head(3).to_list()
        raise SourceError(ticker, f"{name}: {bad_dates.height} rows with unparseable dates, e.g. {sample}")
    return (
        parsed.select(list(RAW_PRICES_SCHEMA))
        .cast(RAW_PRICES_SCHEMA)  # type: ignore[arg-type]
        .sort("trade_date", maintain_order=True)  # stable: file order kept within a date
    )


# ---------------------------------------------------------------- duplicates and basis


def _row_json() -> pl.Expr:
    """The row as given, for dq tables; NaN/inf would encode as null, so they are named."""
    non_finite = pl.concat_str(
        [
            pl.when(pl.col(c).is_not_null() & ~pl.col(c).is_finite()).then(
                pl.format("{}={}", pl.lit(c), pl.col(c).cast(pl.String))
            )
            for c in _VALUES
        ],
        separator=",",
        ignore_nulls=True,
    )
    return pl.struct("source_date", *_VALUES, pl.when(non_finite != "").then(non_finite).alias("non_finite"))


def resolve_duplicates(raw: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One row per (ticker, source, shape, trade_date): the last one in frame order wins.

    Frame order is file order, so the later revision is kept. Exact copies (same values,
    whatever the stamp) vanish silently; a different version is returned in REJECTED_SCHEMA
    with reason ``conflicting_duplicate``: row_json is the dropped version (the one right
    before the kept row) plus ``kept`` (its source_date and close) and, if more than one
    version was dropped, ``earlier`` (their source_date and close). Pure; deterministic.
    """
    if raw.is_empty():
        return raw, _empty(REJECTED_SCHEMA)
    if _keys_strictly_increasing(raw):  # parsed files come sorted: distinct keys proven without hashing them
        return raw.select(list(RAW_PRICES_SCHEMA)), _empty(REJECTED_SCHEMA)
    dup = pl.struct(list(_KEY)).is_duplicated()
    if not raw.select(dup.any()).item():  # the usual case: nothing to resolve, no per-version grouping
        return raw.select(list(RAW_PRICES_SCHEMA)), _empty(REJECTED_SCHEMA)
    # only keys written more than once need the versions logic; the others pass as they are
    flagged = raw.with_row_index("_at").with_columns(dup.alias("_dup"))
    single = flagged.filter(~pl.col("_dup"))
    kept_dupes, conflicts = _resolve_versions(flagged.filter(pl.col("_dup")).drop("_dup"))
    kept = pl.concat([single.drop("_dup"), kept_dupes]).sort("_at").drop("_at")
    return kept.select(list(RAW_PRICES_SCHEMA)), conflicts


_ORDER = ("ticker", "trade_date", "source", "shape")  # the key, in the order parsed rows come in


def _keys_strictly_increasing(raw: pl.DataFrame) -> bool:
    """Whether every row's key is greater than the row before's (ticker, trade_date, source,
    shape, compared in that order): then no key occurs twice. A comparison of neighbours is
    about 4x cheaper than hashing every key; a null or any other order says False (hash it)."""
    return in_strict_order(raw, _ORDER)


def _resolve_versions(raw: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``resolve_duplicates`` on rows whose keys all occur more than once (``_at``: original position)."""
    idx = "_pos"
    numbered = raw.with_row_index(idx)
    # one row per distinct version of a key, at the position of its last occurrence
    versions = numbered.group_by([*_KEY, *_VALUES], maintain_order=True).agg(
        pl.col(idx).max(), pl.col("source_date").last()
    )
    versions = versions.sort(idx).with_columns(pl.len().over(list(_KEY)).alias("_n"))
    kept_ids = versions.group_by(list(_KEY)).agg(pl.col(idx).max())[idx]
    kept = numbered.filter(pl.col(idx).is_in(kept_ids.implode())).sort(idx).drop(idx)
    dropped = versions.filter((pl.col("_n") > 1) & ~pl.col(idx).is_in(kept_ids.implode()))
    if dropped.is_empty():
        return kept, _empty(REJECTED_SCHEMA)
    keeper = versions.filter(pl.col(idx).is_in(kept_ids.implode())).select(
        *_KEY, pl.struct("source_date", "close").alias("kept")
    )
    latest = (
        dropped.sort(idx)
        .group_by(list(_KEY), maintain_order=True)
        .agg(
            pl.all().exclude(*_KEY).last(),
            pl.struct("source_date", "close").slice(0, pl.len() - 1).alias("earlier"),
        )
    )
    conflicts = (
        latest.join(keeper, on=list(_KEY), how="left")
        .with_columns(
            pl.when(pl.col("earlier").list.len() > 0).then(pl.col("earlier")).alias("earlier"),
        )
        .with_columns(
            pl.struct(_row_json().struct.unnest(), "kept", "earlier").struct.json_encode().alias("row_json"),
            pl.lit(CONFLICT_KIND).alias("reason"),
        )
        .select(list(REJECTED_SCHEMA))
        .sort("ticker", "trade_date", "source", "shape")
    )
    return kept, conflicts


def conflict_anomalies(conflicts: pl.DataFrame) -> pl.DataFrame:
    """Conflict rows (``resolve_duplicates``) -> one anomaly per ticker and date, kind
    ``conflicting_duplicate``, naming the kept and the dropped close, so the kept core row is
    visibly one of several versions the source gave."""
    if conflicts.is_empty():
        return _empty(ANOMALY_SCHEMA)
    version = pl.Struct({"source_date": pl.String, "close": pl.Float64})
    decoded = conflicts.with_columns(
        pl.col("row_json")
        .str.json_decode(pl.Struct({"source_date": pl.String, "close": pl.Float64, "kept": version}))
        .alias("_v")
    ).unnest("_v")
    per_shape = decoded.sort("ticker", "trade_date", "shape", "source").select(
        "ticker",
        "trade_date",
        pl.format(
            "{} {}: kept close {} ({}), dropped close {} ({})",
            "source",
            "shape",
            pl.col("kept").struct.field("close"),
            pl.col("kept").struct.field("source_date"),
            "close",
            "source_date",
        ).alias("detail"),
    )
    return (
        per_shape.group_by("ticker", "trade_date", maintain_order=True)
        .agg(pl.col("detail").str.join("; "))
        .select("ticker", "trade_date", pl.lit(CONFLICT_KIND).alias("kind"), "detail")
        .cast(ANOMALY_SCHEMA)  # type: ignore[arg-type]
    )


def to_split_dividend_adjusted(raw: pl.DataFrame) -> pl.DataFrame:
    """Put rows that carry an Adj Close onto the split_dividend_adjusted basis.

    close := Adj Close, open/high/low scaled by Adj Close / Close, adj_close := null (as
    ``auto_adjust=True`` writes it). Adapters apply it to a ticker's download rows when its
    history file has no Adj Close, before clipping to the load window, so a ticker's basis
    never depends on which dates a load happens to contain. Rows without a usable ratio
    (missing, NaN, non-positive) are left alone so build_core rejects them as they are.
    """
    usable = (
        pl.col("adj_close").is_finite()
        & pl.col("close").is_finite()
        & (pl.col("close") > 0)
        & (pl.col("adj_close") > 0)
    ).fill_null(False)
    factor = pl.col("adj_close") / pl.col("close")
    return raw.with_columns(
        [pl.when(usable).then(pl.col(c) * factor).otherwise(pl.col(c)).alias(c) for c in ("open", "high", "low")]
        + [
            pl.when(usable).then(pl.col("adj_close")).otherwise(pl.col("close")).alias("close"),
            pl.when(usable).then(None).otherwise(pl.col("adj_close")).alias("adj_close"),
        ]
    )


def price_basis_expr() -> pl.Expr:
    """A raw row's basis: without Adj Close the file was written with dividends folded in."""
    return (
        pl.when(pl.col("adj_close").is_null()).then(pl.lit(SPLIT_DIVIDEND_ADJUSTED)).otherwise(pl.lit(SPLIT_ADJUSTED))
    )


# ---------------------------------------------------------------- core


def build_core(
    raw: pl.DataFrame, universe: pl.DataFrame, today: date | None = None, keyed: bool = False
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Raw rows -> (core rows, rejected rows, anomalies) for the tickers present.

    Each row's basis comes from the row alone (``price_basis_expr``), so the result never depends
    on the load window or row order. Where a ticker has both shapes, rows merge by date
    (history first: it carries the actions) and closes that disagree beyond rounding become
    ``source_disagreement`` anomalies. Rejected with the reason: no usable close (missing,
    NaN/inf, non-positive), negative volume or dividend, future dates, FX weekend bars (Yahoo's partial
    Saturday), weekend bars of exchange-listed tickers (``non_session_day``), tickers not in
    the universe. NaN/inf open/high/low/volume count as missing. Kept but flagged: high/low
    contradicting open/close (set to null, ``ohlc_inconsistent``) and weekday exchange
    holidays (``non_session_day``: Yahoo fills some closures, typhoons included, with flat
    zero-volume bars; the calendar's history is too imperfect to drop them on its word).
    """
    today = today or datetime.now().date()
    if raw.is_empty():
        return _empty(CORE_PRICES_SCHEMA), _empty(REJECTED_SCHEMA), _empty(ANOMALY_SCHEMA)
    # ``keyed``: rows of raw.prices_daily, whose write path enforces the key, so there is nothing
    # to resolve (proving it again costs a scan of every key); parser output may hold duplicates
    raw = raw.select(list(RAW_PRICES_SCHEMA))
    raw, conflicts = (raw, _empty(REJECTED_SCHEMA)) if keyed else resolve_duplicates(raw)
    calendar = pl.col("calendar") if "calendar" in universe.columns else pl.lit(None, dtype=pl.String)
    info = universe.select("ticker", "currency", "group", calendar.cast(pl.String).alias("calendar"))
    raw = raw.with_row_index("_row")
    rows = raw.join(info, on="ticker", how="left")
    days = calendar_days(rows.filter(pl.col("calendar").is_not_null()))
    rows = rows.join(days, on=["calendar", "trade_date"], how="left").with_columns(
        pl.col("_weekend").fill_null(False),
        pl.col("_holiday").fill_null(False),
        # NaN/inf are no values: treat like an empty cell (close and adj_close: rejected below)
        *[
            pl.when(pl.col(c).is_finite()).then(pl.col(c)).alias(c)
            for c in ("open", "high", "low", "volume", "dividends", "stock_splits")
        ],
        price_basis_expr().alias("price_basis"),
    )
    non_finite = ~pl.col("close").is_finite() | (pl.col("adj_close").is_not_null() & ~pl.col("adj_close").is_finite())
    reason = (
        pl.when(pl.col("close").is_null())
        .then(pl.lit("missing_close"))
        .when(non_finite)
        .then(pl.lit("non_finite_price"))
        .when(pl.min_horizontal(*_PRICES, "adj_close") <= 0)
        .then(pl.lit("non_positive_price"))
        .when(pl.col("volume") < 0)
        .then(pl.lit("negative_volume"))
        .when(pl.col("dividends") < 0)
        .then(pl.lit("negative_dividend"))
        .when(pl.col("trade_date") > today)
        .then(pl.lit("future_date"))
        .when((pl.col("group") == "fx") & (pl.col("trade_date").dt.weekday() >= 6))
        .then(pl.lit("weekend_fx_bar"))
        .when(pl.col("_weekend"))
        .then(pl.lit("non_session_day"))
        .when(pl.col("currency").is_null())
        .then(pl.lit("ticker_not_in_universe"))
        .otherwise(None)
    )
    rows = rows.with_columns(reason.alias("reason"))
    # the row as given, encoded only for the rows that need it (JSON of every row costs seconds at scale)
    bad = rows.filter(pl.col("reason").is_not_null())
    given = raw.join(bad.select("_row"), on="_row", how="semi").select(
        "_row", _row_json().struct.json_encode().alias("row_json")
    )
    bad = bad.join(given, on="_row", how="left")
    rejected = pl.concat([bad.select(list(REJECTED_SCHEMA)), conflicts]).sort(
        "ticker", "trade_date", "source", "shape", "reason"
    )
    good = rows.filter(pl.col("reason").is_null())

    # history shape first (it carries actions), then download for the dates it lacks; the
    # full sort key makes the pick independent of row order
    merged = good.with_columns((pl.col("shape") != "history").cast(pl.Int8).alias("_rank"))
    if not in_strict_order(merged, ("ticker", "trade_date")):  # else one shape per date, in order already
        merged = merged.sort("ticker", "trade_date", "_rank", "shape", "source").unique(
            ["ticker", "trade_date"], keep="first", maintain_order=True
        )
    # High/low that contradict open/close (rounding of adjusted OHLC, bad ticks): the close is
    # kept, the extremes become unknown, and the stored row is flagged with the originals.
    inconsistent = (pl.col("high") < pl.max_horizontal("open", "close")) | (
        pl.col("low") > pl.min_horizontal("open", "close")
    )
    ohlc_flags = merged.filter(inconsistent).select(
        "ticker",
        "trade_date",
        pl.lit("ohlc_inconsistent").alias("kind"),
        pl.format(
            "{} shape: open {} high {} low {} close {}; high/low set to null in core",
            "shape",
            *[pl.col(c).round(6) for c in _PRICES],
        ).alias("detail"),
    )
    # Yahoo's filler bar: no volume, open = high = low = close (up to float noise of adjustment)
    spread = pl.max_horizontal(*_PRICES) - pl.min_horizontal(*_PRICES)
    flat = (pl.col("volume").fill_null(0) == 0) & (spread <= 1e-9 * pl.col("close")).fill_null(False)
    holiday_flags = merged.filter(pl.col("_holiday")).select(
        "ticker",
        "trade_date",
        pl.lit("non_session_day").alias("kind"),
        pl.format(
            "{} has no session on this weekday; bar kept ({}close {}, volume {})",
            "calendar",
            pl.when(flat).then(pl.lit("flat zero-volume filler, ")).otherwise(pl.lit("")),
            pl.col("close").round(6),
            pl.col("volume"),
        ).alias("detail"),
    )
    merged = merged.with_columns(
        pl.when(inconsistent).then(None).otherwise(pl.col(c)).alias(c) for c in ("high", "low")
    )
    anomalies = (
        pl.concat([_shape_disagreements(good), ohlc_flags, holiday_flags])
        .cast(ANOMALY_SCHEMA)  # type: ignore[arg-type]
        .sort("ticker", "trade_date", "kind", "detail")
    )
    core = merged.select(
        "ticker",
        "trade_date",
        "open",
        "high",
        "low",
        "close",
        pl.coalesce("adj_close", "close").alias("adj_close"),
        pl.col("volume").round(0).cast(pl.Int64),
        pl.col("dividends").fill_null(0.0).alias("dividend"),
        pl.when(pl.col("stock_splits") > 0).then(pl.col("stock_splits")).alias("split_ratio"),
        "currency",
        "price_basis",
        "source",
    ).cast(CORE_PRICES_SCHEMA)  # type: ignore[arg-type]
    return core, rejected, anomalies


def _shape_disagreements(rows: pl.DataFrame) -> pl.DataFrame:
    # compare like with like: the dividend-adjusted close of each shape (Adj Close, or Close
    # when the file was written with dividends folded in)
    adjusted = pl.coalesce("adj_close", "close")
    hist = rows.filter(pl.col("shape") == "history").select("ticker", "trade_date", adjusted.alias("h"))
    down = rows.filter(pl.col("shape") == "download").select("ticker", "trade_date", adjusted.alias("d"))
    both = hist.join(down, on=["ticker", "trade_date"])
    return both.filter(((pl.col("h") - pl.col("d")).abs() / pl.col("h")) > DISAGREEMENT_TOLERANCE).select(
        "ticker",
        "trade_date",
        pl.lit("source_disagreement").alias("kind"),
        pl.format("history adjusted close {} vs download {}", pl.col("h").round(6), pl.col("d").round(6)).alias(
            "detail"
        ),
    )


def new_actions(raw: pl.DataFrame, held_until: dict[str, date]) -> list[str]:
    """Tickers whose fetched rows carry a dividend or split after the last date already held.

    Adjusted prices (and Adj Close) are rewritten backwards by every new action, so such a
    ticker must be reloaded in full rather than incrementally.
    """
    if raw.is_empty() or not held_until:
        return []
    held = pl.DataFrame(
        {"ticker": list(held_until), "held": list(held_until.values())},
        schema={"ticker": pl.String, "held": pl.Date},
    )
    hits = raw.join(held, on="ticker").filter(
        (pl.col("trade_date") > pl.col("held"))
        & ((pl.col("dividends").fill_null(0) > 0) | (pl.col("stock_splits").fill_null(0) > 0))
    )
    return sorted(hits["ticker"].unique().to_list())
