"""Daily price assets: fetch raw bars, build core rows, record data-quality warnings.

Each asset reads like a sentence (fetch, stage, audit, publish, report); the logic lives in
``assets/transforms``, ``assets/quality`` and ``sql/``.
"""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import duckdb
import polars as pl

from assets.loads import record_load, run_load
from assets.metadata import frame_metadata
from assets.operations import AFTER_UPSTREAM, DAILY, NETWORK_RETRY, Progress
from assets.quality.checks import (
    FETCH_FAILURES_DESCRIPTION,
    audit,
    check_results,
    fetch_failures_check,
    stop_if_blocking,
    suite_specs,
)
from assets.quality.profiles import flagged_share_profile, freshness_profile, history_profile, returns_profile
from assets.quality.record import record_outcomes, replace_anomalies
from assets.scope import RunScope
from assets.sources.adapters import Source
from assets.sources.base import PriceFetch
from assets.sources.errors import SourceUnavailable
from assets.sources.resource import SourceResource
from assets.transforms.anomalies import KINDS, detect_anomalies
from assets.transforms.prices import CORE_ANOMALY_KINDS, build_core, conflict_anomalies, new_actions
from assets.universe import load_universe, select_tickers
from assets.warehouse import WarehouseResource, change_counts, new_load_id, replace_rows, table_summary, upsert

RAW_PRICES = dg.AssetKey(["raw", "prices_daily"])
CORE_PRICES = dg.AssetKey(["core", "prices_daily"])
PRICE_ANOMALIES = dg.AssetKey(["dq", "price_anomalies"])


REJECTED_PRICES = dg.AssetKey(["dq", "rejected_prices"])
FETCH_CHUNK = 50  # tickers per fetch call: progress is logged between chunks

PRICE_COLUMNS = ["open", "high", "low", "close", "adj_close", "volume"]


def held_stats(warehouse: WarehouseResource, tickers: list[str]) -> pl.DataFrame:
    """Per ticker in core: rows, first and last trade date (what readers have now)."""
    return warehouse.query(
        "SELECT ticker, count(*) AS rows, min(trade_date) AS first_date, max(trade_date) AS last_date"
        " FROM core.prices_daily WHERE list_contains(?, ticker) GROUP BY ticker",
        [tickers],
    )


def fetch_in_chunks(
    context: dg.AssetExecutionContext, adapter: Source, universe: pl.DataFrame, starts: dict[str, date | None]
) -> PriceFetch:
    """The adapter's fetch, a chunk of tickers at a time, logging `n/N tickers, rows, elapsed`."""
    progress = Progress(context.log, "tickers", universe.height)
    frames, conflicts, failures = [], [], {}
    for chunk in universe.iter_slices(FETCH_CHUNK):
        got = adapter.fetch_prices(chunk, {t: starts[t] for t in chunk["ticker"]})
        frames.append(got.frame)
        conflicts.append(got.conflicts)
        failures.update(got.failures)
        progress.step(chunk.height, got.frame.height)
    progress.done()
    return PriceFetch(pl.concat(frames), failures, pl.concat(conflicts))


def rows_removed(con: duckdb.DuckDBPyConnection, staged: pl.DataFrame, tickers: list[str]) -> int:
    """Rows of whole-reloaded tickers that readers have now and the new load no longer holds."""
    if not tickers:
        return 0
    con.register("_reloaded", staged.select("ticker", "trade_date").to_arrow())
    try:
        (count,) = con.execute(
            "SELECT count(*) FROM core.prices_daily p WHERE list_contains(?, p.ticker) AND NOT EXISTS"
            " (SELECT 1 FROM _reloaded r WHERE r.ticker = p.ticker AND r.trade_date = p.trade_date)",
            [tickers],
        ).fetchone()  # type: ignore[misc]
    finally:
        con.unregister("_reloaded")
    return int(count)


def run_summary(
    requested: list[str], frame: pl.DataFrame, failures: dict[str, str], changes: dict[str, int]
) -> dict[str, object]:
    """What a load did, for the asset's metadata: tickers loaded, skipped, failed; rows by change."""
    loaded = sorted(set(frame["ticker"].to_list()))
    skipped = sorted(set(requested) - set(loaded) - set(failures))
    return {
        "tickers_loaded": len(loaded),
        "tickers_skipped": dg.MetadataValue.text(", ".join(skipped) or "none (nothing new for them)"),
        "tickers_failed": dg.MetadataValue.json(dict(sorted(failures.items()))),
        "rows_inserted": changes["inserted"],
        "rows_updated": changes["updated"],
        "rows_unchanged": changes["unchanged"],
    }


@dg.asset(
    key=RAW_PRICES,
    group_name="raw",
    kinds={"duckdb", "polars", "yfinance"},
    pool="duckdb",
    description=(
        "Daily bars as the source gave them (live: yfinance, split-adjusted prices plus Adj Close "
        "and actions; replay: recorded files in both CSV shapes; sample: synthetic, shaped the same). "
        "Incremental: only dates after those held, plus an overlap window for revisions; a ticker "
        "with a new dividend or split is reloaded whole. Select tickers with run config `tickers`."
    ),
    check_specs=[
        dg.AssetCheckSpec("fetch_failures", asset=RAW_PRICES, description=FETCH_FAILURES_DESCRIPTION),
        *suite_specs(RAW_PRICES, "raw_prices_daily"),
    ],
    retry_policy=NETWORK_RETRY,
    freshness_policy=DAILY,
)
def raw_prices_daily(
    context: dg.AssetExecutionContext,
    scope: RunScope,
    warehouse: WarehouseResource,
    source: SourceResource,
) -> dg.MaterializeResult:
    universe = select_tickers(load_universe(), scope.tickers)
    tickers = universe["ticker"].to_list()
    held = held_stats(warehouse, tickers)
    last = {} if scope.full_refresh else dict(zip(held["ticker"], held["last_date"], strict=True))
    starts = {t: (last[t] - timedelta(days=source.overlap_days) if t in last else None) for t in tickers}
    adapter = source.adapter
    try:
        fetched = fetch_in_chunks(context, adapter, universe, starts)
        reload = new_actions(fetched.frame, last)
        if reload:
            context.log.info(f"new dividend or split, reloading whole history: {reload}")
            again = adapter.fetch_prices(universe.filter(pl.col("ticker").is_in(reload)), {t: None for t in reload})
            fetched.frame = pl.concat([fetched.frame.filter(~pl.col("ticker").is_in(reload)), again.frame])
            fetched.conflicts = pl.concat([fetched.conflicts.filter(~pl.col("ticker").is_in(reload)), again.conflicts])
            fetched.failures.update(again.failures)
    except SourceUnavailable as exc:
        raise dg.Failure(description=str(exc), allow_retries=exc.retryable) from exc
    for ticker, problem in sorted(fetched.failures.items()):
        context.log.warning(f"{ticker}: {problem}")

    # stage
    load_id = new_load_id("raw_prices")
    full = sorted({t for t in tickers if starts[t] is None} | set(reload))
    now = datetime.now(UTC)
    frame = fetched.frame.with_columns(pl.lit(now).alias("fetched_at"), pl.lit(load_id).alias("load_id"))
    conflicts = fetched.conflicts.with_columns(pl.lit(load_id).alias("load_id"), pl.lit(now).alias("rejected_at"))
    # audit
    outcomes = audit("raw_prices_daily", {"rows": frame, "history": history_profile(frame, held, full)})
    stop_if_blocking(RAW_PRICES, outcomes)
    # publish
    with warehouse.transaction() as con:
        changes = change_counts(
            con, "raw.prices_daily", frame, ["ticker", "source", "shape", "trade_date"], PRICE_COLUMNS
        )
        upsert(con, "raw.prices_daily", frame)
        upsert(con, "dq.rejected_prices", conflicts.unique(["ticker", "source", "shape", "trade_date", "reason"]))
        replace_anomalies(
            con,
            conflict_anomalies(fetched.conflicts),
            sorted(set(fetched.conflicts["ticker"].to_list())),
            kinds=["conflicting_duplicate"],
            within=fetched.conflicts.select("ticker", "trade_date"),
        )
        record_load(
            con,
            load_id=load_id,
            asset="raw.prices_daily",
            source=adapter.name,
            tickers=sorted(set(frame["ticker"].to_list())),
            full_tickers=full,
            row_count=frame.height,
            failures=fetched.failures,
            run_id=context.run.run_id,
        )
        record_outcomes(con, "raw.prices_daily", outcomes, context.run.run_id)
        summary = table_summary(con, "raw.prices_daily", "trade_date")
    return dg.MaterializeResult(
        metadata=frame_metadata(
            frame.drop("fetched_at"),
            load_id=load_id,
            source=adapter.name,
            failed_tickers=fetched.failures,
            full_reload_tickers=full,
            conflicting_duplicates=conflicts.height,
            **summary,
            **run_summary(tickers, frame, fetched.failures, changes),
        ),
        check_results=[fetch_failures_check(fetched.failures), *check_results(RAW_PRICES, outcomes)],
    )


def reference_date(last_dates: pl.Series, live: bool) -> date:
    """Freshness is judged against today for live data, against the recording's end otherwise."""
    if live or last_dates.is_empty():
        return datetime.now(UTC).date()
    return last_dates.max()  # type: ignore[return-value]


@dg.asset(
    key=CORE_PRICES,
    deps=[RAW_PRICES],
    group_name="core",
    automation_condition=AFTER_UPSTREAM,
    freshness_policy=DAILY,
    kinds={"duckdb", "polars"},
    pool="duckdb",
    description=(
        "One row per (ticker, exchange-local trade date): split-adjusted open/high/low/close, "
        "adj_close (splits and dividends: the total-return series), dividend, split_ratio, "
        "currency and price_basis. Built from the raw load of the same run; rows that break a hard "
        "invariant go to dq.rejected_prices with the reason instead; where both CSV shapes hold a "
        "ticker, rows merge by date and disagreements are flagged in dq.price_anomalies."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "rejected_rows",
            asset=CORE_PRICES,
            description="Warning: rows kept out of core (missing or non-finite close, non-positive price, "
            "future date, weekend bar...), listed in dq.rejected_prices with the reason.",
        ),
        *suite_specs(CORE_PRICES, "prices_daily"),
    ],
)
def prices_daily(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, source: SourceResource
) -> dg.MaterializeResult:
    universe = load_universe()
    with warehouse.connect() as con:
        load = run_load(con, "raw.prices_daily", context.run.run_id)
        if load is None:
            raise dg.Failure(description="raw.prices_daily has never been loaded: materialize raw/prices_daily first")
        raw = con.execute("SELECT * FROM raw.prices_daily WHERE load_id = ?", [load["load_id"]]).pl()
        loaded = sorted(set(raw["ticker"].to_list()))
        history = con.execute(
            "SELECT ticker, trade_date, adj_close, dividend, split_ratio FROM core.prices_daily"
            " WHERE list_contains(?, ticker)",
            [loaded],
        ).pl()
        last = con.execute("SELECT ticker, max(trade_date) AS last_date FROM core.prices_daily GROUP BY ticker").pl()
    # stage
    core, rejected, flagged = build_core(raw, universe)
    load_id = load["load_id"]
    now = datetime.now(UTC)
    core = core.with_columns(pl.lit(load_id).alias("load_id"), pl.lit(now).alias("loaded_at"))
    full = [t for t in load["full_tickers"] if t in set(loaded)]
    # audit: the staged rows in the context of what readers will see after the publish
    after = pl.concat([history.filter(~pl.col("ticker").is_in(full)), core.select(history.columns)])
    last_after = pl.concat(
        [
            last.filter(~pl.col("ticker").is_in(loaded)),
            core.group_by("ticker").agg(pl.col("trade_date").max().alias("last_date")),
        ]
    )
    live = source.adapter.snapshots_are_now
    outcomes = audit(
        "prices_daily",
        {
            "rows": core,
            "returns": returns_profile(after, core),
            "freshness": freshness_profile(
                last_after.filter(pl.col("ticker").is_in(loaded)),
                universe,
                reference_date(last_after["last_date"], live),
            ),
        },
    )
    stop_if_blocking(CORE_PRICES, outcomes)
    # publish
    with warehouse.transaction() as con:
        changes = change_counts(con, "core.prices_daily", core, ["ticker", "trade_date"], PRICE_COLUMNS)
        removed = rows_removed(con, core.filter(pl.col("ticker").is_in(full)), full)
        # whole reloads replace the ticker's rows; incremental loads upsert their dates
        replace_rows(
            con, "core.prices_daily", core.filter(pl.col("ticker").is_in(full)), "list_contains(?, ticker)", [full]
        )
        upsert(con, "core.prices_daily", core.filter(~pl.col("ticker").is_in(full)))
        upsert(
            con,
            "dq.rejected_prices",
            rejected.with_columns(pl.lit(load_id).alias("load_id"), pl.lit(now).alias("rejected_at")),
        )
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
            tickers=sorted(set(core["ticker"].to_list())),
            full_tickers=full,
            row_count=core.height,
            run_id=context.run.run_id,
        )
        record_outcomes(con, "core.prices_daily", outcomes, context.run.run_id)
        summary = table_summary(con, "core.prices_daily", "trade_date")
        rejected_total = table_summary(con, "dq.rejected_prices", "trade_date")
    by_reason = dict(rejected.group_by("reason").len().sort("reason").rows()) if rejected.height else {}
    context.log_event(
        dg.AssetMaterialization(
            asset_key=REJECTED_PRICES,
            metadata=frame_metadata(rejected, load_id=load_id, by_reason=by_reason, **rejected_total),
        )
    )
    return dg.MaterializeResult(
        metadata=frame_metadata(
            core.drop("loaded_at"),
            load_id=load_id,
            rejected_rows=rejected.height,
            flagged_rows=flagged.height,
            rows_removed_by_whole_reloads=removed,
            **summary,
            **run_summary(loaded, core, load["failures"], changes),
        ),
        check_results=[
            dg.AssetCheckResult(
                check_name="rejected_rows",
                passed=rejected.height == 0,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "rejected": dg.MetadataValue.int(rejected.height),
                    "by_reason": dg.MetadataValue.json(by_reason),
                    "tickers": dg.MetadataValue.text(", ".join(sorted(set(rejected["ticker"].to_list())))),
                },
            ),
            *check_results(CORE_PRICES, outcomes),
        ],
    )


@dg.asset(
    key=PRICE_ANOMALIES,
    deps=[CORE_PRICES],
    group_name="dq",
    automation_condition=AFTER_UPSTREAM,
    kinds={"duckdb", "polars"},
    pool="duckdb",
    description=(
        "Data-quality warnings per ticker and date (unit errors and unit switches, unreported splits, "
        "splits not back-adjusted, stale series, gaps beyond exchange holidays, tickers with no "
        "data), rerun over the whole history of the tickers this run loaded. Thresholds: "
        "assets/quality/anomaly_rules.toml."
    ),
    check_specs=[
        *[
            dg.AssetCheckSpec(f"no_{kind}", asset=PRICE_ANOMALIES, description=f"Warning: {description}")
            for kind, description in KINDS.items()
        ],
        *suite_specs(PRICE_ANOMALIES, "price_anomalies"),
    ],
)
def price_anomalies(
    context: dg.AssetExecutionContext, scope: RunScope, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    universe = select_tickers(load_universe(), scope.tickers)
    with warehouse.connect() as con:
        load = run_load(con, "core.prices_daily", context.run.run_id)
        loaded = load["tickers"] if load else []
        held = {r[0] for r in con.execute("SELECT DISTINCT ticker FROM core.prices_daily").fetchall()}
        prices = con.execute("SELECT * FROM core.prices_daily WHERE list_contains(?, ticker)", [loaded]).pl()
    # a ticker of the universe that core has never held is reported as no_data
    absent = [t for t in universe["ticker"].to_list() if t not in held]
    scope = sorted(set(loaded) | set(absent))
    found = detect_anomalies(prices, universe.filter(pl.col("ticker").is_in(scope)))
    with warehouse.transaction() as con:
        replace_anomalies(con, found, scope, kinds=list(KINDS))
        anomalies = con.execute("SELECT * FROM dq.price_anomalies WHERE list_contains(?, ticker)", [loaded]).pl()
        counts_frame = prices.group_by("ticker").agg(pl.len().alias("rows"))
        outcomes = audit("price_anomalies", {"flagged_share": flagged_share_profile(anomalies, counts_frame)})
        stop_if_blocking(PRICE_ANOMALIES, outcomes)
        record_outcomes(con, "dq.price_anomalies", outcomes, context.run.run_id)
        summary = table_summary(con, "dq.price_anomalies", "trade_date")
    counts = dict(found.group_by("kind").len().rows())
    return dg.MaterializeResult(
        metadata=frame_metadata(found, by_kind=counts, tickers_checked=len(scope), **summary),
        check_results=[
            *[
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
            *check_results(PRICE_ANOMALIES, outcomes),
        ],
    )
