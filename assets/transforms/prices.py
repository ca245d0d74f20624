"""Pure Polars transforms for daily prices: parse the two yfinance CSV shapes, build core rows.

Both the live adapter and the replay reader hand their frames to the same parsers here, so
the recorded files exercise exactly the code that live data goes through.
"""

from __future__ import annotations

import io
from datetime import date, datetime

import polars as pl

from assets.sources.errors import SourceError

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
_REQUIRED = ("open", "high", "low", "close")
# Two shapes of the same ticker "agree" when closes differ by less than this (rounding).
DISAGREEMENT_TOLERANCE = 5e-4


def empty_raw() -> pl.DataFrame:
    return pl.DataFrame(schema=RAW_PRICES_SCHEMA)


def normalize_history(ticker: str, frame: pl.DataFrame, source: str, shape: str = "history") -> pl.DataFrame:
    """A ``Ticker.history()`` frame (Date or Datetime column as text) -> raw rows.

    The trade date is the calendar date as written in the exchange's own offset (the first
    ten characters), never shifted through UTC: a Hong Kong bar stamped 00:00+08:00 stays on
    its day. Columns may come in any order, with or without ``Adj Close``.
    """
    date_col = next((c for c in ("Date", "Datetime", "date", "index") if c in frame.columns), None)
    if date_col is None:
        raise SourceError(ticker, f"history has no Date/Datetime column (columns: {frame.columns})")
    missing = [c for c in ("Open", "High", "Low", "Close") if c not in frame.columns]
    if missing:
        raise SourceError(ticker, f"history lacks columns {missing}")
    present = {k: v for k, v in _COLUMNS.items() if k in frame.columns}
    out = frame.select(
        pl.col(date_col).cast(pl.String).alias("source_date"),
        *[pl.col(k).cast(pl.Float64, strict=False).alias(v) for k, v in present.items()],
    )
    return _finish_raw(out, ticker, source, shape)


def normalize_download(frame: pl.DataFrame, source: str) -> pl.DataFrame:
    """A ``yfinance.download()`` frame in long form (ticker, field, Date, value) -> raw rows."""
    parts = []
    for ticker, part in frame.partition_by("ticker", as_dict=True).items():
        wide = part.pivot(on="field", index="Date", values="value", aggregate_function="first")
        present = {k: v for k, v in _COLUMNS.items() if k in wide.columns}
        out = wide.select(
            pl.col("Date").cast(pl.String).alias("source_date"),
            *[pl.col(k).cast(pl.Float64, strict=False).alias(v) for k, v in present.items()],
        )
        # a multi-ticker file has empty cells where one ticker did not trade: not a bar at all
        out = out.filter(~pl.all_horizontal(pl.col(c).is_null() for c in present.values() if c != "volume"))
        parts.append(_finish_raw(out, str(ticker[0]), source, "download"))
    return pl.concat(parts, how="vertical") if parts else empty_raw()


def read_download_csv(text: str | bytes, name: str = "download") -> pl.DataFrame:
    """Parse the three-header-row CSV that ``yfinance.download(...).to_csv()`` writes.

    Row 1 names the field (Price,Adj Close,Close,...), row 2 the ticker of each column, row 3
    is ``Date,,,``. Returns long form (ticker, field, Date, value) for any number of tickers.
    """
    raw = text.decode() if isinstance(text, bytes) else text
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
        body.unpivot(index="Date", variable_name="col", value_name="value")
        .join(meta, on="col")
        .select("ticker", "field", "Date", "value")
    )


def _finish_raw(out: pl.DataFrame, ticker: str, source: str, shape: str) -> pl.DataFrame:
    for col in _COLUMNS.values():
        if col not in out.columns:
            out = out.with_columns(pl.lit(None, dtype=pl.Float64).alias(col))
    parsed = out.with_columns(
        pl.lit(ticker).alias("ticker"),
        pl.lit(source).alias("source"),
        pl.lit(shape).alias("shape"),
        pl.col("source_date").str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False).alias("trade_date"),
    )
    bad_dates = parsed.filter(pl.col("trade_date").is_null())
    if bad_dates.height:
        sample = bad_dates["source_date"].head(3).to_list()
        raise SourceError(ticker, f"{bad_dates.height} rows with unparseable dates, e.g. {sample}")
    return (
        parsed.select(list(RAW_PRICES_SCHEMA))
        .cast(RAW_PRICES_SCHEMA)  # type: ignore[arg-type]
        .sort("trade_date")
        .unique(["ticker", "source", "shape", "trade_date"], keep="last", maintain_order=True)
    )


def build_core(
    raw: pl.DataFrame, universe: pl.DataFrame, today: date | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Raw rows -> (core rows, rejected rows, anomalies) for the tickers present.

    Where a ticker has both shapes, rows merge by date (history first: it carries the
    actions) and closes that disagree beyond rounding become ``source_disagreement``
    anomalies. Rows with no usable close (missing, non-positive, future, FX weekend bars:
    Yahoo's partial Saturday) are returned as rejected with the reason; rows whose high/low
    contradict open/close keep their close, lose high/low, and are flagged ``ohlc_inconsistent``.
    """
    today = today or datetime.now().date()
    if raw.is_empty():
        return (
            pl.DataFrame(schema=CORE_PRICES_SCHEMA),
            pl.DataFrame(schema=REJECTED_SCHEMA),
            pl.DataFrame(schema={"ticker": pl.String, "trade_date": pl.Date, "kind": pl.String, "detail": pl.String}),
        )
    info = universe.select("ticker", "currency", "group")
    rows = raw.join(info, on="ticker", how="left").with_columns(
        pl.when(pl.col("adj_close").is_null())
        .then(pl.lit("adjusted"))
        .otherwise(pl.lit("unadjusted"))
        .alias("price_basis"),
    )
    reason = (
        pl.when(pl.col("close").is_null())
        .then(pl.lit("missing_close"))
        .when(pl.min_horizontal(*_REQUIRED) <= 0)
        .then(pl.lit("non_positive_price"))
        .when(pl.col("volume") < 0)
        .then(pl.lit("negative_volume"))
        .when(pl.col("trade_date") > today)
        .then(pl.lit("future_date"))
        .when((pl.col("group") == "fx") & (pl.col("trade_date").dt.weekday() >= 6))
        .then(pl.lit("weekend_fx_bar"))
        .when(pl.col("currency").is_null())
        .then(pl.lit("ticker_not_in_universe"))
        .otherwise(None)
    )
    rows = rows.with_columns(reason.alias("reason"))
    rejected = (
        rows.filter(pl.col("reason").is_not_null())
        .with_columns(pl.struct("source_date", *_COLUMNS.values()).struct.json_encode().alias("row_json"))
        .select(list(REJECTED_SCHEMA))
    )
    good = rows.filter(pl.col("reason").is_null())
    # High/low that contradict open/close (Yahoo's adjusted OHLC rounding, bad ticks): the
    # close is kept, the extremes become unknown, and the row is flagged with the originals.
    inconsistent = (pl.col("high") < pl.max_horizontal("open", "close")) | (
        pl.col("low") > pl.min_horizontal("open", "close")
    )
    ohlc_flags = good.filter(inconsistent).select(
        "ticker",
        "trade_date",
        pl.lit("ohlc_inconsistent").alias("kind"),
        pl.format(
            "{} shape: open {} high {} low {} close {}; high/low set to null in core",
            "shape",
            *[pl.col(c).round(6) for c in ("open", "high", "low", "close")],
        ).alias("detail"),
    )
    good = good.with_columns(pl.when(inconsistent).then(None).otherwise(pl.col(c)).alias(c) for c in ("high", "low"))

    anomalies = pl.concat([_shape_disagreements(good), ohlc_flags.unique(["ticker", "trade_date"])])
    # history shape first (it carries actions), then download for the dates it lacks. Where
    # the history file is already adjusted, download rows filling it are put on the same basis
    # (scaled by Adj Close / Close) so one ticker's closes never mix adjusted and as-traded.
    adjusted_history = (
        good.filter((pl.col("shape") == "history") & (pl.col("price_basis") == "adjusted"))
        .select("ticker")
        .unique()
        .with_columns(pl.lit(True).alias("_adj_hist"))
    )
    factor = pl.col("adj_close") / pl.col("close")
    rescale = (pl.col("shape") == "download") & pl.col("_adj_hist").fill_null(False) & pl.col("adj_close").is_not_null()
    good = (
        good.join(adjusted_history, on="ticker", how="left")
        .with_columns(
            [pl.when(rescale).then(pl.col(c) * factor).otherwise(pl.col(c)).alias(c) for c in ("open", "high", "low")]
            + [
                pl.when(rescale).then(pl.col("adj_close")).otherwise(pl.col("close")).alias("close"),
                pl.when(rescale).then(pl.lit("adjusted")).otherwise(pl.col("price_basis")).alias("price_basis"),
            ]
        )
        .drop("_adj_hist")
    )
    merged = (
        good.with_columns((pl.col("shape") != "history").cast(pl.Int8).alias("_rank"))
        .sort("ticker", "trade_date", "_rank")
        .unique(["ticker", "trade_date"], keep="first", maintain_order=True)
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
    return core, rejected, anomalies.sort("ticker", "trade_date")


CORE_ANOMALY_KINDS = ["source_disagreement", "ohlc_inconsistent"]


def _shape_disagreements(rows: pl.DataFrame) -> pl.DataFrame:
    # compare like with like: the adjusted close of each shape (Adj Close, or Close when the
    # file was written already adjusted)
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
