"""Jobs: everything, and the three kinds of work that run on their own clocks.

None is partitioned, so each runs to the end when launched from the UI with its defaults. All
use the in-process executor: DuckDB takes one writer, and steps are short. Each ends with
publish/reader_snapshot, so readers see every successful run and never a failed one.
"""

from __future__ import annotations

import os

import dagster as dg

from assets.capex import CAPEX, RAW_SEC_FACTS
from assets.fundamentals import FINANCIALS, RAW_INFO, SNAPSHOT
from assets.fx import FX_DAILY
from assets.prices import CORE_PRICES, PRICE_ANOMALIES, RAW_PRICES
from assets.publish import READER_SNAPSHOT


def run_tags() -> dict[str, str]:
    """Every run says which source and warehouse it used, so runs of different files tell apart."""
    return {
        "chinatech/source": os.environ.get("CHINATECH_SOURCE", "live"),
        "chinatech/warehouse": os.environ.get("CHINATECH_WAREHOUSE", "") or "default",
    }


def _job(name: str, selection: dg.AssetSelection, description: str) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        name=name,
        selection=selection,
        executor_def=dg.in_process_executor,
        description=description,
        tags=run_tags(),
    )


all_assets_job = _job(
    "all_assets",
    dg.AssetSelection.all(),
    "Materialize every asset and run every check, in dependency order. Set resources.scope.config.tickers "
    "to refresh some tickers only.",
)
prices_job = _job(
    "prices",
    dg.AssetSelection.assets(RAW_PRICES, CORE_PRICES, PRICE_ANOMALIES, FX_DAILY, READER_SNAPSHOT),
    "Daily bars, their flags and FX rates (the market-close schedules run it per market).",
)
fundamentals_job = _job(
    "fundamentals",
    dg.AssetSelection.assets(RAW_INFO, SNAPSHOT, FINANCIALS, READER_SNAPSHOT),
    "Today's .info snapshot of every equity and the annual statements.",
)
filings_job = _job(
    "filings",
    dg.AssetSelection.assets(RAW_SEC_FACTS, CAPEX, READER_SNAPSHOT),
    "SEC company facts and capex from filings, with the yfinance and curated fallbacks.",
)
JOBS = [all_assets_job, prices_job, fundamentals_job, filings_job]
