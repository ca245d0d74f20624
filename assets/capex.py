"""Capex assets: SEC XBRL company facts, then capex per company and period with fallbacks."""

from datetime import UTC, datetime

import dagster as dg
import polars as pl

from assets.fundamentals import FINANCIALS
from assets.fx import FX_DAILY
from assets.loads import record_load
from assets.metadata import frame_metadata
from assets.operations import AFTER_UPSTREAM, NETWORK_RETRY, WEEKLY
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
from assets.quality.profiles import recency_profile
from assets.quality.record import record_outcomes
from assets.scope import RunScope
from assets.sources.curated import load_curated_capex
from assets.sources.errors import SourceError, SourceUnavailable
from assets.sources.resource import SourceResource
from assets.sources.sec import (
    RAW_SEC_FACTS_SCHEMA,
    cik_key,
    load_capex_concepts,
    load_include_intangibles,
    parse_companyfacts,
)
from assets.transforms.capex import (
    add_capex_usd,
    capex_from_curated,
    capex_from_financials,
    capex_gaps,
    combine_capex,
    select_capex,
    to_company_tickers,
    unknown_currencies,
    yoy_jumps,
)
from assets.universe import equities, load_universe, sec_filers, select_tickers
from assets.warehouse import WarehouseResource, new_load_id, replace_rows, table_summary

RAW_SEC_FACTS = dg.AssetKey(["raw", "sec_facts"])
CAPEX = dg.AssetKey(["core", "capex"])
CAPEX_ISSUES = dg.AssetKey(["dq", "capex_issues"])
YOY_FACTOR = 5.0


@dg.asset(
    key=RAW_SEC_FACTS,
    group_name="raw",
    kinds={"duckdb", "polars"},
    pool="duckdb",
    description=(
        "Every XBRL fact of every universe company with a CIK (SEC company facts API), long form. "
        "Live mode needs CHINATECH_SEC_USER_AGENT (SEC fair-access rules), paces to 10 requests/s, "
        "retries 429/5xx and caches raw responses for a day. A re-run replaces each company's facts."
    ),
    retry_policy=NETWORK_RETRY,
    freshness_policy=WEEKLY,
    check_specs=[
        dg.AssetCheckSpec("fetch_failures", asset=RAW_SEC_FACTS, description=FETCH_FAILURES_DESCRIPTION),
        *suite_specs(RAW_SEC_FACTS, "raw_sec_facts"),
    ],
)
def raw_sec_facts(
    context: dg.AssetExecutionContext, scope: RunScope, warehouse: WarehouseResource, source: SourceResource
) -> dg.MaterializeResult:
    filers = sec_filers(select_tickers(load_universe(), scope.tickers))
    adapter = source.adapter
    parts = [pl.DataFrame(schema=RAW_SEC_FACTS_SCHEMA)]
    failures: dict[str, str] = {}
    for filer in filers.to_dicts():
        try:
            doc = adapter.fetch_companyfacts(filer)
            parts.append(parse_companyfacts(doc, adapter.name))
        except SourceUnavailable as exc:
            raise dg.Failure(description=str(exc), allow_retries=exc.retryable) from exc
        except SourceError as exc:
            failures[f"{exc.key} ({filer['ticker']})"] = exc.problem
            context.log.warning(f"{filer['ticker']}: {exc}")
    load_id = new_load_id("sec_facts")
    facts = (
        pl.concat(parts, how="vertical")
        .unique(
            ["cik", "taxonomy", "concept", "unit", "period_start", "period_end", "accn"],
            keep="last",
            maintain_order=True,
        )
        .with_columns(pl.lit(datetime.now(UTC)).alias("fetched_at"), pl.lit(load_id).alias("load_id"))
    )
    ciks = sorted(set(facts["cik"].to_list()))
    outcomes = audit(
        "raw_sec_facts",
        {"rows": facts, "recency": recency_profile(facts, "cik", "filed", datetime.now(UTC).date())},
        context=context,
        asset_key=RAW_SEC_FACTS,
    )
    stop_if_blocking(RAW_SEC_FACTS, outcomes)
    with warehouse.transaction() as con:
        replace_rows(con, "raw.sec_facts", facts, "list_contains(?, cik)", [ciks])
        record_load(
            con,
            load_id=load_id,
            asset="raw.sec_facts",
            source=adapter.name,
            tickers=[cik_key(c) for c in ciks],
            row_count=facts.height,
            failures=failures,
            run_id=context.run.run_id,
        )
        record_outcomes(con, "raw.sec_facts", outcomes, context.run.run_id)
        summary = table_summary(con, "raw.sec_facts", "period_end")
    return dg.MaterializeResult(
        metadata=frame_metadata(
            facts.drop("fetched_at"), date_col="period_end", key_col="cik", failed_filers=failures, **summary
        ),
        check_results=only_selected(context, [fetch_failures_check(failures), *check_results(RAW_SEC_FACTS, outcomes)]),
    )


@dg.asset(
    key=CAPEX,
    deps=[RAW_SEC_FACTS, FINANCIALS, FX_DAILY],
    group_name="core",
    automation_condition=AFTER_UPSTREAM,
    freshness_policy=WEEKLY,
    kinds={"duckdb", "polars"},
    pool="duckdb",
    description=(
        "Capital expenditure per company, period end and duration (annual, quarterly) and filing "
        "version, as a positive outflow in the reporting currency, with capex_usd at the "
        "fiscal-period average rate from core.fx_daily. Sources in order: SEC filings (concept "
        "chosen per period by assets/capex_concepts.csv), curated figures from annual reports "
        "(assets/curated_capex.csv, with citations), yfinance's yearly cash flow. View "
        "core.capex_annual_latest gives one latest annual value per company and fiscal year; "
        "dq.capex_issues lists years with no standard capex concept, 5x jumps and companies "
        "with none."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "companies_with_capex",
            asset=CAPEX,
            description="Warning: every equity company has some capex (SEC filings, curated figures or yfinance)",
        ),
        dg.AssetCheckSpec(
            "no_yoy_jump_over_5x",
            asset=CAPEX,
            description="Warning: each company's latest annual capex is within 5x of its prior year",
        ),
        dg.AssetCheckSpec(
            "standard_concept_every_year",
            asset=CAPEX,
            description="Warning: every annual report has a standard capex concept or a fallback figure",
        ),
        dg.AssetCheckSpec(
            "currency_known",
            asset=CAPEX,
            description="Warning: every capex figure is in an ISO 4217 currency; figures in another unit "
            "(RMB, NTD, a yfinance figure with no reporting currency) are refused and listed, never converted",
        ),
        *suite_specs(CAPEX, "capex"),
    ],
)
def capex(
    context: dg.AssetExecutionContext, scope: RunScope, warehouse: WarehouseResource, source: SourceResource
) -> dg.MaterializeResult:
    universe = load_universe()
    filers = sec_filers(universe)
    with warehouse.connect() as con:
        facts = con.execute("SELECT * FROM raw.sec_facts").pl()
        financials = con.execute("SELECT * FROM core.financials_annual").pl()
        fx = con.execute("SELECT * FROM core.fx_daily").pl()
    concepts = load_capex_concepts()
    sec = select_capex(facts, filers, concepts, load_include_intangibles())
    refused = unknown_currencies(facts, filers, concepts)
    fallback = capex_from_financials(financials)
    unknown_ccy = fallback.filter(pl.col("currency").is_null())
    fallback = to_company_tickers(fallback.filter(pl.col("currency").is_not_null()), universe, filers)
    curated = capex_from_curated(load_curated_capex())
    combined = add_capex_usd(combine_capex(sec, fallback, curated), fx).with_columns(
        pl.lit(source.adapter.name).alias("source_mode")
    )
    issues = _issues(facts, combined, filers, universe, unknown_ccy, refused)
    now = datetime.now(UTC)
    outcomes = audit("capex", combined, context=context, asset_key=CAPEX)
    stop_if_blocking(CAPEX, outcomes)
    # a run scoped to some tickers rewrites only their companies' rows (9888.HK -> BIDU)
    companies = company_tickers(universe, filers, scope.tickers) if scope.tickers else None
    if companies is not None:
        combined = combined.filter(pl.col("ticker").is_in(companies))
        issues = issues.filter(pl.col("ticker").is_in(companies))
    where, params = ("true", []) if companies is None else ("list_contains(?, ticker)", [companies])
    with warehouse.transaction() as con:
        replace_rows(con, "core.capex", combined.with_columns(pl.lit(now).alias("loaded_at")), where, params)
        replace_rows(con, "dq.capex_issues", issues.with_columns(pl.lit(now).alias("detected_at")), where, params)
        record_outcomes(con, "core.capex", outcomes, context.run.run_id)
        summary = table_summary(con, "core.capex", "period_end")
    context.log_event(
        dg.AssetMaterialization(
            asset_key=CAPEX_ISSUES,
            metadata=frame_metadata(issues, date_col=None, by_kind=dict(issues.group_by("kind").len().rows())),
        )
    )
    kinds = ("missing_standard_capex", "yoy_jump", "no_capex", "unknown_currency")
    by_kind = {k: issues.filter(pl.col("kind") == k) for k in kinds}
    return dg.MaterializeResult(
        metadata=frame_metadata(
            combined,
            date_col="period_end",
            by_source=dict(combined.group_by("source").len().rows()),
            issues=dict(issues.group_by("kind").len().rows()),
            **summary,
        ),
        check_results=only_selected(
            context,
            [
                _issue_check("companies_with_capex", by_kind["no_capex"]),
                _issue_check("no_yoy_jump_over_5x", by_kind["yoy_jump"]),
                _issue_check("standard_concept_every_year", by_kind["missing_standard_capex"]),
                _issue_check("currency_known", by_kind["unknown_currency"]),
                *check_results(CAPEX, outcomes),
            ],
        ),
    )


def company_tickers(universe: pl.DataFrame, filers: pl.DataFrame, tickers: list[str]) -> list[str]:
    """The tickers capex rows are kept under for these universe tickers (an SEC filer's HK line -> its ADR)."""
    lines = universe.filter(pl.col("ticker").is_in(tickers)).select("ticker", "cik")
    mapped = lines.join(filers.select("cik", pl.col("ticker").alias("company")), on="cik", how="left")
    return sorted(set(mapped.select(pl.coalesce("company", "ticker"))["company"].to_list()))


def _issue_check(name: str, rows: pl.DataFrame) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=name,
        passed=rows.is_empty(),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "count": dg.MetadataValue.int(rows.height),
            "rows": dg.MetadataValue.md(markdown_table(rows.head(30))),
        },
    )


def _issues(
    facts: pl.DataFrame,
    combined: pl.DataFrame,
    filers: pl.DataFrame,
    universe: pl.DataFrame,
    unknown_ccy: pl.DataFrame,
    refused: pl.DataFrame,
) -> pl.DataFrame:
    """Everything the capex layer could not answer, for dq.capex_issues."""
    schema = {"ticker": pl.String, "cik": pl.Int64, "fiscal_year": pl.Int64, "kind": pl.String, "detail": pl.String}
    # a year refused for its currency is not also "no standard concept": it had one
    gaps = capex_gaps(facts, combined, filers).join(
        refused.select("cik", "fiscal_year"), on=["cik", "fiscal_year"], how="anti"
    )
    gaps = gaps.select(
        "ticker",
        "cik",
        "fiscal_year",
        pl.lit("missing_standard_capex").alias("kind"),
        pl.format("{} report on file but no standard capex concept: {}", "duration", "reason").alias("detail"),
    )
    jumps = (
        yoy_jumps(combined)
        .join(filers.select("ticker", "cik"), on="ticker", how="left")
        .select("ticker", "cik", "fiscal_year", pl.lit("yoy_jump").alias("kind"), "detail")
    )
    # a company = a filer, or an equity line with no CIK (HK-only issuers)
    companies = pl.concat(
        [
            filers.select("ticker", "cik"),
            equities(universe).filter(pl.col("cik").is_null()).select("ticker", pl.col("cik").cast(pl.Int64)),
        ]
    )
    none = companies.join(combined.select("ticker").unique(), on="ticker", how="anti").select(
        "ticker",
        "cik",
        pl.lit(None, dtype=pl.Int64).alias("fiscal_year"),
        pl.lit("no_capex").alias("kind"),
        pl.lit("no capex from SEC filings, curated figures or yfinance").alias("detail"),
    )
    no_ccy = unknown_ccy.select(
        "ticker",
        "cik",
        "fiscal_year",
        pl.lit("unknown_currency").alias("kind"),
        pl.lit("yfinance capex with no known reporting currency: not used").alias("detail"),
    )
    bad_unit = refused.select(
        "ticker",
        "cik",
        "fiscal_year",
        pl.lit("unknown_currency").alias("kind"),
        pl.format(
            "SEC capex facts in unit '{}' ({} facts), not an ISO 4217 currency code: refused, not converted",
            "unit",
            "facts",
        ).alias("detail"),
    )
    frames = (gaps, jumps, none, no_ccy, bad_unit)
    return pl.concat([f.cast(schema) for f in frames]).sort("ticker", "kind", "fiscal_year", nulls_last=True)
