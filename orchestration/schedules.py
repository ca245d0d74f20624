"""Schedules for the two markets, fundamentals and filings: timezone-explicit and calendar-aware.

Off by default (turn them on in the UI): a local warehouse should not fetch on its own. A
market schedule skips the days its exchange does not trade (exchange_calendars), so no run
happens on a Hong Kong or New York holiday.
"""

from __future__ import annotations

from datetime import date

import dagster as dg
import polars as pl

from assets.universe import load_universe
from orchestration.jobs import filings_job, fundamentals_job, prices_job

HK_GROUPS = ("hstech",)
US_GROUPS = ("adr", "us_bigtech", "us_index", "fx")


def is_session(calendar: str, day: date) -> bool:
    # imported here: with pandas ~0.8 s, and only a schedule's tick needs it (not loading the definitions)
    import exchange_calendars as xc

    return bool(xc.get_calendar(calendar).is_session(day.isoformat()))


def tickers_of(groups: tuple[str, ...]) -> list[str]:
    return load_universe().filter(pl.col("group").is_in(groups))["ticker"].to_list()


def market_close_request(
    context: dg.ScheduleEvaluationContext, calendar: str, groups: tuple[str, ...], market: str
) -> dg.RunRequest | dg.SkipReason:
    day = context.scheduled_execution_time.date()
    if not is_session(calendar, day):
        return dg.SkipReason(f"{day} is not a {calendar} session ({market} holiday or weekend): no run")
    tickers = tickers_of(groups)
    return dg.RunRequest(
        run_key=f"{market}-{day}",
        run_config={"resources": {"scope": {"config": {"tickers": tickers}}}},
        tags={"chinatech/market": market, "chinatech/tickers": ",".join(tickers)},
    )


@dg.schedule(
    cron_schedule="10 16 * * 1-5",
    job=prices_job,
    execution_timezone="Asia/Hong_Kong",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Hong Kong after its close (16:10 HKT): the Hang Seng TECH lines. Skips XHKG holidays.",
)
def hk_close(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    return market_close_request(context, "XHKG", HK_GROUPS, "hk")


@dg.schedule(
    cron_schedule="30 16 * * 1-5",
    job=prices_job,
    execution_timezone="America/New_York",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="New York after its close (16:30 ET): ADRs, US big tech, indexes and FX. Skips NYSE holidays.",
)
def us_close(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    return market_close_request(context, "XNYS", US_GROUPS, "us")


@dg.schedule(
    cron_schedule="0 18 * * 1-5",
    job=fundamentals_job,
    execution_timezone="America/New_York",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Weekdays at 18:00 ET, after both closes: today's .info snapshot and annual statements.",
)
def fundamentals_daily(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return dg.RunRequest(run_key=f"fundamentals-{context.scheduled_execution_time.date()}")


@dg.schedule(
    cron_schedule="0 7 * * 6",
    job=filings_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Saturdays 07:00 UTC: SEC company facts (filings arrive through the week) and capex.",
)
def filings_weekly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return dg.RunRequest(run_key=f"filings-{context.scheduled_execution_time.date()}")


SCHEDULES = [hk_close, us_close, fundamentals_daily, filings_weekly]
