"""The one Dagster ``Definitions``: assets, checks, resources, jobs and schedules."""

from __future__ import annotations

import dagster as dg

from assets import capex, fundamentals, fx, marts, prices, report
from orchestration.jobs import all_assets_job
from orchestration.resources import build_resources
from orchestration.schedules import daily_refresh

ASSET_MODULES = [prices, fx, fundamentals, capex, marts, report]


defs = dg.Definitions(
    assets=dg.load_assets_from_modules(ASSET_MODULES),
    asset_checks=dg.load_asset_checks_from_modules(ASSET_MODULES),
    jobs=[all_assets_job],
    schedules=[daily_refresh],
    resources=build_resources(),
    executor=dg.in_process_executor,
)
