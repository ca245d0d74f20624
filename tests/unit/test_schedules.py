"""The daily schedule asks for that day's snapshot partition."""

from datetime import UTC, datetime

import dagster as dg

from orchestration.definitions import defs


def test_daily_refresh_runs_weekdays_for_that_days_partition() -> None:
    schedule = defs.resolve_schedule_def("daily_refresh")
    assert schedule.cron_schedule == "30 22 * * 1-5"
    ctx = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 27, 22, 30, tzinfo=UTC))
    request = schedule(ctx)
    assert request.partition_key == "2026-11-27"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
