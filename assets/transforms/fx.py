"""Pure Polars FX: daily USD rates from Yahoo ``XXX=X`` bars, FX anomalies, USD conversion.

Yahoo quotes ``CNY=X`` as units of CNY per 1 USD, so every rate here is stored as
base 'USD', quote 'XXX', rate = close, and converting an amount in XXX to USD divides by it.
Conversions always take the last rate on or before the date (never a later one), so a
weekend or holiday amount uses the previous business day's rate.
"""

from __future__ import annotations

import polars as pl

from assets.transforms.anomalies import ANOMALY_SCHEMA

FX_SCHEMA: dict[str, pl.DataType] = {
    "trade_date": pl.Date(),
    "base": pl.String(),
    "quote": pl.String(),
    "rate": pl.Float64(),
    "source": pl.String(),
}

USD = "USD"


def fx_daily_from_prices(prices: pl.DataFrame, universe: pl.DataFrame) -> pl.DataFrame:
    """Core price rows of the universe's FX tickers -> FX_SCHEMA rows (USD base).

    Saturday/Sunday bars are dropped: Yahoo publishes a partial Saturday bar for the
    running week, which is not a settled rate. Null, NaN and inf closes are dropped; non-positive
    ones are kept so ``fx_anomalies`` can report them (conversions ignore them). The result
    depends only on the set of rows, never on their order: should the prices carry two rows
    for a day and pair, the pick is made by a full sort (source, then rate).
    """
    fx_universe = universe.filter(pl.col("group") == "fx").select(
        "ticker", pl.col("currency").str.to_uppercase().alias("quote")
    )
    rows = (
        prices.join(fx_universe, on="ticker", how="inner")
        .filter(pl.col("close").is_finite())  # null, NaN and inf are no rate
        .filter(pl.col("trade_date").dt.weekday() <= 5)
        .select(
            pl.col("trade_date").cast(pl.Date),
            pl.lit(USD).alias("base"),
            "quote",
            pl.col("close").cast(pl.Float64).alias("rate"),
            pl.col("source").cast(pl.String),
        )
        # one rate per day and pair even if the prices carried duplicates, picked by value
        .sort("quote", "trade_date", "source", "rate", nulls_last=True)
        .unique(["trade_date", "base", "quote"], keep="last", maintain_order=True)
    )
    return rows.cast(FX_SCHEMA)  # type: ignore[arg-type]


def pair_label(base: pl.Expr, quote: pl.Expr) -> pl.Expr:
    """Yahoo-style label for a pair: USD base -> 'CNY=X', otherwise 'EURCNY=X'."""
    return pl.when(base == USD).then(quote + pl.lit("=X")).otherwise(base + quote + pl.lit("=X"))


def fx_anomalies(fx: pl.DataFrame, max_move: float = 0.05, max_gap_days: int = 7) -> pl.DataFrame:
    """Rates to distrust: non-positive rates, day-on-day moves above ``max_move``, date gaps.

    A gap is more than ``max_gap_days`` calendar days between consecutive rates of a pair
    (weekends and short holidays stay below the default 7). Jumps are measured between
    consecutive positive rates so one bad zero does not produce two jumps.
    """
    if fx.is_empty():
        return pl.DataFrame(schema=ANOMALY_SCHEMA)
    base = fx.sort("base", "quote", "trade_date", "rate", nulls_last=True).with_columns(
        pair_label(pl.col("base"), pl.col("quote")).alias("ticker")
    )
    nonpositive = base.filter(pl.col("rate").is_null() | pl.col("rate").is_nan() | (pl.col("rate") <= 0)).select(
        "ticker",
        "trade_date",
        pl.lit("fx_nonpositive").alias("kind"),
        pl.format("rate {} is not a positive number", pl.col("rate")).alias("detail"),
    )
    positive = base.filter(pl.col("rate") > 0).with_columns(
        pl.col("rate").shift(1).over("ticker").alias("prev_rate"),
        pl.col("trade_date").shift(1).over("ticker").alias("prev_date"),
    )
    jumps = positive.filter((pl.col("rate") / pl.col("prev_rate") - 1).abs() > max_move).select(
        "ticker",
        "trade_date",
        pl.lit("fx_jump").alias("kind"),
        pl.format(
            "rate {} vs {} on {} ({}%), above the {}% limit",
            pl.col("rate").round(6),
            pl.col("prev_rate").round(6),
            pl.col("prev_date"),
            ((pl.col("rate") / pl.col("prev_rate") - 1) * 100).round(2),
            pl.lit(round(max_move * 100, 4)),
        ).alias("detail"),
    )
    gaps = (
        base.with_columns(pl.col("trade_date").shift(1).over("ticker").alias("prev_date"))
        .with_columns((pl.col("trade_date") - pl.col("prev_date")).dt.total_days().alias("gap_days"))
        .filter(pl.col("gap_days") > max_gap_days)
        .select(
            "ticker",
            "trade_date",
            pl.lit("fx_gap").alias("kind"),
            pl.format(
                "no rate for {} days since {} (limit {})",
                pl.col("gap_days"),
                pl.col("prev_date"),
                pl.lit(max_gap_days),
            ).alias("detail"),
        )
    )
    return (
        pl.concat([nonpositive, jumps, gaps])
        .cast(ANOMALY_SCHEMA)  # type: ignore[arg-type]
        .sort("ticker", "trade_date", "kind", "detail")
    )


def usd_rate_asof(
    frame: pl.DataFrame,
    fx: pl.DataFrame,
    date_col: str,
    currency_col: str,
    out_col: str,
    max_staleness_days: int | None = None,
) -> pl.DataFrame:
    """Add ``out_col`` = units of ``currency_col`` per 1 USD, last rate on or before ``date_col``.

    USD gets 1.0; unknown currencies or dates before the first rate get null. CNH and CNY
    are distinct currencies (offshore vs onshore yuan) and never stand in for each other.
    Row order of ``frame`` is preserved.
    """
    idx = "__row_idx"
    rates = (
        fx.filter((pl.col("base") == USD) & (pl.col("rate") > 0))
        .select(
            pl.col("quote").alias("__ccy"),
            pl.col("trade_date").cast(pl.Date).alias("__fx_date"),
            pl.col("rate").alias(out_col),
        )
        .sort("__ccy", "__fx_date", out_col)
        .unique(["__ccy", "__fx_date"], keep="last", maintain_order=True)
        .sort("__fx_date", "__ccy")
    )
    left = frame.with_row_index(idx).with_columns(
        pl.col(currency_col).cast(pl.String).str.to_uppercase().alias("__ccy"),
        pl.col(date_col).cast(pl.Date).alias("__at"),
    )
    dated = left.filter(pl.col("__at").is_not_null() & pl.col("__ccy").is_not_null()).sort("__at")
    joined = dated.join_asof(
        rates,
        left_on="__at",
        right_on="__fx_date",
        by="__ccy",
        strategy="backward",
        tolerance=f"{max_staleness_days}d" if max_staleness_days is not None else None,
        check_sortedness=False,
    ).select(idx, out_col)
    return (
        left.join(joined, on=idx, how="left")
        .with_columns(pl.when(pl.col("__ccy") == USD).then(pl.lit(1.0)).otherwise(pl.col(out_col)).alias(out_col))
        .sort(idx)
        .drop(idx, "__ccy", "__at")
    )
