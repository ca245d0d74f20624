"""Jobs: everything, and the three kinds of work that run on their own clocks.

None is partitioned, so each runs to the end when launched from the UI with its defaults. All
use the in-process executor: DuckDB takes one writer, and steps are short. Each ends with
publish/reader_snapshot, so readers see every successful run and never a failed one.
"""

from __future__ import annotations

import dagster as dg

from assets.capex import CAPEX, RAW_SEC_FACTS
from assets.fundamentals import FINANCIALS, RAW_INFO, SNAPSHOT
from assets.fx import FX_DAILY
from assets.marts import CAPEX_TREND, PRICE_MARTS, SCORECARD, VALUATION
from assets.prices import CORE_PRICES, PRICE_ANOMALIES, RAW_PRICES
from assets.publish import READER_SNAPSHOT
from assets.report import REPORT
from orchestration.runs import run_tags

# the marts each kind of work changes, then the scorecard and the report that read them
PRICE_MART_KEYS = [spec.key for spec, _, _ in PRICE_MARTS]
ANSWERS = [SCORECARD, REPORT]


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
    dg.AssetSelection.assets(
        RAW_PRICES, CORE_PRICES, PRICE_ANOMALIES, FX_DAILY, *PRICE_MART_KEYS, *ANSWERS, READER_SNAPSHOT
    ),
    "Daily bars, their flags and FX rates, then the price marts, the scorecard and the report (the "
    "market-close schedules run it per market).",
)
fundamentals_job = _job(
    "fundamentals",
    dg.AssetSelection.assets(RAW_INFO, SNAPSHOT, FINANCIALS, VALUATION, *ANSWERS, READER_SNAPSHOT),
    "Today's .info snapshot of every equity and the annual statements, then the valuation mart, the "
    "scorecard and the report.",
)
filings_job = _job(
    "filings",
    dg.AssetSelection.assets(RAW_SEC_FACTS, CAPEX, CAPEX_TREND, *ANSWERS, READER_SNAPSHOT),
    "SEC company facts and capex from filings, with the yfinance and curated fallbacks, then the capex "
    "mart, the scorecard and the report.",
)
JOBS = [all_assets_job, prices_job, fundamentals_job, filings_job]
