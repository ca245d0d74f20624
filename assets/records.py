"""Tables every asset writes beside its own: the load log and the check record, shown in the lineage.

They are not materialized by a step of their own (each asset writes its rows in its publishing
transaction), so they are declared as asset specs: the UI lists them with their description.
"""

import dagster as dg

from assets.capex import CAPEX, CAPEX_ISSUES
from assets.prices import CORE_PRICES, REJECTED_PRICES

rejected_prices = dg.AssetSpec(
    REJECTED_PRICES,
    deps=[CORE_PRICES],
    group_name="dq",
    kinds={"duckdb"},
    description="dq.rejected_prices: rows kept out of core.prices_daily with the reason and the original row "
    "(missing or non-finite close, weekend bar, conflicting duplicate...). Written by core/prices_daily.",
)
capex_issues = dg.AssetSpec(
    CAPEX_ISSUES,
    deps=[CAPEX],
    group_name="dq",
    kinds={"duckdb"},
    description="dq.capex_issues: years with no standard capex concept, 5x jumps, companies with no capex. "
    "Written by core/capex.",
)
loads = dg.AssetSpec(
    dg.AssetKey(["raw", "loads"]),
    group_name="raw",
    kinds={"duckdb"},
    description="raw.loads: one row per load of any asset (source, Dagster run, tickers, whole reloads, "
    "failures). Each core step reads the raw load its own run wrote.",
)
check_results = dg.AssetSpec(
    dg.AssetKey(["dq", "check_results"]),
    group_name="dq",
    kinds={"duckdb"},
    description="dq.check_results: every great-expectations outcome of every published load (asset, check, "
    "passed, severity, observed, run).",
)

SPECS = [rejected_prices, capex_issues, loads, check_results]
