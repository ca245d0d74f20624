"""Helpers for the integration tests: run the real asset graph on a throwaway DuckDB file."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl

from assets.marts import (
    ADR_PREMIUM,
    AS_OF_DATES,
    BASKET_WEIGHTS,
    CAPEX_TREND,
    GROUP_MEMBERS,
    HSTECH_BASKET,
    INSTRUMENTS,
    PERFORMANCE,
    RETURNS_DAILY,
    SCORECARD,
    VALUATION,
    WEEKLY_STREAKS,
)
from assets.report import REPORT
from assets.scope import RunScope
from assets.sources.resource import SourceResource
from assets.warehouse import WarehouseResource
from orchestration.definitions import ASSET_MODULES

ASSETS = dg.load_assets_from_modules(ASSET_MODULES)
CHECKS = dg.load_asset_checks_from_modules(ASSET_MODULES)

# the last day of the sample series (assets/sources/sample.py SAMPLE_END): sample snapshots' default day
SAMPLE_DAY = "2026-08-21"

RAW_PRICES = dg.AssetKey(["raw", "prices_daily"])
CORE_PRICES = dg.AssetKey(["core", "prices_daily"])
PRICE_ANOMALIES = dg.AssetKey(["dq", "price_anomalies"])
FX_DAILY = dg.AssetKey(["core", "fx_daily"])
RAW_INFO = dg.AssetKey(["raw", "fundamentals_info"])
SNAPSHOT = dg.AssetKey(["core", "fundamentals_snapshot"])
FINANCIALS = dg.AssetKey(["core", "financials_annual"])
RAW_SEC_FACTS = dg.AssetKey(["raw", "sec_facts"])
CAPEX = dg.AssetKey(["core", "capex"])
REJECTED_PRICES = dg.AssetKey(["dq", "rejected_prices"])
CAPEX_ISSUES = dg.AssetKey(["dq", "capex_issues"])
READER_SNAPSHOT = dg.AssetKey(["publish", "reader_snapshot"])

MART_KEYS = {
    INSTRUMENTS,
    GROUP_MEMBERS,
    AS_OF_DATES,
    RETURNS_DAILY,
    HSTECH_BASKET,
    BASKET_WEIGHTS,
    PERFORMANCE,
    WEEKLY_STREAKS,
    CAPEX_TREND,
    VALUATION,
    ADR_PREMIUM,
    SCORECARD,
    REPORT,
}

ALL_ASSET_KEYS = {
    *MART_KEYS,
    RAW_PRICES,
    CORE_PRICES,
    PRICE_ANOMALIES,
    FX_DAILY,
    RAW_INFO,
    SNAPSHOT,
    FINANCIALS,
    RAW_SEC_FACTS,
    CAPEX,
    REJECTED_PRICES,  # reported by core/prices_daily and core/capex beside their own
    CAPEX_ISSUES,
    READER_SNAPSHOT,
}


def materialize(
    warehouse: Path | str,
    source: SourceResource,
    *,
    lake_data: str = "",
    selection: Any = None,
    tickers: list[str] | tuple[str, ...] = (),
    full_refresh: bool = False,
    as_of: str = "",
    raise_on_error: bool = False,
    lock_wait_seconds: float = 120.0,
) -> dg.ExecuteInProcessResult:
    """Materialize ``selection`` (default: every asset and check) with explicit resources, in process.

    ``warehouse`` is a DuckDB file or ``ducklake:<catalog>`` (data files under ``lake_data``).
    """
    return dg.materialize(
        [*ASSETS, *CHECKS],
        selection=selection,
        resources={
            "warehouse": WarehouseResource(
                mode=source.source, path=str(warehouse), lock_wait_seconds=lock_wait_seconds, lake_data=lake_data
            ),
            "source": source,
            "scope": RunScope(tickers=list(tickers), full_refresh=full_refresh, as_of=as_of),
        },
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=raise_on_error,
    )


def sample_source(tmp: Path) -> SourceResource:
    return SourceResource(source="sample", cache_dir=str(tmp / "cache"))


def replay_source(replay_dir: Path, tmp: Path) -> SourceResource:
    return SourceResource(source="replay", replay_dir=str(replay_dir), cache_dir=str(tmp / "cache"))


def query(warehouse: Path, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
    """Run SQL read-only on a warehouse file (no schema creation, no writes)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params or []).pl()


def scalar(warehouse: Path, sql: str, params: list[Any] | None = None) -> Any:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        row = con.execute(sql, params or []).fetchone()
    return None if row is None else row[0]


def copy_warehouse(src: Path, dest_dir: Path, name: str = "warehouse.duckdb") -> Path:
    """A private copy of a (closed) warehouse file, so a test can write without touching the shared one."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / name
    shutil.copy(src, dest)
    wal = src.with_name(src.name + ".wal")
    if wal.exists():
        shutil.copy(wal, dest.with_name(dest.name + ".wal"))
    return dest


def failure_messages(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    """Step key -> error message of every failed step, with the messages of its causes."""
    out: dict[str, str] = {}
    for event in result.get_step_failure_events():
        error, parts = event.event_specific_data.error, []
        while error is not None:
            parts.append(error.message.strip())
            error = error.cause
        out[event.step_key] = "\n".join(parts)
    return out


def materialized_keys(result: dg.ExecuteInProcessResult) -> set[dg.AssetKey]:
    return {e.asset_key for e in result.get_asset_materialization_events()}


def started_steps(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}


def failed_error_checks(result: dg.ExecuteInProcessResult) -> list[str]:
    return [
        f"{e.asset_key.to_user_string()}:{e.check_name}"
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
    ]
