"""The one Dagster ``Definitions``: assets, checks, resources, jobs and schedules."""

from __future__ import annotations

import os

import dagster as dg

from assets import capex, fundamentals, fx, prices
from orchestration.jobs import all_assets_job
from orchestration.resources import DEFAULT_REPLAY_DIR, DEFAULT_WAREHOUSE, SourceResource, WarehouseResource
from orchestration.schedules import daily_refresh

ASSET_MODULES = [prices, fx, fundamentals, capex]


def setting(name: str, default: str) -> str | dg.EnvVar:
    """An ``EnvVar`` when the variable is set (the UI then shows where it came from), else the default."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def build_resources() -> dict[str, dg.ConfigurableResource]:
    return {
        "warehouse": WarehouseResource(path=setting("CHINATECH_WAREHOUSE", DEFAULT_WAREHOUSE)),
        "source": SourceResource(
            source=setting("CHINATECH_SOURCE", "live"),
            replay_dir=setting("CHINATECH_REPLAY_DIR", DEFAULT_REPLAY_DIR),
            sec_user_agent=setting("CHINATECH_SEC_USER_AGENT", ""),
            cache_dir=setting("CHINATECH_CACHE_DIR", "data/cache"),
        ),
    }


defs = dg.Definitions(
    assets=dg.load_assets_from_modules(ASSET_MODULES),
    asset_checks=dg.load_asset_checks_from_modules(ASSET_MODULES),
    jobs=[all_assets_job],
    schedules=[daily_refresh],
    resources=build_resources(),
    executor=dg.in_process_executor,
)
