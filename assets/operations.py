"""Operational policies shared by the assets: retries, freshness, automation, progress.

Retries are for network steps only, and only for failures worth another try: a blocking check,
a bad setting or an unreachable network raise ``dg.Failure(allow_retries=False)``.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import dagster as dg

NETWORK_RETRY = dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)

# Prices close daily on both markets (Hong Kong 16:10 HKT, New York 16:30 ET runs); a weekend
# and a holiday fit in the warn window, more than that is late.
DAILY = dg.FreshnessPolicy.time_window(fail_window=timedelta(days=4), warn_window=timedelta(hours=30))
WEEKLY = dg.FreshnessPolicy.time_window(fail_window=timedelta(days=10), warn_window=timedelta(days=8))

# Downstream assets refresh when an upstream changes, and only once its blocking checks passed.
AFTER_UPSTREAM = dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()


class Progress:
    """Logs `n/N <unit>, rows, elapsed` as work advances (about every 10%), to the Dagster log."""

    def __init__(self, log: Any, unit: str, total: int) -> None:
        self.log, self.unit, self.total = log, unit, total
        self.done_count, self.rows = 0, 0
        self.started = time.monotonic()
        self._next = max(1, total // 10)

    def step(self, count: int, rows: int = 0) -> None:
        self.done_count += count
        self.rows += rows
        if self.done_count >= self._next and self.done_count < self.total:
            self._log()
            self._next = self.done_count + max(1, self.total // 10)

    def done(self) -> None:
        self._log()

    def _log(self) -> None:
        rows = f", {self.rows:,} rows" if self.rows else ""
        elapsed = time.monotonic() - self.started
        self.log.info(f"{self.done_count}/{self.total} {self.unit}{rows}, {elapsed:.1f}s")
