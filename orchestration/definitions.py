"""The one Dagster ``Definitions``: assets, checks, resources, jobs and schedules."""

from __future__ import annotations

import dagster as dg

from assets import capex, fundamentals, fx, marts, prices, publish, records, report
from orchestration.jobs import JOBS
from orchestration.resources import build_resources
from orchestration.schedules import SCHEDULES

# publish last: its reader_snapshot asset depends on every other asset (assets/publish.py PUBLISH_AFTER)
ASSET_MODULES = [prices, fx, fundamentals, capex, marts, report, publish]


defs = dg.Definitions(
    assets=[*dg.load_assets_from_modules(ASSET_MODULES), *records.SPECS],
    asset_checks=dg.load_asset_checks_from_modules(ASSET_MODULES),
    jobs=JOBS,
    schedules=SCHEDULES,
    resources=build_resources(),
    executor=dg.in_process_executor,
)
