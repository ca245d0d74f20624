"""What one run covers: the tickers, whether to reload whole histories, the snapshot day.

One resource, set once per run (the launchpad's ``resources: scope: config:``, or ``make run
TICKERS=...``), read by every asset that takes tickers, so a one-ticker refresh touches only
that ticker everywhere.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg
from pydantic import Field

from assets.sources.adapters import Source


class RunScope(dg.ConfigurableResource):
    """The run's scope; every field has a default, so a run launched as is covers everything."""

    tickers: list[str] = Field(
        default=[],
        description="Universe tickers to refresh in every asset (e.g. ['9888.HK', 'BIDU']); empty = all.",
    )
    full_refresh: bool = Field(
        default=False,
        description="Reload whole price histories instead of the days after those held (minus the overlap).",
    )
    as_of: str = Field(
        default="",
        description="Day of the fundamentals snapshot (YYYY-MM-DD). Empty = today for live data, the "
        "source's last day for sample data. Live data cannot be fetched for a past day.",
    )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Refuse tickers not in the universe at run start, before any step runs or retries
        (typed into the launchpad, or a string with SQL in it: it is only ever compared, never run)."""
        from assets.universe import UniverseError, load_universe, select_tickers

        try:
            select_tickers(load_universe(), self.tickers)
        except UniverseError as exc:
            raise dg.Failure(description=f"{exc}; nothing was run or written", allow_retries=False) from exc

    def snapshot_day(self, adapter: Source) -> date:
        """The fundamentals snapshot day of this run; a past day with the live source is refused."""
        today = datetime.now(UTC).date()
        day = date.fromisoformat(self.as_of) if self.as_of else adapter.snapshot_day(today)
        if adapter.snapshots_are_now and day != today:
            raise dg.Failure(
                description=(
                    f"as_of {day}: Yahoo's .info is a snapshot of now, so with the live source only today "
                    f"({today}) can be fetched. Leave as_of empty."
                ),
                allow_retries=False,
            )
        return day
