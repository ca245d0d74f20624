"""Great-expectations suites as Dagster asset checks, recorded in ``dq.check_results``."""

import json
from collections.abc import Iterator

import dagster as dg

from assets.loads import latest_load
from assets.quality.gx import Outcome, load_suite, validate
from assets.quality.record import record_outcomes
from orchestration.resources import WarehouseResource

SEVERITY = {"ERROR": dg.AssetCheckSeverity.ERROR, "WARN": dg.AssetCheckSeverity.WARN}


def fetch_failures_check(failures: dict[str, str]) -> dg.AssetCheckResult:
    """The WARN check every fetching asset reports: which tickers or filings failed, and why."""
    return dg.AssetCheckResult(
        check_name="fetch_failures",
        passed=not failures,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"failures": dg.MetadataValue.json(failures)},
    )


def to_check_result(asset_key: dg.AssetKey, outcome: Outcome) -> dg.AssetCheckResult:
    try:
        observed = json.loads(outcome.observed)
    except ValueError:
        observed = outcome.observed
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=outcome.name,
        passed=outcome.passed,
        severity=SEVERITY[outcome.severity],
        metadata={
            "observed": dg.MetadataValue.json(observed)
            if isinstance(observed, dict | list)
            else dg.MetadataValue.text(str(observed))
        },
        description=outcome.description or None,
    )


def gx_suite_checks(
    asset_key: dg.AssetKey,
    table: str,
    suite: str,
    load_asset: str | None = None,
) -> dg.AssetChecksDefinition:
    """One asset check per expectation of ``suite``, run on the rows of the asset's latest load.

    ERROR expectations are blocking: when one fails, assets downstream do not run.
    ``load_asset`` names the raw.loads entry whose ``load_id`` selects the rows (default: the
    table itself); tables without a load_id column are checked whole.
    """
    expectations = load_suite(suite)
    specs = [
        dg.AssetCheckSpec(
            name=e.name,
            asset=asset_key,
            blocking=e.severity == "ERROR",
            description=e.description or f"{e.expectation} {e.kwargs}",
        )
        for e in expectations
    ]

    @dg.multi_asset_check(specs=specs, name=f"{suite}_gx_suite", pool="duckdb")
    def _checks(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> Iterator[dg.AssetCheckResult]:
        with warehouse.transaction() as con:
            load = latest_load(con, load_asset or table)
            columns = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
            if load is not None and "load_id" in columns:
                frame = con.execute(f"SELECT * FROM {table} WHERE load_id = ?", [load["load_id"]]).pl()
            else:
                frame = con.execute(f"SELECT * FROM {table}").pl()
            outcomes = validate(frame, expectations)
            record_outcomes(con, table, outcomes, context.run.run_id)
        for outcome in outcomes:
            yield to_check_result(asset_key, outcome)

    return _checks
