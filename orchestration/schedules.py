"""Schedules. Off by default (turn on in the UI): a local warehouse should not fetch on its own."""

import dagster as dg

from orchestration.jobs import all_assets_job


# 22:30 UTC on weekdays: after the US close (20:00/21:00 UTC) and well after Hong Kong's
# (08:00 UTC), so both markets' bars for the day are final; the run takes that day's
# fundamentals snapshot partition.
@dg.schedule(
    cron_schedule="30 22 * * 1-5",
    job=all_assets_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Weekdays after the US close: prices, FX, the day's fundamentals snapshot, statements, capex.",
)
def daily_refresh(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day = context.scheduled_execution_time.date().isoformat()
    return dg.RunRequest(run_key=day, partition_key=day)
