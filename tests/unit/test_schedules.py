"""Market schedules: timezone-explicit, calendar-aware (no run on a market holiday), one scope per market."""

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from orchestration.definitions import defs

HK = ZoneInfo("Asia/Hong_Kong")
NY = ZoneInfo("America/New_York")


def _evaluate(name: str, when: datetime):
    schedule = defs.resolve_schedule_def(name)
    return schedule, schedule(dg.build_schedule_context(scheduled_execution_time=when))


def test_every_schedule_names_its_time_zone_and_is_off_by_default() -> None:
    expected = {
        "hk_close": ("10 16 * * 1-5", "Asia/Hong_Kong", "prices"),
        "us_close": ("30 16 * * 1-5", "America/New_York", "prices"),
        "fundamentals_daily": ("0 18 * * 1-5", "America/New_York", "fundamentals"),
        "filings_weekly": ("0 7 * * 6", "UTC", "filings"),
    }
    for name, (cron, tz, job) in expected.items():
        schedule = defs.resolve_schedule_def(name)
        assert (schedule.cron_schedule, schedule.execution_timezone, schedule.job_name) == (cron, tz, job)
        assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED


def test_hk_close_refreshes_the_hong_kong_lines_on_a_session() -> None:
    _, request = _evaluate("hk_close", datetime(2025, 9, 17, 16, 10, tzinfo=HK))
    assert isinstance(request, dg.RunRequest)
    tickers = request.run_config["resources"]["scope"]["config"]["tickers"]
    assert "9888.HK" in tickers and "BIDU" not in tickers and "^NDX" not in tickers


@pytest.mark.parametrize(
    ("name", "when", "why"),
    [
        ("hk_close", datetime(2025, 10, 1, 16, 10, tzinfo=HK), "XHKG"),  # National Day, a Wednesday
        ("hk_close", datetime(2025, 12, 25, 16, 10, tzinfo=HK), "XHKG"),
        ("us_close", datetime(2025, 7, 4, 16, 30, tzinfo=NY), "XNYS"),  # Independence Day, a Friday
        ("us_close", datetime(2025, 11, 27, 16, 30, tzinfo=NY), "XNYS"),  # Thanksgiving
    ],
)
def test_no_run_on_a_market_holiday(name: str, when: datetime, why: str) -> None:
    _, result = _evaluate(name, when)
    assert isinstance(result, dg.SkipReason)
    assert why in result.skip_message


def test_us_close_on_a_hong_kong_holiday_still_runs_the_us_lines() -> None:
    _, request = _evaluate("us_close", datetime(2025, 10, 1, 16, 30, tzinfo=NY))
    tickers = request.run_config["resources"]["scope"]["config"]["tickers"]
    assert {"BIDU", "AAPL", "^NDX", "CNY=X"} <= set(tickers) and "9888.HK" not in tickers
