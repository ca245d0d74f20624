"""Profiles: small frames derived from a load's staged rows for the expectations to judge.

Pure Polars (no Dagster, no I/O) so each can be tested on hand-built frames. An expectation
on a profile can fail on real input: a history that shrank, a stale listing, an outlier return
with no action to explain it, a filer whose filings stopped, a currency nobody converts.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import polars as pl

from assets.transforms.calendars import sessions_between


def history_profile(staged: pl.DataFrame, held: pl.DataFrame, full_tickers: list[str]) -> pl.DataFrame:
    """For tickers reloaded whole: the days held before against the days the new load brings.

    ``held`` is (ticker, rows, first_date) of core before the load. A whole reload that
    brings far fewer days, or starts later, than what readers have would silently lose history.
    """
    schema = {
        "ticker": pl.String,
        "rows_held": pl.Int64,
        "rows_staged": pl.Int64,
        "kept_share": pl.Float64,
        "first_held": pl.Date,
        "first_staged": pl.Date,
        "start_delay_days": pl.Int64,
    }
    if staged.is_empty() or held.is_empty() or not full_tickers:
        return pl.DataFrame(schema=schema)
    new = (
        staged.filter(pl.col("ticker").is_in(full_tickers))
        .group_by("ticker")
        .agg(pl.col("trade_date").n_unique().alias("rows_staged"), pl.col("trade_date").min().alias("first_staged"))
    )
    return (
        held.select("ticker", pl.col("rows").alias("rows_held"), pl.col("first_date").alias("first_held"))
        .join(new, on="ticker", how="inner")
        .with_columns(
            (pl.col("rows_staged") / pl.col("rows_held")).alias("kept_share"),
            (pl.col("first_staged") - pl.col("first_held")).dt.total_days().alias("start_delay_days"),
        )
        .select(list(schema))
        .cast(schema)  # type: ignore[arg-type]
        .sort("ticker")
    )


@lru_cache(maxsize=16)
def _session_index(calendar: str, start: date, end: date) -> pl.Series:
    import exchange_calendars as xc

    cls = type(xc.get_calendar(calendar))
    lo = cls.bound_min()
    if lo is not None:
        start = max(start, lo.date())
    shared = sessions_between(calendar, start, end)  # one calendar per process, not one per span
    if shared is not None:
        return shared
    cal = xc.get_calendar(calendar, start=start.isoformat(), end=end.isoformat())
    return pl.Series("session", cal.sessions_in_range(start.isoformat(), end.isoformat()).to_numpy()).cast(pl.Date)


def freshness_profile(last_dates: pl.DataFrame, universe: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """Per ticker, the exchange sessions after its last row up to ``as_of`` (sessions it is behind).

    ``as_of`` is today for live data and the end of the recording for replay and sample data.
    """
    schema = {"ticker": pl.String, "calendar": pl.String, "last_date": pl.Date, "sessions_behind": pl.Int64}
    rows = last_dates.join(universe.select("ticker", "calendar"), on="ticker", how="left").filter(
        pl.col("calendar").is_not_null() & pl.col("last_date").is_not_null()
    )
    if rows.is_empty():
        return pl.DataFrame(schema=schema)
    out = []
    for calendar, part in rows.partition_by("calendar", as_dict=True).items():
        start = part["last_date"].min()
        # a week past as_of keeps the range non-empty when a ticker is fully up to date
        sessions = _session_index(str(calendar[0]), start, as_of + timedelta(days=7))
        counts = [int(((sessions > d) & (sessions <= as_of)).sum()) for d in part["last_date"].to_list()]
        out.append(part.with_columns(pl.Series("sessions_behind", counts, dtype=pl.Int64)))
    return pl.concat(out).select(list(schema)).sort("ticker")


def returns_profile(
    history: pl.DataFrame, staged: pl.DataFrame, news_floor: float = 0.25, min_rows: int = 60
) -> pl.DataFrame:
    """Daily total-return moves of the staged dates that no action explains and that exceed a news-sized move.

    ``history`` holds the tickers' adjusted closes (what readers had plus what is staged), so the
    robust scale (1.4826 x median absolute deviation of log returns) is the listing's own.
    Moves below ``news_floor`` (log) are ordinary news (Baidu +15.7% on 2025-09-17 is 0.146);
    days with a split or dividend are explained. ``z`` is the move in robust sigmas.
    """
    schema = {
        "ticker": pl.String,
        "trade_date": pl.Date,
        "log_return": pl.Float64,
        "robust_sigma": pl.Float64,
        "z": pl.Float64,
    }
    if history.is_empty() or staged.is_empty():
        return pl.DataFrame(schema=schema)
    ret = (
        history.lazy()
        .select("ticker", "trade_date", "adj_close", "dividend", "split_ratio")
        .filter(pl.col("adj_close") > 0)
        .unique(["ticker", "trade_date"], keep="last")
        .sort("ticker", "trade_date")
        .with_columns((pl.col("adj_close").log() - pl.col("adj_close").log().shift(1).over("ticker")).alias("r"))
        .collect()
    )
    keys = staged.select("ticker", "trade_date").unique()
    # moves beyond the floor on staged dates with no action: usually none, so the robust scale
    # (two medians per ticker over the whole history) is computed only for their tickers
    moves = ret.join(keys, on=["ticker", "trade_date"], how="semi").filter(
        (pl.col("r").abs() > news_floor) & pl.col("split_ratio").is_null() & (pl.col("dividend").fill_null(0) == 0)
    )
    if moves.is_empty():
        return pl.DataFrame(schema=schema)
    scale = (
        ret.join(moves.select("ticker").unique(), on="ticker", how="semi")
        .group_by("ticker")
        .agg(
            ((pl.col("r") - pl.col("r").median()).abs().median() * 1.4826).alias("sigma"),
            pl.len().alias("n"),
        )
    )
    return (
        moves.join(scale, on="ticker", how="left")
        .filter((pl.col("n") >= min_rows) & (pl.col("sigma") > 0))
        .select(
            "ticker",
            "trade_date",
            pl.col("r").alias("log_return"),
            pl.col("sigma").alias("robust_sigma"),
            (pl.col("r").abs() / pl.col("sigma")).alias("z"),
        )
        .cast(schema)  # type: ignore[arg-type]
        .sort("ticker", "trade_date")
    )


def tickers_with_moves(history: pl.DataFrame, staged: pl.DataFrame, news_floor: float = 0.25) -> list[str]:
    """Tickers with a staged move beyond ``news_floor`` and no action: the only ones ``returns_profile`` can list.

    ``history`` needs only the held rows from the last one before each ticker's first staged
    date (the previous close), so a daily load need not read whole histories to find none.
    """
    if staged.is_empty():
        return []
    unexplained = pl.col("split_ratio").is_null() & (pl.col("dividend").fill_null(0) == 0)
    if history.is_empty() and _strictly_ordered(staged):
        # whole histories staged as core builds them (one row per ticker and date, in order): the
        # de-duplication, sort and per-ticker window below would change nothing, at seconds per batch
        log = pl.col("adj_close").log()
        moves = (
            staged.filter(pl.col("adj_close") > 0)
            .with_columns(pl.when(pl.col("ticker") == pl.col("ticker").shift(1)).then(log - log.shift(1)).alias("r"))
            .filter((pl.col("r").abs() > news_floor) & unexplained)
        )
        return sorted(moves["ticker"].unique().to_list())
    after = (
        pl.concat([history.select(staged.columns), staged])
        .filter(pl.col("adj_close") > 0)
        .unique(["ticker", "trade_date"], keep="last")
        .sort("ticker", "trade_date")
        .with_columns((pl.col("adj_close").log() - pl.col("adj_close").log().shift(1).over("ticker")).alias("r"))
    )
    moves = after.join(staged.select("ticker", "trade_date"), on=["ticker", "trade_date"], how="semi").filter(
        (pl.col("r").abs() > news_floor) & unexplained
    )
    return sorted(moves["ticker"].unique().to_list())


def _strictly_ordered(frame: pl.DataFrame) -> bool:
    """Rows strictly increasing by (ticker, trade_date): sorted, and no key twice."""
    ticker, day = pl.col("ticker"), pl.col("trade_date")
    later = (ticker > ticker.shift(1)) | ((ticker == ticker.shift(1)) & (day > day.shift(1)))
    return bool(frame.select(later.slice(1).all()).item())


def recency_profile(frame: pl.DataFrame, key: str, date_col: str, as_of: date) -> pl.DataFrame:
    """Per ``key``, the newest ``date_col`` and the days from it to ``as_of``."""
    if frame.is_empty():
        return pl.DataFrame(schema={key: frame.schema.get(key, pl.String), "latest": pl.Date, "days_since": pl.Int64})
    return (
        frame.group_by(key)
        .agg(pl.col(date_col).max().alias("latest"))
        .with_columns((pl.lit(as_of) - pl.col("latest")).dt.total_days().alias("days_since"))
        .sort(key)
    )


def flagged_share_profile(anomalies: pl.DataFrame, row_counts: pl.DataFrame) -> pl.DataFrame:
    """Per ticker, the share of its price rows carrying a dated flag (a feed degrading shows here)."""
    flagged = (
        anomalies.filter(pl.col("trade_date").is_not_null())
        .group_by("ticker")
        .agg(pl.col("trade_date").n_unique().alias("flagged_rows"))
    )
    return (
        row_counts.join(flagged, on="ticker", how="left")
        .with_columns(pl.col("flagged_rows").fill_null(0))
        .with_columns((pl.col("flagged_rows") / pl.col("rows")).alias("flagged_share"))
        .filter(pl.col("rows") > 0)
        .sort("ticker")
    )


def snapshot_price_profile(snapshot: pl.DataFrame, last_close: pl.DataFrame) -> pl.DataFrame:
    """Yahoo's ``.info`` price against the last close held in core (same quote currency).

    A gap means the info is stale, for another line, or in another unit (pence, cents).
    """
    return (
        snapshot.select("ticker", "price")
        .join(last_close.select("ticker", "close"), on="ticker", how="inner")
        .filter((pl.col("price") > 0) & (pl.col("close") > 0))
        .with_columns((pl.col("price") / pl.col("close")).log().abs().alias("log_gap"))
        .with_columns((pl.col("log_gap").exp() - 1).alias("gap"))
        .sort("ticker")
    )
