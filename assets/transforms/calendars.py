"""Exchange calendars as small frames: session close instants and each week's last session.

Pure functions of the calendar (exchange-calendars knows holidays, half days and daylight
saving), cached because building a calendar takes a moment.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache
from typing import Any

import polars as pl


@lru_cache(maxsize=32)
def _schedule(calendar: str, start: date, end: date) -> pl.DataFrame:
    import exchange_calendars as xc

    try:
        cal = xc.get_calendar(calendar, start=start.isoformat(), end=end.isoformat())
    except ValueError:  # outside the calendar's bounds: its default span, clipped below
        cal = xc.get_calendar(calendar)
    sched = cal.schedule
    frame = pl.DataFrame(
        {
            "trade_date": [d.date() for d in sched.index],
            "close_utc": [c.to_pydatetime() for c in sched["close"]],
        },
        schema={"trade_date": pl.Date, "close_utc": pl.Datetime("us", "UTC")},
    )
    return frame.filter(pl.col("trade_date").is_between(start, end))


def session_closes(calendar: str, start: date, end: date) -> pl.DataFrame:
    """(trade_date, close_utc): every session of ``calendar`` in [start, end] and when it closes.

    A Hong Kong session closes at 16:00 HKT (08:00 UTC), 12:00 on half days; New York at
    16:00 ET, which is 20:00 or 21:00 UTC depending on daylight saving.
    """
    return _schedule(calendar, start, end)


def week_last_sessions(calendar: str, start: date, end: date) -> pl.DataFrame:
    """(week_start, last_session): the last scheduled session of each Monday-to-Sunday week."""
    monday = start - timedelta(days=start.weekday())
    sched = _schedule(calendar, monday, end + timedelta(days=6 - end.weekday()))
    return (
        sched.with_columns(pl.col("trade_date").dt.truncate("1w").alias("week_start"))
        .group_by("week_start")
        .agg(pl.col("trade_date").max().alias("last_session"))
        .sort("week_start")
    )


# From 1990 (or the calendar's first recorded day) to a year ahead: every history this project
# holds, so the rules slice one calendar instead of building one per span.
WIDE_START = date(1990, 1, 1)


@lru_cache(maxsize=32)
def exchange_calendar(name: str) -> Any:
    """One exchange_calendars calendar per exchange and process, over the widest span any rule needs.

    Building a calendar costs ~0.2 s whatever its span, and each rule (holiday flags, freshness,
    gaps) asks for its own span: one wide calendar sliced by ``sessions_between`` pays once.
    """
    import exchange_calendars as xc

    default = xc.get_calendar(name)  # cached by exchange_calendars; its class knows the bounds
    lo, hi = type(default).bound_min(), type(default).bound_max()
    start = WIDE_START if lo is None else max(WIDE_START, lo.date())
    end = default.last_session.date()
    if hi is not None:
        end = min(end, hi.date())
    return xc.get_calendar(name, start=start.isoformat(), end=end.isoformat())


def sessions_between(name: str, start: date, end: date) -> pl.Series | None:
    """Session dates of ``name`` in [start, end] from the shared wide calendar; None when the range
    reaches outside it (the caller then builds a calendar for that range, as before)."""
    cal = exchange_calendar(name)
    if start < cal.first_session.date() or end > cal.last_session.date():
        return None
    days = cal.sessions_in_range(start.isoformat(), end.isoformat())
    return pl.Series("session", days.to_numpy()).cast(pl.Date)
