"""Daily price assets: fetch raw bars, build core rows, record data-quality warnings.

Each asset reads like a sentence (fetch, transform, load, report); the logic lives in
``assets/transforms`` and ``sql/``.
"""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl

from assets.loads import latest_load, record_load
from assets.metadata import frame_metadata
from assets.quality.checks import fetch_failures_check, gx_suite_checks
from assets.quality.record import replace_anomalies
from assets.sources.errors import SourceUnavailable
from assets.transforms.anomalies import KINDS, detect_anomalies
from assets.transforms.prices import CORE_ANOMALY_KINDS, build_core, new_actions
from assets.universe import load_universe, select_tickers
from orchestration.resources import (
    SourceResource,
    WarehouseResource,
    new_load_id,
    replace_rows,
    upsert,
)

RAW_PRICES = dg.AssetKey(["raw", "prices_daily"])
CORE_PRICES = dg.AssetKey(["core", "prices_daily"])
PRICE_ANOMALIES = dg.AssetKey(["dq", "price_anomalies"])


class PriceRunConfig(dg.Config):
    """Run config: refresh only some tickers (empty = the whole universe)."""

    tickers: list[str] = []
    full_refresh: bool = False


def held_until(warehouse: WarehouseResource, source: str, tickers: list[str]) -> dict[str, date]:
    """The last trade date held in core per ticker, counting only rows from ``source``."""
    held = warehouse.query(
        "SELECT ticker, max(trade_date) AS last FROM core.prices_daily "
        "WHERE source = ? AND list_contains(?, ticker) GROUP BY ticker",
        [source, tickers],
    )
    return dict(zip(held["ticker"].to_list(), held["last"].to_list(), strict=True))


@dg.asset(
    key=RAW_PRICES,
    group_name="raw",
    kinds={"duckdb", "polars", "yfinance"},
    pool="duckdb",
    description=(
        "Daily bars as the source gave them (live: yfinance, raw prices plus actions; replay: "
        "recorded files in both CSV shapes; sample: synthetic). Incremental: only dates after "
        "those held, plus an overlap window for revisions; a ticker with a new dividend or "
        "split is reloaded whole. Select tickers with run config `tickers`."
    ),
    check_specs=[
        dg.AssetCheckSpec("fetch_failures", asset=RAW_PRICES, description="Tickers the source returned nothing for."),
    ],
)
def raw_prices_daily(
    context: dg.AssetExecutionContext,
    config: PriceRunConfig,
    warehouse: WarehouseResource,
    source: SourceResource,
) -> dg.MaterializeResult:
    universe = select_tickers(load_universe(), config.tickers)
    tickers = universe["ticker"].to_list()
    held = {} if config.full_refresh else held_until(warehouse, source.source, tickers)
    starts = {t: (held[t] - timedelta(days=source.overlap_days) if t in held else None) for t in tickers}
    adapter = source.prices()
    reload: list[str] = []
    try:
        fetched = adapter.fetch_prices(universe, starts)
        reload = new_actions(fetched.frame, held)
        if reload:
            context.log.info(f"new dividend or split, reloading whole history: {reload}")
            again = adapter.fetch_prices(universe.filter(pl.col("ticker").is_in(reload)), {t: None for t in reload})
            fetched.frame = pl.concat(
                [fetched.frame.filter(~pl.col("ticker").is_in(reload)), again.frame], how="vertical"
            )
            fetched.failures.update(again.failures)
    except SourceUnavailable as exc:
        raise dg.Failure(description=str(exc)) from exc
    for ticker, problem in sorted(fetched.failures.items()):
        context.log.warning(f"{ticker}: {problem}")

    load_id = new_load_id("raw_prices")
    full = [t for t in tickers if starts[t] is None] + reload
    frame = fetched.frame.with_columns(pl.lit(datetime.now(UTC)).alias("fetched_at"), pl.lit(load_id).alias("load_id"))
    with warehouse.transaction() as con:
        upsert(con, "raw.prices_daily", frame)
        record_load(
            con,
            load_id=load_id,
            asset="raw.prices_daily",
            source=source.source,
            tickers=sorted(set(frame["ticker"].to_list())),
            full_tickers=sorted(set(full)),
            row_count=frame.height,
            failures=fetched.failures,
        )
    return dg.MaterializeResult(
        metadata=frame_metadata(
            frame.drop("fetched_at"),
            load_id=load_id,
            source=source.source,
            failed_tickers=fetched.failures,
            full_reload_tickers=sorted(set(full)),
        ),
        check_results=[fetch_failures_check(fetched.failures)],
    )


@dg.asset(
    key=CORE_PRICES,
    deps=[RAW_PRICES],
    group_name="core",
    kinds={"duckdb", "polars"},
    pool="duckdb",
    description=(
        "One row per (ticker, exchange-local trade date): close as the source gave it, "
        "adj_close, dividend, split_ratio, currency and price_basis. Rows that break a hard "
        "invariant go to dq.rejected_prices with the reason instead; where both CSV shapes "
        "hold a ticker, rows merge by date and disagreements are flagged in dq.price_anomalies."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "rejected_rows", asset=CORE_PRICES, description="Rows kept out of core (dq.rejected_prices)."
        ),
    ],
)
def prices_daily(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    universe = load_universe()
    with warehouse.connect() as con:
        load = latest_load(con, "raw.prices_daily")
    if load is None:
        raise dg.Failure(description="raw.prices_daily has never been loaded: materialize raw/prices_daily first")
    raw = warehouse.query("SELECT * FROM raw.prices_daily WHERE load_id = ?", [load["load_id"]])
    core, rejected, flagged = build_core(raw, universe)
    load_id = load["load_id"]
    now = datetime.now(UTC)
    core = core.with_columns(pl.lit(load_id).alias("load_id"), pl.lit(now).alias("loaded_at"))
    full = [t for t in load["full_tickers"] if t in set(raw["ticker"].to_list())]
    with warehouse.transaction() as con:
        # whole reloads (first load, new action, other source) replace the ticker's rows
        replace_rows(
            con, "core.prices_daily", core.filter(pl.col("ticker").is_in(full)), "list_contains(?, ticker)", [full]
        )
        upsert(con, "core.prices_daily", core.filter(~pl.col("ticker").is_in(full)))
        upsert(
            con,
            "dq.rejected_prices",
            rejected.with_columns(pl.lit(load_id).alias("load_id"), pl.lit(now).alias("rejected_at")),
        )
        loaded = sorted(set(core["ticker"].to_list()))
        # flags from the load itself: whole history for full reloads, the fetched dates otherwise
        replace_anomalies(con, flagged.filter(pl.col("ticker").is_in(full)), full, kinds=CORE_ANOMALY_KINDS)
        partial = [t for t in loaded if t not in full]
        replace_anomalies(
            con,
            flagged.filter(pl.col("ticker").is_in(partial)),
            partial,
            kinds=CORE_ANOMALY_KINDS,
            within=raw.select("ticker", "trade_date"),
        )
        record_load(
            con,
            load_id=load_id,
            asset="core.prices_daily",
            source=load["source"],
            tickers=loaded,
            full_tickers=full,
            row_count=core.height,
        )
    by_reason = rejected.group_by("reason").len().sort("reason").rows() if rejected.height else []
    return dg.MaterializeResult(
        metadata=frame_metadata(
            core.drop("loaded_at"),
            load_id=load_id,
            rejected_rows=rejected.height,
            flagged_rows=flagged.height,
        ),
        check_results=[
            dg.AssetCheckResult(
                check_name="rejected_rows",
                passed=rejected.height == 0,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "rejected": dg.MetadataValue.int(rejected.height),
                    "by_reason": dg.MetadataValue.json(dict(by_reason)),
                    "tickers": dg.MetadataValue.text(", ".join(sorted(set(rejected["ticker"].to_list())))),
                },
            )
        ],
    )


@dg.asset(
    key=PRICE_ANOMALIES,
    deps=[CORE_PRICES],
    group_name="dq",
    kinds={"duckdb", "polars"},
    pool="duckdb",
    description=(
        "Data-quality warnings per ticker and date (unit errors, unadjusted or misadjusted "
        "splits, stale series, gaps beyond exchange holidays, tickers with no data), rerun over "
        "the whole history of the tickers just loaded. Thresholds: assets/quality/anomaly_rules.toml."
    ),
    check_specs=[
        dg.AssetCheckSpec(f"no_{kind}", asset=PRICE_ANOMALIES, description=f"No {kind} anomaly in the tickers loaded")
        for kind in KINDS
    ],
)
def price_anomalies(warehouse: WarehouseResource) -> dg.MaterializeResult:
    universe = load_universe()
    with warehouse.connect() as con:
        load = latest_load(con, "core.prices_daily")
        loaded = load["tickers"] if load else []
        held = {r[0] for r in con.execute("SELECT DISTINCT ticker FROM core.prices_daily").fetchall()}
        prices = con.execute("SELECT * FROM core.prices_daily WHERE list_contains(?, ticker)", [loaded]).pl()
    absent = [t for t in universe["ticker"].to_list() if t not in held]
    scope = sorted(set(loaded) | set(absent))
    found = detect_anomalies(prices, universe.filter(pl.col("ticker").is_in(scope)))
    with warehouse.transaction() as con:
        replace_anomalies(con, found, scope, kinds=list(KINDS))
    counts = dict(found.group_by("kind").len().rows())
    return dg.MaterializeResult(
        metadata=frame_metadata(found, by_kind=counts, tickers_checked=len(scope)),
        check_results=[
            dg.AssetCheckResult(
                check_name=f"no_{kind}",
                passed=counts.get(kind, 0) == 0,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "count": dg.MetadataValue.int(counts.get(kind, 0)),
                    "tickers": dg.MetadataValue.text(
                        ", ".join(sorted(set(found.filter(pl.col("kind") == kind)["ticker"].to_list())))
                    ),
                },
            )
            for kind in KINDS
        ],
    )


prices_daily_checks = gx_suite_checks(CORE_PRICES, "core.prices_daily", "prices_daily")
raw_prices_daily_checks = gx_suite_checks(RAW_PRICES, "raw.prices_daily", "raw_prices_daily")
price_anomalies_checks = gx_suite_checks(PRICE_ANOMALIES, "dq.price_anomalies", "price_anomalies")
