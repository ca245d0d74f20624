"""Pure Polars: the premium of a US ADR over its Hong Kong line, with the two closes lined up in time.

Hong Kong closes (16:00 HKT = 08:00 UTC) before New York opens (09:30 ET = 13:30 or 14:30
UTC) on the same date, so the New York close of that date is not known yet when Hong Kong
closes. Each Hong Kong close is therefore compared with the last New York close *before* it
(in UTC): normally the previous New York session, across US holidays the one before that.
Close instants come from the exchange calendars, so half days and daylight saving are right.

premium % = 100 x (ADR close / HK shares per ADS x HKD per USD / HK close - 1); the FX rate is
the last one on or before the ADR's trade date (no older than the staleness limit).
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

PREMIUM_SCHEMA: dict[str, pl.DataType] = {
    "hk_ticker": pl.String(),
    "adr_ticker": pl.String(),
    "hk_trade_date": pl.Date(),
    "hk_close": pl.Float64(),
    "hk_close_utc": pl.Datetime("us", "UTC"),
    "adr_trade_date": pl.Date(),
    "adr_close": pl.Float64(),
    "adr_close_utc": pl.Datetime("us", "UTC"),
    "hours_apart": pl.Float64(),
    "adr_ratio": pl.Float64(),
    "fx_date": pl.Date(),
    "hkd_per_usd": pl.Float64(),
    "adr_hkd_per_share": pl.Float64(),
    "premium_pct": pl.Float64(),
}


def adr_premium(
    hk: pl.DataFrame,
    adr: pl.DataFrame,
    pairs: pl.DataFrame,
    fx: pl.DataFrame,
    hk_closes: pl.DataFrame,
    us_closes: pl.DataFrame,
    max_close_age_days: int = 7,
    max_fx_age_days: int = 7,
) -> pl.DataFrame:
    """One row per HK close that has an earlier ADR close (within ``max_close_age_days``) and an FX rate.

    hk / adr: (ticker, trade_date, close); pairs: (adr_ticker, hk_ticker, adr_ratio);
    fx: (trade_date, rate) in HKD per USD; hk_closes / us_closes: (trade_date, close_utc)
    from the exchange calendars. A bar on a day the calendar has no session is not used.
    """
    if hk.is_empty() or adr.is_empty() or pairs.is_empty():
        return pl.DataFrame(schema=PREMIUM_SCHEMA)
    hk_rows = (
        hk.join(pairs.select("hk_ticker", "adr_ticker", "adr_ratio"), left_on="ticker", right_on="hk_ticker")
        .rename({"ticker": "hk_ticker", "trade_date": "hk_trade_date", "close": "hk_close"})
        .join(hk_closes.rename({"trade_date": "hk_trade_date", "close_utc": "hk_close_utc"}), on="hk_trade_date")
        .select("hk_ticker", "adr_ticker", "adr_ratio", "hk_trade_date", "hk_close", "hk_close_utc")
        .sort("hk_close_utc")
    )
    adr_rows = (
        adr.rename({"ticker": "adr_ticker", "trade_date": "adr_trade_date", "close": "adr_close"})
        .join(us_closes.rename({"trade_date": "adr_trade_date", "close_utc": "adr_close_utc"}), on="adr_trade_date")
        .select("adr_ticker", "adr_trade_date", "adr_close", "adr_close_utc")
        .sort("adr_close_utc")
    )
    joined = hk_rows.join_asof(
        adr_rows,
        left_on="hk_close_utc",
        right_on="adr_close_utc",
        by="adr_ticker",
        strategy="backward",
        allow_exact_matches=False,
        tolerance=timedelta(days=max_close_age_days),
        check_sortedness=False,  # sorted above by time; the by-groups hide it from polars
    ).filter(pl.col("adr_close").is_not_null())
    rates = fx.select(pl.col("trade_date").alias("fx_date"), pl.col("rate").alias("hkd_per_usd")).sort("fx_date")
    out = (
        joined.sort("adr_trade_date")
        .join_asof(
            rates,
            left_on="adr_trade_date",
            right_on="fx_date",
            strategy="backward",
            tolerance=timedelta(days=max_fx_age_days),
        )
        .filter(pl.col("hkd_per_usd").is_not_null())
        .with_columns(
            ((pl.col("hk_close_utc") - pl.col("adr_close_utc")).dt.total_seconds() / 3600).alias("hours_apart"),
            (pl.col("adr_close") / pl.col("adr_ratio") * pl.col("hkd_per_usd")).alias("adr_hkd_per_share"),
        )
        .with_columns((100 * (pl.col("adr_hkd_per_share") / pl.col("hk_close") - 1)).alias("premium_pct"))
    )
    return out.select(list(PREMIUM_SCHEMA)).cast(PREMIUM_SCHEMA).sort("hk_ticker", "hk_trade_date")  # type: ignore[arg-type]
