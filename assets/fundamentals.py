"""Fundamentals assets: daily ``Ticker.info`` snapshots (kept per day) and annual statements."""

import json
from datetime import UTC, date, datetime

import dagster as dg
import polars as pl

from assets.fx import FX_DAILY
from assets.metadata import frame_metadata
from assets.prices import CORE_PRICES, PriceRunConfig
from assets.quality.checks import fetch_failures_check, gx_suite_checks
from assets.quality.record import replace_anomalies
from assets.sources.errors import SourceError, SourceUnavailable
from assets.sources.throttle import RateLimiter
from assets.transforms.fundamentals import SNAPSHOT_SCHEMA, currency_mismatches, recompute_pe, snapshot_from_info
from assets.universe import equities, load_universe, select_tickers
from orchestration.resources import SourceResource, WarehouseResource, replace_rows

RAW_INFO = dg.AssetKey(["raw", "fundamentals_info"])
SNAPSHOT = dg.AssetKey(["core", "fundamentals_snapshot"])
FINANCIALS = dg.AssetKey(["core", "financials_annual"])

# A snapshot is "what Yahoo says today": one partition per day, history never overwritten.
SNAPSHOT_PARTITIONS = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_offset=1)

NO_BACKFILL = (
    "Yahoo's `.info` is a snapshot of now: a past day cannot be fetched again, so with the live "
    "source only today's partition can be materialized (backfills of past days are refused). "
    "Re-running a day replaces that day only."
)


def _fetch_each(
    context: dg.AssetExecutionContext, rows: list[dict], fetch, per_second: float
) -> tuple[dict[str, object], dict[str, str]]:
    """Call ``fetch(row)`` per instrument: a SourceError is recorded, the others go on."""
    limiter = RateLimiter(per_second)
    got: dict[str, object] = {}
    failures: dict[str, str] = {}
    for row in rows:
        limiter.wait()
        try:
            got[row["ticker"]] = fetch(row)
        except SourceUnavailable as exc:
            raise dg.Failure(description=str(exc)) from exc
        except SourceError as exc:
            failures[row["ticker"]] = exc.problem
            context.log.warning(str(exc))
    return got, failures


@dg.asset(
    key=RAW_INFO,
    deps=[CORE_PRICES],
    partitions_def=SNAPSHOT_PARTITIONS,
    group_name="raw",
    kinds={"duckdb", "yfinance"},
    pool="duckdb",
    description="yfinance `Ticker.info` for every equity, the whole response as JSON, one row per ticker and day. "
    + NO_BACKFILL,
    check_specs=[dg.AssetCheckSpec("fetch_failures", asset=RAW_INFO, description="Tickers with no usable info")],
)
def raw_fundamentals_info(
    context: dg.AssetExecutionContext, config: PriceRunConfig, warehouse: WarehouseResource, source: SourceResource
) -> dg.MaterializeResult:
    as_of = date.fromisoformat(context.partition_key)
    if source.source == "live" and as_of != datetime.now(UTC).date():
        raise dg.Failure(description=f"partition {as_of}: {NO_BACKFILL}")
    universe = equities(select_tickers(load_universe(), config.tickers))
    closes = warehouse.query(
        "SELECT ticker, arg_max(close, trade_date) AS close FROM core.prices_daily "
        "WHERE trade_date <= ? GROUP BY ticker",
        [as_of],
    )
    last_close = dict(zip(closes["ticker"].to_list(), closes["close"].to_list(), strict=True))
    infos, failures = _fetch_each(
        context,
        universe.to_dicts(),
        lambda row: source.fetch_info(row, last_close.get(row["ticker"])),
        source.yahoo_requests_per_second if source.source == "live" else 1e9,
    )
    now = datetime.now(UTC)
    frame = pl.DataFrame(
        {
            "ticker": list(infos),
            "as_of_date": [as_of] * len(infos),
            "fetched_at": [now] * len(infos),
            "source": [source.source] * len(infos),
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
    with warehouse.transaction() as con:
        # only the tickers fetched now are replaced: a failed ticker keeps what the day had
        replace_rows(
            con, "raw.fundamentals_info", frame, "as_of_date = ? AND list_contains(?, ticker)", [as_of, list(infos)]
        )
    return dg.MaterializeResult(
        metadata=frame_metadata(frame.drop("info"), date_col="as_of_date", failed_tickers=failures),
        check_results=[fetch_failures_check(failures)],
    )


@dg.asset(
    key=SNAPSHOT,
    deps=[RAW_INFO, FX_DAILY],
    partitions_def=SNAPSHOT_PARTITIONS,
    group_name="core",
    kinds={"duckdb", "polars"},
    pool="duckdb",
    description=(
        "One row per (ticker, as_of_date): market cap, enterprise value, shares, trailing/forward "
        "P/E and EPS, price to book, dividend yield, quote and financial currency. Yahoo mixes "
        "currencies (HKD/USD prices over CNY earnings): P/E is recomputed with core.fx_daily "
        "and a gap over 20% is flagged in dq.price_anomalies as currency_mismatch. " + NO_BACKFILL
    ),
    check_specs=[
        dg.AssetCheckSpec("no_currency_mismatch", asset=SNAPSHOT, description="Reported P/E within 20% of recomputed"),
    ],
)
def fundamentals_snapshot(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    as_of = date.fromisoformat(context.partition_key)
    with warehouse.connect() as con:
        raw = con.execute("SELECT * FROM raw.fundamentals_info WHERE as_of_date = ?", [as_of]).pl()
        fx = con.execute("SELECT * FROM core.fx_daily").pl()
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
    with warehouse.transaction() as con:
        replace_rows(con, "core.fundamentals_snapshot", snap, "as_of_date = ?", [as_of])
        replace_anomalies(con, mismatches, snap["ticker"].to_list(), ["currency_mismatch"], on_date=as_of)
    return dg.MaterializeResult(
        metadata=frame_metadata(snap, date_col="as_of_date", currency_mismatches=mismatches.height),
        check_results=[
            dg.AssetCheckResult(
                check_name="no_currency_mismatch",
                passed=mismatches.is_empty(),
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"mismatches": dg.MetadataValue.md(str(mismatches)) if mismatches.height else "none"},
            )
        ],
    )


@dg.asset(
    key=FINANCIALS,
    deps=[SNAPSHOT],
    group_name="core",
    kinds={"duckdb", "polars", "yfinance"},
    pool="duckdb",
    description=(
        "Yearly income statement, balance sheet and cash flow in long form, line items under "
        "yfinance's names (assets/line_items.csv maps the ones marts use). Values are in the "
        "reporting (financial) currency from the latest info snapshot, never the quote currency."
    ),
    check_specs=[dg.AssetCheckSpec("fetch_failures", asset=FINANCIALS, description="Tickers with no statements")],
)
def financials_annual(
    context: dg.AssetExecutionContext, config: PriceRunConfig, warehouse: WarehouseResource, source: SourceResource
) -> dg.MaterializeResult:
    universe = equities(select_tickers(load_universe(), config.tickers))
    ccy = warehouse.query(
        "SELECT ticker, arg_max(financial_currency, as_of_date) AS currency FROM core.fundamentals_snapshot "
        "WHERE financial_currency IS NOT NULL GROUP BY ticker"
    )
    got, failures = _fetch_each(
        context,
        universe.to_dicts(),
        source.fetch_financials,
        source.yahoo_requests_per_second if source.source == "live" else 1e9,
    )
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
        .with_columns(pl.lit(source.source).alias("source"), pl.lit(now).alias("fetched_at"))
        .unique(["ticker", "fiscal_period_end", "statement", "line_item"], keep="last")
    )
    no_ccy = sorted(set(frame.filter(pl.col("currency").is_null())["ticker"].to_list()))
    if no_ccy:
        context.log.warning(f"no financial currency known (no info snapshot) for {no_ccy}: currency left null")
    with warehouse.transaction() as con:
        replace_rows(con, "core.financials_annual", frame, "list_contains(?, ticker)", [list(got)])
    return dg.MaterializeResult(
        metadata=frame_metadata(
            frame, date_col="fiscal_period_end", failed_tickers=failures, tickers_without_currency=no_ccy
        ),
        check_results=[fetch_failures_check(failures)],
    )


raw_fundamentals_info_checks = gx_suite_checks(RAW_INFO, "raw.fundamentals_info", "raw_fundamentals_info")
fundamentals_snapshot_checks = gx_suite_checks(SNAPSHOT, "core.fundamentals_snapshot", "fundamentals_snapshot")
financials_annual_checks = gx_suite_checks(FINANCIALS, "core.financials_annual", "financials_annual")
