"""Fundamentals assets: daily ``Ticker.info`` snapshots (kept per day) and annual statements."""

import json
from datetime import UTC, datetime

import dagster as dg
import polars as pl

from assets.fx import FX_DAILY
from assets.metadata import frame_metadata
from assets.operations import AFTER_UPSTREAM, DAILY, NETWORK_RETRY, WEEKLY, Progress
from assets.prices import CORE_PRICES
from assets.quality.checks import (
    FETCH_FAILURES_DESCRIPTION,
    audit,
    check_results,
    fetch_failures_check,
    markdown_table,
    only_selected,
    stop_if_blocking,
    suite_specs,
)
from assets.quality.profiles import recency_profile, snapshot_price_profile
from assets.quality.record import record_outcomes, replace_anomalies
from assets.scope import RunScope
from assets.sources.errors import SourceError, SourceUnavailable
from assets.sources.resource import SourceResource
from assets.sources.throttle import RateLimiter
from assets.transforms.fundamentals import (
    SNAPSHOT_SCHEMA,
    currency_mismatches,
    finite_number,
    recompute_pe,
    snapshot_from_info,
)
from assets.universe import equities, load_universe, select_tickers
from assets.warehouse import WarehouseResource, replace_rows, table_summary

RAW_INFO = dg.AssetKey(["raw", "fundamentals_info"])
SNAPSHOT = dg.AssetKey(["core", "fundamentals_snapshot"])
FINANCIALS = dg.AssetKey(["core", "financials_annual"])

# A snapshot is "what Yahoo says on a day": kept per day (the table key), never overwritten by
# another day. Not Dagster partitions: every job then launches with its defaults, and the day is
# the run's `scope.as_of` (default today, or the sample's last day).
SNAPSHOT_DAYS = (
    "One snapshot per day: re-running a day replaces that day only, other days are kept. The day is "
    "the run setting `scope.as_of` (default: today; the sample's last day in sample mode). Yahoo's "
    "`.info` is a snapshot of now, so with the live source only today can be fetched."
)


def _fetch_each(
    context: dg.AssetExecutionContext, rows: list[dict], fetch, per_second: float
) -> tuple[dict[str, object], dict[str, str]]:
    """Call ``fetch(row)`` per instrument: a SourceError is recorded, the others go on."""
    limiter = RateLimiter(per_second)
    progress = Progress(context.log, "tickers", len(rows))
    got: dict[str, object] = {}
    failures: dict[str, str] = {}
    for row in rows:
        limiter.wait()
        try:
            got[row["ticker"]] = fetch(row)
        except SourceUnavailable as exc:
            raise dg.Failure(description=str(exc), allow_retries=exc.retryable) from exc
        except SourceError as exc:
            failures[row["ticker"]] = exc.problem
            context.log.warning(str(exc))
        progress.step(1)
    progress.done()
    return got, failures


@dg.asset(
    key=RAW_INFO,
    group_name="raw",
    kinds={"duckdb", "yfinance"},
    pool="duckdb",
    description="yfinance `Ticker.info` for every equity, the whole response as JSON, one row per ticker and day. "
    + SNAPSHOT_DAYS,
    retry_policy=NETWORK_RETRY,
    freshness_policy=DAILY,
    check_specs=[
        dg.AssetCheckSpec("fetch_failures", asset=RAW_INFO, description=FETCH_FAILURES_DESCRIPTION),
        *suite_specs(RAW_INFO, "raw_fundamentals_info"),
    ],
)
def raw_fundamentals_info(
    context: dg.AssetExecutionContext, scope: RunScope, warehouse: WarehouseResource, source: SourceResource
) -> dg.MaterializeResult:
    adapter = source.adapter
    as_of = scope.snapshot_day(adapter)
    universe = equities(select_tickers(load_universe(), scope.tickers))
    infos, failures = _fetch_each(
        context, universe.to_dicts(), lambda row: adapter.fetch_info(row, as_of), adapter.requests_per_second
    )
    now = datetime.now(UTC)
    frame = pl.DataFrame(
        {
            "ticker": list(infos),
            "as_of_date": [as_of] * len(infos),
            "fetched_at": [now] * len(infos),
            "source": [adapter.name] * len(infos),
            "info": [json.dumps(i, default=str) for i in infos.values()],
        },
        schema={
            "ticker": pl.String,
            "as_of_date": pl.Date,
            "fetched_at": pl.Datetime("us", "UTC"),
            "source": pl.String,
            "info": pl.String,
        },
    )
    profile = pl.DataFrame(
        {"ticker": list(infos), "market_cap": [finite_number(i.get("marketCap")) for i in infos.values()]},
        schema={"ticker": pl.String, "market_cap": pl.Float64},
    )
    outcomes = audit("raw_fundamentals_info", {"rows": frame, "info": profile}, context=context, asset_key=RAW_INFO)
    stop_if_blocking(RAW_INFO, outcomes)
    with warehouse.transaction() as con:
        # only the tickers fetched now are replaced: a failed ticker keeps what the day had
        replace_rows(
            con, "raw.fundamentals_info", frame, "as_of_date = ? AND list_contains(?, ticker)", [as_of, list(infos)]
        )
        record_outcomes(con, "raw.fundamentals_info", outcomes, context.run.run_id)
        summary = table_summary(con, "raw.fundamentals_info", "as_of_date")
    return dg.MaterializeResult(
        metadata=frame_metadata(frame.drop("info"), date_col="as_of_date", failed_tickers=failures, **summary),
        check_results=only_selected(context, [fetch_failures_check(failures), *check_results(RAW_INFO, outcomes)]),
    )


@dg.asset(
    key=SNAPSHOT,
    deps=[RAW_INFO, FX_DAILY, CORE_PRICES],
    group_name="core",
    automation_condition=AFTER_UPSTREAM,
    freshness_policy=DAILY,
    kinds={"duckdb", "polars"},
    pool="duckdb",
    description=(
        "One row per (ticker, as_of_date): market cap, enterprise value, shares, trailing/forward "
        "P/E and EPS, price to book, dividend yield, quote and financial currency. Yahoo mixes "
        "currencies (HKD/USD prices over CNY earnings): P/E is recomputed with core.fx_daily "
        "and a gap over 20% is flagged in dq.price_anomalies as currency_mismatch. " + SNAPSHOT_DAYS
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "no_currency_mismatch",
            asset=SNAPSHOT,
            description="Warning: Yahoo's reported P/E is within 20% of price / EPS recomputed in one currency",
        ),
        *suite_specs(SNAPSHOT, "fundamentals_snapshot"),
    ],
)
def fundamentals_snapshot(
    context: dg.AssetExecutionContext, scope: RunScope, warehouse: WarehouseResource, source: SourceResource
) -> dg.MaterializeResult:
    as_of = scope.snapshot_day(source.adapter)
    with warehouse.connect() as con:
        raw = con.execute("SELECT * FROM raw.fundamentals_info WHERE as_of_date = ?", [as_of]).pl()
        if scope.tickers:  # a scoped run rebuilds only its tickers' rows of the day
            raw = raw.filter(pl.col("ticker").is_in(scope.tickers))
        fx = con.execute("SELECT * FROM core.fx_daily").pl()
        closes = con.execute(
            "SELECT ticker, arg_max(close, trade_date) AS close FROM core.prices_daily"
            " WHERE trade_date <= ? GROUP BY ticker",
            [as_of],
        ).pl()
    infos = [(t, json.loads(i)) for t, i in zip(raw["ticker"].to_list(), raw["info"].to_list(), strict=True)]
    # one frame for the day; source and fetched_at stay each ticker's own (from raw)
    snap = (
        snapshot_from_info(infos, as_of, "", datetime.now(UTC))
        .drop("source", "fetched_at")
        .join(raw.select("ticker", "source", "fetched_at"), on="ticker", how="left")
        .select(list(SNAPSHOT_SCHEMA))
    )
    snap = recompute_pe(snap, fx)
    mismatches = currency_mismatches(snap)
    outcomes = audit(
        "fundamentals_snapshot",
        {"rows": snap, "price_gap": snapshot_price_profile(snap, closes)},
        context=context,
        asset_key=SNAPSHOT,
    )
    stop_if_blocking(SNAPSHOT, outcomes)
    with warehouse.transaction() as con:
        replace_rows(
            con,
            "core.fundamentals_snapshot",
            snap,
            "as_of_date = ? AND (? OR list_contains(?, ticker))",
            [as_of, not scope.tickers, scope.tickers],
        )
        replace_anomalies(con, mismatches, snap["ticker"].to_list(), ["currency_mismatch"], on_date=as_of)
        record_outcomes(con, "core.fundamentals_snapshot", outcomes, context.run.run_id)
        summary = table_summary(con, "core.fundamentals_snapshot", "as_of_date")
    return dg.MaterializeResult(
        metadata=frame_metadata(snap, date_col="as_of_date", currency_mismatches=mismatches.height, **summary),
        check_results=only_selected(
            context,
            [
                dg.AssetCheckResult(
                    check_name="no_currency_mismatch",
                    passed=mismatches.is_empty(),
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"mismatches": dg.MetadataValue.md(markdown_table(mismatches))},
                ),
                *check_results(SNAPSHOT, outcomes),
            ],
        ),
    )


@dg.asset(
    key=FINANCIALS,
    deps=[SNAPSHOT],
    group_name="core",
    kinds={"duckdb", "polars", "yfinance"},
    pool="duckdb",
    retry_policy=NETWORK_RETRY,
    freshness_policy=WEEKLY,
    description=(
        "Yearly income statement, balance sheet and cash flow in long form, line items under "
        "yfinance's names (assets/line_items.csv maps the ones marts use). Values are in the "
        "reporting (financial) currency from the latest info snapshot, never the quote currency."
    ),
    check_specs=[
        dg.AssetCheckSpec("fetch_failures", asset=FINANCIALS, description=FETCH_FAILURES_DESCRIPTION),
        *suite_specs(FINANCIALS, "financials_annual"),
    ],
)
def financials_annual(
    context: dg.AssetExecutionContext, scope: RunScope, warehouse: WarehouseResource, source: SourceResource
) -> dg.MaterializeResult:
    universe = equities(select_tickers(load_universe(), scope.tickers))
    ccy = warehouse.query(
        "SELECT ticker, arg_max(financial_currency, as_of_date) AS currency FROM core.fundamentals_snapshot "
        "WHERE financial_currency IS NOT NULL GROUP BY ticker"
    )
    adapter = source.adapter
    got, failures = _fetch_each(context, universe.to_dicts(), adapter.fetch_financials, adapter.requests_per_second)
    parts = [f for f in got.values() if isinstance(f, pl.DataFrame) and f.height]
    now = datetime.now(UTC)
    frame = (
        pl.concat(parts, how="vertical")
        if parts
        else pl.DataFrame(
            schema={
                "ticker": pl.String,
                "fiscal_period_end": pl.Date,
                "statement": pl.String,
                "line_item": pl.String,
                "value": pl.Float64,
            }
        )
    )
    frame = (
        frame.join(ccy, on="ticker", how="left")
        .with_columns(pl.lit(adapter.name).alias("source"), pl.lit(now).alias("fetched_at"))
        .unique(["ticker", "fiscal_period_end", "statement", "line_item"], keep="last", maintain_order=True)
    )
    no_ccy = sorted(set(frame.filter(pl.col("currency").is_null())["ticker"].to_list()))
    if no_ccy:
        context.log.warning(f"no financial currency known (no info snapshot) for {no_ccy}: currency left null")
    outcomes = audit(
        "financials_annual",
        {"rows": frame, "recency": recency_profile(frame, "ticker", "fiscal_period_end", now.date())},
        context=context,
        asset_key=FINANCIALS,
    )
    stop_if_blocking(FINANCIALS, outcomes)
    with warehouse.transaction() as con:
        replace_rows(con, "core.financials_annual", frame, "list_contains(?, ticker)", [list(got)])
        record_outcomes(con, "core.financials_annual", outcomes, context.run.run_id)
        summary = table_summary(con, "core.financials_annual", "fiscal_period_end")
    return dg.MaterializeResult(
        metadata=frame_metadata(
            frame, date_col="fiscal_period_end", failed_tickers=failures, tickers_without_currency=no_ccy, **summary
        ),
        check_results=only_selected(context, [fetch_failures_check(failures), *check_results(FINANCIALS, outcomes)]),
    )
