"""Pure Polars: weekly closes and runs of consecutive weekly gains or losses.

A week (Monday to Sunday) ends at the close of its last trading day on the series' own
exchange, so a Hong Kong week cut short by a holiday Friday ends on Thursday, and a New York
and a Hong Kong week are each measured on their own sessions. The last week of a series is
complete only when its last trading day is the calendar's last session of that week;
otherwise it is a week to date, flagged as such.
"""

from __future__ import annotations

import polars as pl

STREAK_SCHEMA: dict[str, pl.DataType] = {
    "series": pl.String(),
    "week_start": pl.Date(),
    "week_end_date": pl.Date(),
    "close": pl.Float64(),
    "prev_week_end_date": pl.Date(),
    "weekly_return": pl.Float64(),
    "direction": pl.String(),
    "streak_weeks": pl.Int64(),
    "streak_start_week_end": pl.Date(),
    "is_complete": pl.Boolean(),
}


def weekly_streaks(levels: pl.DataFrame, last_sessions: pl.DataFrame | None = None) -> pl.DataFrame:
    """(series, trade_date, level) daily rows -> one row per series and week with its streak.

    ``direction`` is up / down / flat by the sign of the week's return (close to close);
    ``streak_weeks`` counts consecutive weeks in that direction up to and including this one
    (a flat week breaks a run of gains). ``last_sessions`` (series, week_start, last_session)
    decides whether the latest week is complete; without it the latest week counts as complete.
    """
    if levels.is_empty():
        return pl.DataFrame(schema=STREAK_SCHEMA)
    weeks = (
        levels.filter(pl.col("level").is_not_null() & (pl.col("level") > 0))
        .sort("series", "trade_date")
        .with_columns(pl.col("trade_date").dt.truncate("1w").alias("week_start"))
        .group_by("series", "week_start")
        .agg(pl.col("trade_date").last().alias("week_end_date"), pl.col("level").last().alias("close"))
        .sort("series", "week_start")
        .with_columns(
            pl.col("week_end_date").shift(1).over("series").alias("prev_week_end_date"),
            (pl.col("close") / pl.col("close").shift(1).over("series") - 1).alias("weekly_return"),
        )
        .with_columns(
            pl.when(pl.col("weekly_return") > 0)
            .then(pl.lit("up"))
            .when(pl.col("weekly_return") < 0)
            .then(pl.lit("down"))
            .when(pl.col("weekly_return") == 0)
            .then(pl.lit("flat"))
            .otherwise(None)
            .alias("direction")
        )
        .with_columns(
            (pl.col("direction").fill_null("") != pl.col("direction").fill_null("").shift(1).over("series"))
            .fill_null(True)
            .cum_sum()
            .over("series")
            .alias("_run")
        )
        .with_columns(
            pl.when(pl.col("direction").is_not_null())
            .then(pl.int_range(1, pl.len() + 1).over("series", "_run"))
            .otherwise(None)
            .alias("streak_weeks"),
            pl.when(pl.col("direction").is_not_null())
            .then(pl.col("week_end_date").first().over("series", "_run"))
            .otherwise(None)
            .alias("streak_start_week_end"),
            (pl.col("week_start") == pl.col("week_start").max().over("series")).alias("_latest"),
        )
    )
    if last_sessions is not None and not last_sessions.is_empty():
        weeks = weeks.join(
            last_sessions.select("series", "week_start", "last_session"), on=["series", "week_start"], how="left"
        ).with_columns(
            (
                ~pl.col("_latest")
                | pl.col("last_session").is_null()
                | (pl.col("week_end_date") >= pl.col("last_session"))
            ).alias("is_complete")
        )
    else:
        weeks = weeks.with_columns(pl.lit(True).alias("is_complete"))
    return weeks.select(list(STREAK_SCHEMA)).cast(STREAK_SCHEMA).sort("series", "week_start")  # type: ignore[arg-type]


def streak_as_of(streaks: pl.DataFrame, series: str, as_of: object, direction: str = "up") -> dict[str, object] | None:
    """The run of ``direction`` weeks of ``series`` ending with the last complete week on or before ``as_of``.

    Returns the week row (as a dict) with ``weeks`` = the streak length in ``direction`` (0 when
    that week went the other way), or None when no complete week ends by ``as_of``.
    """
    rows = streaks.filter(
        (pl.col("series") == series)
        & (pl.col("week_end_date") <= as_of)
        & pl.col("is_complete")
        & pl.col("direction").is_not_null()
    ).sort("week_start")
    if rows.is_empty():
        return None
    last = rows.row(-1, named=True)
    last["weeks"] = last["streak_weeks"] if last["direction"] == direction else 0
    return last
