"""Marts (group ``marts``): the tables that answer the rally's questions.

Each asset reads core and dq through the flagged views, computes its frame (SQL in
``sql/marts/<name>.sql``, Polars in ``assets/transforms`` where SQL would be contorted),
audits it with its great-expectations suite (``marts_<name>`` in suites.toml), then publishes
it whole in one transaction: ``CREATE OR REPLACE TABLE marts.<name>``, with the column
comments of the SQL file's header. A mart whose inputs are missing still publishes what it
can, says what is missing in its metadata, and its warning checks fail naming the rows.
"""

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import dagster as dg
import duckdb
import polars as pl

from assets.capex import CAPEX
from assets.fundamentals import SNAPSHOT
from assets.fx import FX_DAILY
from assets.mart_sql import MartSql, load_mart_settings, load_mart_sql, run_sql, sql_params
from assets.operations import AFTER_UPSTREAM
from assets.prices import CORE_PRICES, PRICE_ANOMALIES
from assets.quality.checks import audit, check_results, markdown_table, stop_if_blocking, suite_specs
from assets.quality.gx import Outcome
from assets.quality.mart_profiles import (
    claim_inputs_profile,
    excluded_share_profile,
    kinds_profile,
    series_presence,
    snapshot_profile,
)
from assets.quality.record import record_outcomes
from assets.transforms.adr import adr_premium
from assets.transforms.basket import basket_levels, rebase
from assets.transforms.calendars import session_closes, week_last_sessions
from assets.transforms.capex_trend import capex_trend as build_capex_trend
from assets.transforms.claims import MartFrames, load_claims, scorecard
from assets.transforms.streaks import weekly_streaks as build_weekly_streaks
from assets.universe import UNIVERSE_CSV
from assets.warehouse import WarehouseResource, held_mode, table_summary

GROUP = "marts"
GROUPS_CSV = UNIVERSE_CSV.with_name("groups.csv")


def mart_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["marts", name])


INSTRUMENTS = mart_key("instruments")
GROUP_MEMBERS = mart_key("group_members")
AS_OF_DATES = mart_key("as_of_dates")
RETURNS_DAILY = mart_key("returns_daily")
HSTECH_BASKET = mart_key("hstech_basket")
BASKET_WEIGHTS = mart_key("hstech_basket_weights")
PERFORMANCE = mart_key("performance")
WEEKLY_STREAKS = mart_key("weekly_streaks")
CAPEX_TREND = mart_key("capex_trend")
VALUATION = mart_key("valuation")
ADR_PREMIUM = mart_key("adr_hk_premium")
SCORECARD = mart_key("claims_scorecard")


# ------------------------------------------------------------------------------- publishing


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def publish_mart(con: duckdb.DuckDBPyConnection, mart: MartSql, frame: pl.DataFrame) -> None:
    """Replace the mart's table with ``frame`` and document it (table and column comments)."""
    undocumented = [c for c in frame.columns if c not in mart.columns]
    if undocumented:
        raise ValueError(f"{mart.table}: columns {undocumented} are not in the header of sql/marts/{mart.name}.sql")
    con.register("_mart_frame", frame.to_arrow())
    try:
        con.execute(f"CREATE OR REPLACE TABLE {mart.table} AS SELECT * FROM _mart_frame")
    finally:
        con.unregister("_mart_frame")
    con.execute(f"COMMENT ON TABLE {mart.table} IS {_sql_literal(mart.description)}")
    for column in frame.columns:
        con.execute(f'COMMENT ON COLUMN {mart.table}."{column}" IS {_sql_literal(mart.columns[column])}')


def column_schema(mart: MartSql, frame: pl.DataFrame) -> dg.TableSchema:
    """The mart's columns with their types and the meanings from its SQL header."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, str(dtype), description=mart.columns.get(name)) for name, dtype in frame.schema.items()
        ]
    )


def mart_metadata(
    mart: MartSql,
    frame: pl.DataFrame,
    summary: dict[str, Any],
    preview: pl.DataFrame | None = None,
    missing: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Row count of the whole table, its column schema, a markdown preview and what is missing."""
    meta: dict[str, Any] = {
        "dagster/row_count": dg.MetadataValue.int(int(summary["table_rows"])),
        "dagster/column_schema": column_schema(mart, frame),
        "dagster/table_name": dg.MetadataValue.text(mart.table),
        "table": dg.MetadataValue.text(mart.table),
        "sql_file": dg.MetadataValue.path(f"sql/marts/{mart.name}.sql"),
        "preview": dg.MetadataValue.md(markdown_table((frame if preview is None else preview).head(12))),
        "inputs_missing": dg.MetadataValue.md(
            "\n".join(f"- {m}" for m in missing) if missing else "none: every input this mart reads is present"
        ),
    }
    for k in ("table_date_min", "table_date_max"):
        if k in summary:
            meta[k] = dg.MetadataValue.text(str(summary[k]))
    for k, v in extra.items():
        meta[k] = v if isinstance(v, dg.MetadataValue) else dg.MetadataValue.text(str(v))
    return meta


def _publish(
    context: dg.AssetExecutionContext | dg.OpExecutionContext,
    warehouse: WarehouseResource,
    key: dg.AssetKey,
    mart: MartSql,
    frame: pl.DataFrame,
    outcomes: list[Outcome],
    date_col: str | None,
    ddl: list[str] | None = None,
) -> dict[str, Any]:
    """Stop on a blocking failure, else publish in one transaction; returns the table summary."""
    stop_if_blocking(key, outcomes)
    with warehouse.transaction() as con:
        publish_mart(con, mart, frame)
        for statement in ddl or []:
            con.execute(statement)
        record_outcomes(con, mart.table, outcomes, context.run.run_id)
        summary = table_summary(con, mart.table, date_col)
        summary["source_mode"] = held_mode(con)
    return summary


def _failed_rows(outcomes: list[Outcome]) -> list[str]:
    """Plain-words lines for each warning that failed (what the metadata lists as missing)."""
    return [f"{o.description} — {o.unexpected_count} row(s), e.g. {o.offending[:3]}" for o in outcomes if not o.passed]


def _universe_frames() -> dict[str, pl.DataFrame]:
    from assets.universe import load_universe

    return {
        "_universe": load_universe(),
        "_groups": pl.read_csv(GROUPS_CSV, schema_overrides={"note": pl.String}),
    }


def _run_with(
    con: duckdb.DuckDBPyConnection, mart: MartSql, frames: dict[str, pl.DataFrame], **kw: Any
) -> pl.DataFrame:
    for name, frame in frames.items():
        con.register(name, frame.to_arrow())
    try:
        return mart.run(con, kw.pop("query", "mart"), kw.pop("params", None))
    finally:
        for name in frames:
            con.unregister(name)


def _spec(key: dg.AssetKey, name: str, deps: list[dg.AssetKey], kinds: set[str]) -> dg.AssetSpec:
    """A mart's asset: described by its SQL header, refreshed after its inputs (once their blocking checks pass)."""
    return dg.AssetSpec(
        key,
        deps=deps,
        group_name=GROUP,
        kinds=kinds,
        description=load_mart_sql(name).description,
        automation_condition=AFTER_UPSTREAM,
    )


Builder = Callable[
    [dg.AssetExecutionContext, WarehouseResource], "dg.MaterializeResult | Iterator[dg.MaterializeResult]"
]


def run_builders(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, builders: list[tuple[set[dg.AssetKey], Builder]]
) -> Iterator[dg.MaterializeResult]:
    """Build the selected marts in dependency order; each audits and publishes its own table(s).

    Several marts share one step so that a run claims the one-writer pool a few times rather
    than once per table; selecting one mart still builds just that one (it reads the others).
    """
    selected = context.selected_asset_keys
    for keys, build in builders:
        if not keys & selected:
            continue
        out = build(context, warehouse)
        for result in [out] if isinstance(out, dg.MaterializeResult) else out:
            if result.asset_key in selected:
                yield result


# ------------------------------------------------------------------------------- reference


def instruments(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    mart = load_mart_sql("instruments")
    with warehouse.connect() as con:
        frame = _run_with(con, mart, _universe_frames())
    outcomes = audit("marts_instruments", frame)
    summary = _publish(context, warehouse, INSTRUMENTS, mart, frame, outcomes, None)
    none = frame.filter(pl.col("price_rows") == 0)["ticker"].to_list()
    return dg.MaterializeResult(
        asset_key=INSTRUMENTS,
        metadata=mart_metadata(
            mart, frame, summary, missing=[f"no prices for {', '.join(none)}"] if none else None, **_mode(summary)
        ),
        check_results=check_results(INSTRUMENTS, outcomes),
    )


def group_members(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    mart = load_mart_sql("group_members")
    with warehouse.connect() as con:
        frame = _run_with(con, mart, _universe_frames())
    outcomes = audit("marts_group_members", frame)
    summary = _publish(context, warehouse, GROUP_MEMBERS, mart, frame, outcomes, None)
    counts = frame.group_by("group_name").len().sort("group_name")
    return dg.MaterializeResult(
        asset_key=GROUP_MEMBERS,
        metadata=mart_metadata(mart, frame, summary, preview=counts, missing=_failed_rows(outcomes), **_mode(summary)),
        check_results=check_results(GROUP_MEMBERS, outcomes),
    )


def as_of_dates(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    mart = load_mart_sql("as_of_dates")
    claims = pl.DataFrame(
        [(c.claim_id, c.as_of) for c in load_claims()], schema={"claim_id": pl.Int64, "as_of": pl.Date}, orient="row"
    )
    with warehouse.connect() as con:
        frame = _run_with(con, mart, {**_universe_frames(), "_claims": claims}, params=sql_params())
    outcomes = audit("marts_as_of_dates", frame)
    summary = _publish(context, warehouse, AS_OF_DATES, mart, frame, outcomes, "as_of_date")
    return dg.MaterializeResult(
        asset_key=AS_OF_DATES,
        metadata=mart_metadata(
            mart, frame, summary, preview=frame.sort("as_of_date", descending=True), **_mode(summary)
        ),
        check_results=check_results(AS_OF_DATES, outcomes),
    )


def _mode(summary: dict[str, Any]) -> dict[str, Any]:
    mode = summary.get("source_mode")
    return {"source_mode": mode, "is_sample": dg.MetadataValue.bool(mode == "sample")}


# ------------------------------------------------------------------------------- returns


def returns_daily(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    mart = load_mart_sql("returns_daily")
    with warehouse.connect() as con:
        frame = mart.run(con)
        present = [r[0] for r in con.execute("SELECT DISTINCT kind FROM dq.price_anomalies").fetchall()]
        classified = [r[0] for r in con.execute("SELECT kind FROM dq.anomaly_kinds").fetchall()]
    excluded = frame.filter(pl.col("is_excluded"))
    outcomes = audit(
        "marts_returns_daily",
        {
            "rows": frame.select("ticker", "trade_date", "log_return"),
            "kinds": kinds_profile(present, classified),
            "excluded": excluded_share_profile(frame),
        },
    )
    summary = _publish(context, warehouse, RETURNS_DAILY, mart, frame, outcomes, "trade_date")
    by_kind = (
        excluded.explode("excluded_kinds").group_by("excluded_kinds").len().sort("excluded_kinds")
        if excluded.height
        else pl.DataFrame()
    )
    return dg.MaterializeResult(
        asset_key=RETURNS_DAILY,
        metadata=mart_metadata(
            mart,
            frame,
            summary,
            preview=frame.filter(pl.col("simple_return").is_not_null()).sort("trade_date", descending=True),
            missing=_failed_rows(outcomes),
            excluded_rows=dg.MetadataValue.int(excluded.height),
            excluded_by_kind=dg.MetadataValue.md(markdown_table(by_kind)),
            excluded_examples=dg.MetadataValue.md(
                markdown_table(excluded.select("ticker", "trade_date", "close", "excluded_kinds").head(20))
            ),
            **_mode(summary),
        ),
        check_results=check_results(RETURNS_DAILY, outcomes),
    )


# ------------------------------------------------------------------------------- basket


def hstech_basket(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Iterator[dg.MaterializeResult]:
    """The basket and its weights, published together (the weights explain the levels)."""
    settings = load_mart_settings()["basket"]
    mart, weights_mart = load_mart_sql("hstech_basket"), load_mart_sql("hstech_basket_weights")
    params = sql_params()
    with warehouse.connect() as con:
        closes = mart.run(con, "member_closes", params)
        caps = mart.run(con, "market_caps", params)
        indexes = mart.run(con, "index_closes", params)
        names = dict(con.execute("SELECT ticker, name FROM marts.instruments").fetchall())
    base = date.fromisoformat(settings["base_date"])
    levels, weights = basket_levels(
        closes,
        caps,
        base_date=base,
        base_level=float(settings["base_level"]),
        cap=float(settings["single_stock_cap"]),
        max_cap_age_days=int(settings["max_market_cap_age_days"]),
        max_close_age_days=int(load_mart_settings()["staleness"]["max_close_age_days"]),
    )
    frame = _basket_frame(levels, indexes, settings, base, names)
    outcomes = audit(
        "marts_hstech_basket",
        {
            "rows": frame.filter(pl.col("kind") == "basket").with_columns(
                (pl.col("members_traded") / pl.col("members")).alias("traded_share")
            ),
            "weights": weights.group_by("rebalance_date").agg(pl.col("method").first(), pl.len().alias("members")),
            "compare": series_presence(list(settings["compare_with"]), frame.filter(pl.col("kind") == "index")),
        },
    )
    stop_if_blocking(HSTECH_BASKET, outcomes)
    with warehouse.transaction() as con:
        publish_mart(con, mart, frame)
        publish_mart(con, weights_mart, weights)
        record_outcomes(con, mart.table, outcomes, context.run.run_id)
        summary = table_summary(con, mart.table, "trade_date")
        w_summary = table_summary(con, weights_mart.table, "rebalance_date")
        summary["source_mode"] = held_mode(con)
    methods = weights.group_by("method").agg(pl.col("rebalance_date").n_unique().alias("quarters"))
    latest = frame.filter(pl.col("kind") == "basket").tail(1)
    missing = _failed_rows(outcomes)
    yield dg.MaterializeResult(
        asset_key=HSTECH_BASKET,
        metadata=mart_metadata(
            mart,
            frame,
            summary,
            preview=frame.sort("trade_date", descending=True).group_by("series", maintain_order=True).head(2),
            missing=missing,
            approximation=dg.MetadataValue.md(
                "**An approximation of Hang Seng TECH, not the index.** Methods by quarter:\n\n"
                + markdown_table(methods)
            ),
            latest_level=dg.MetadataValue.float(float(latest["level"][0]) if latest.height else float("nan")),
            **_mode(summary),
        ),
        check_results=check_results(HSTECH_BASKET, outcomes),
    )
    yield dg.MaterializeResult(
        asset_key=BASKET_WEIGHTS,
        metadata=mart_metadata(
            weights_mart,
            weights,
            w_summary,
            preview=weights.sort("rebalance_date", "weight", descending=True),
            **_mode(summary),
        ),
    )


def _basket_frame(
    levels: pl.DataFrame, indexes: pl.DataFrame, settings: dict[str, Any], base: date, names: dict[str, str]
) -> pl.DataFrame:
    """Basket rows and the comparison indexes rebased to the basket's base date, one schema."""
    schema: dict[str, pl.DataType] = {
        "series": pl.String(),
        "kind": pl.String(),
        "trade_date": pl.Date(),
        "level": pl.Float64(),
        "source_close": pl.Float64(),
        "daily_return": pl.Float64(),
        "currency": pl.String(),
        "members": pl.Int64(),
        "members_traded": pl.Int64(),
        "rebalance_date": pl.Date(),
        "method": pl.String(),
        "is_approximation": pl.Boolean(),
        "label": pl.String(),
    }
    basket = levels.select(
        pl.lit(settings["series"]).alias("series"),
        pl.lit("basket").alias("kind"),
        "trade_date",
        "level",
        pl.lit(None, dtype=pl.Float64).alias("source_close"),
        "daily_return",
        pl.lit(settings["currency"]).alias("currency"),
        "members",
        "members_traded",
        "rebalance_date",
        "method",
        pl.lit(True).alias("is_approximation"),
        pl.lit(
            "Approximation of Hang Seng TECH from the universe's HSTECH lines (today's members back-filled); "
            f"{int(100 * settings['single_stock_cap'])}%-capped market caps where known, else equal weights"
        ).alias("label"),
    )
    parts = [basket.cast(schema)]  # type: ignore[arg-type]
    base_on = levels["trade_date"].min() if levels.height else base
    for series in settings["compare_with"]:
        one = indexes.filter(pl.col("series") == series).sort("trade_date")
        if one.is_empty():
            continue
        rebased = rebase(one, on=base_on, to=float(settings["base_level"]))
        parts.append(
            rebased.select(
                "series",
                pl.lit("index").alias("kind"),
                "trade_date",
                "level",
                pl.col("close").alias("source_close"),
                (pl.col("close") / pl.col("close").shift(1) - 1).alias("daily_return"),
                "currency",
                pl.lit(None, dtype=pl.Int64).alias("members"),
                pl.lit(None, dtype=pl.Int64).alias("members_traded"),
                pl.lit(None, dtype=pl.Date).alias("rebalance_date"),
                pl.lit("index").alias("method"),
                pl.lit(False).alias("is_approximation"),
                pl.lit(f"{names.get(series, series)} ({series}), rebased to the basket's base date").alias("label"),
            ).cast(schema)  # type: ignore[arg-type]
        )
    return pl.concat(parts).sort("kind", "series", "trade_date")


# ------------------------------------------------------------------------------- performance


def performance(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    mart = load_mart_sql("performance")
    with warehouse.connect() as con:
        frame = mart.run(con, params=sql_params())
    outcomes = audit(
        "marts_performance",
        {
            "rows": frame.select("ticker", "as_of_date", "period", "note", "return_local"),
            "with_local": frame.filter(pl.col("return_local").is_not_null()).select(
                "ticker", "as_of_date", "period", "note", "return_usd"
            ),
        },
    )
    summary = _publish(context, warehouse, PERFORMANCE, mart, frame, outcomes, "as_of_date", ddl=[mart.query("macro")])
    latest = frame["as_of_date"].max() if frame.height else None
    preview = (
        frame.filter((pl.col("as_of_date") == latest) & (pl.col("period") == "YTD"))
        .sort("return_local", descending=True, nulls_last=True)
        .select("ticker", "kind", "as_of_date", "start_date", "end_date", "return_local", "return_usd", "note")
    )
    no_usd = frame.filter(pl.col("return_usd").is_null() & pl.col("return_local").is_not_null())
    return dg.MaterializeResult(
        asset_key=PERFORMANCE,
        metadata=mart_metadata(
            mart,
            frame,
            summary,
            preview=preview,
            missing=_failed_rows(outcomes),
            rows_without_usd=dg.MetadataValue.int(no_usd.height),
            macro=dg.MetadataValue.text("marts.return_between(start_date, end_date)"),
            **_mode(summary),
        ),
        check_results=check_results(PERFORMANCE, outcomes),
    )


# ------------------------------------------------------------------------------- streaks


def weekly_streaks(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    mart = load_mart_sql("weekly_streaks")
    with warehouse.connect() as con:
        levels = mart.run(con, "levels", sql_params())
    frame = build_weekly_streaks(levels, _latest_week_sessions(levels))
    outcomes = audit("marts_weekly_streaks", frame)
    summary = _publish(context, warehouse, WEEKLY_STREAKS, mart, frame, outcomes, "week_end_date")
    current = (
        frame.sort("week_start").group_by("series", maintain_order=True).last().sort("streak_weeks", descending=True)
    )
    return dg.MaterializeResult(
        asset_key=WEEKLY_STREAKS,
        metadata=mart_metadata(
            mart,
            frame,
            summary,
            preview=current.select(
                "series", "week_end_date", "weekly_return", "direction", "streak_weeks", "is_complete"
            ),
            missing=_failed_rows(outcomes),
            **_mode(summary),
        ),
        check_results=check_results(WEEKLY_STREAKS, outcomes),
    )


def _latest_week_sessions(levels: pl.DataFrame) -> pl.DataFrame:
    """(series, week_start, last_session) for each series' latest week, from its exchange calendar."""
    schema = {"series": pl.String, "week_start": pl.Date, "last_session": pl.Date}
    if levels.is_empty():
        return pl.DataFrame(schema=schema)
    last = levels.group_by("series").agg(pl.col("trade_date").max(), pl.col("calendar").first())
    parts = []
    for (calendar,), rows in last.filter(pl.col("calendar").is_not_null()).group_by("calendar"):
        lo, hi = rows["trade_date"].min(), rows["trade_date"].max()
        weeks = week_last_sessions(str(calendar), lo - timedelta(days=7), hi)  # type: ignore[operator]
        parts.append(
            rows.select("series", pl.col("trade_date").dt.truncate("1w").alias("week_start")).join(
                weeks, on="week_start", how="inner"
            )
        )
    return pl.concat(parts).select(list(schema)).cast(schema) if parts else pl.DataFrame(schema=schema)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- capex


def capex_trend(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    mart = load_mart_sql("capex_trend")
    settings = load_mart_settings()["capex"]
    with warehouse.connect() as con:
        capex = mart.run(con, "capex")
        companies = mart.run(con, "companies")
        groups = mart.run(con, "groups")
    last_year = max([c.as_of.year for c in load_claims()] + capex["fiscal_year"].to_list())
    years = list(range(int(settings["first_year"]), last_year + 1))
    frame = build_capex_trend(capex, companies, groups, years, slack=int(settings["boundary_slack_days"]))
    outcomes = audit(
        "marts_capex_trend",
        {
            "rows": frame,
            "groups": frame.filter(pl.col("entity_kind") == "group").with_columns(pl.col("missing").list.join("; ")),
            "calendar": frame.filter((pl.col("basis") == "calendar") & pl.col("capex").is_not_null()),
        },
    )
    summary = _publish(context, warehouse, CAPEX_TREND, mart, frame, outcomes, None)
    groups_view = frame.filter(pl.col("entity_kind") == "group").select(
        "entity", "year", "capex_usd", "status", "missing"
    )
    return dg.MaterializeResult(
        asset_key=CAPEX_TREND,
        metadata=mart_metadata(
            mart,
            frame,
            summary,
            preview=frame.filter((pl.col("basis") == "calendar") & pl.col("capex_usd").is_not_null())
            .sort("year", descending=True)
            .select("entity", "year", "capex", "currency", "capex_usd", "yoy_change_usd", "alignment", "status"),
            missing=_failed_rows(outcomes),
            group_totals=dg.MetadataValue.md(
                markdown_table(groups_view.sort("entity", "year", descending=[False, True]))
            ),
            **_mode(summary),
        ),
        check_results=check_results(CAPEX_TREND, outcomes),
    )


# ------------------------------------------------------------------------------- valuation


def valuation(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    mart = load_mart_sql("valuation")
    with warehouse.connect() as con:
        frame = mart.run(con, params=sql_params())
        days = [r[0] for r in con.execute("SELECT DISTINCT as_of_date FROM core.fundamentals_snapshot").fetchall()]
    outcomes = audit("marts_valuation", {"rows": frame, "snapshots": snapshot_profile(days)})
    summary = _publish(context, warehouse, VALUATION, mart, frame, outcomes, "as_of_date")
    missing = _failed_rows(outcomes)
    if not days:
        missing.insert(0, "no fundamentals snapshot in the warehouse: no valuation can be computed (none is made up)")
    return dg.MaterializeResult(
        asset_key=VALUATION,
        metadata=mart_metadata(
            mart, frame, summary, missing=missing, snapshot_days=dg.MetadataValue.int(len(days)), **_mode(summary)
        ),
        check_results=check_results(VALUATION, outcomes),
    )


# ------------------------------------------------------------------------------- ADR premium


def adr_hk_premium(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    mart = load_mart_sql("adr_hk_premium")
    with warehouse.connect() as con:
        pairs = mart.run(con, "pairs")
        tickers = sorted(set(pairs["adr_ticker"].to_list()) | set(pairs["hk_ticker"].to_list()))
        closes = mart.run(con, "closes", {"tickers": tickers})
        rates = mart.run(con, "hkd_rates")
    hk = closes.filter(pl.col("ticker").is_in(pairs["hk_ticker"].to_list()))
    adr = closes.filter(pl.col("ticker").is_in(pairs["adr_ticker"].to_list()))
    frame = adr_premium(hk, adr, pairs, rates, *_session_closes(hk, adr))
    presence = pairs.select(
        pl.col("adr_ticker").alias("series"),
        pl.col("adr_ticker").is_in(adr["ticker"].unique().to_list()).alias("adr_prices"),
        pl.col("hk_ticker").is_in(hk["ticker"].unique().to_list()).alias("hk_prices"),
    ).join(series_presence(pairs["adr_ticker"].to_list(), frame, "adr_ticker"), on="series")
    outcomes = audit("marts_adr_hk_premium", {"rows": frame, "pairs": presence})
    summary = _publish(context, warehouse, ADR_PREMIUM, mart, frame, outcomes, "hk_trade_date")
    missing = [
        f"{r['series']}: "
        + (
            "no ADR prices"
            if not r["adr_prices"]
            else "no Hong Kong prices"
            if not r["hk_prices"]
            else "no pair of closes with an FX rate"
        )
        for r in presence.filter(pl.col("rows") == 0).iter_rows(named=True)
    ]
    latest = frame.sort("hk_trade_date").group_by("adr_ticker", maintain_order=True).last() if frame.height else frame
    return dg.MaterializeResult(
        asset_key=ADR_PREMIUM,
        metadata=mart_metadata(mart, frame, summary, preview=latest, missing=missing, **_mode(summary)),
        check_results=check_results(ADR_PREMIUM, outcomes),
    )


def _session_closes(hk: pl.DataFrame, adr: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    empty = pl.DataFrame(schema={"trade_date": pl.Date, "close_utc": pl.Datetime("us", "UTC")})
    if hk.is_empty() or adr.is_empty():
        return empty, empty
    lo = max(hk["trade_date"].min(), adr["trade_date"].min()) - timedelta(days=10)  # type: ignore[operator]
    hi = min(hk["trade_date"].max(), adr["trade_date"].max())  # type: ignore[type-var]
    return session_closes("XHKG", lo, hi), session_closes("XNYS", lo, hi)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- scorecard


def claims_scorecard(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    mart = load_mart_sql("claims_scorecard")
    claims = load_claims()
    dates = sorted(
        {c.as_of for c in claims} | {date.fromisoformat(c.params["date"]) for c in claims if "date" in c.params}
    )
    with warehouse.connect() as con:
        mode = held_mode(con) or "unknown"
        marts = MartFrames(
            source_mode=mode,
            performance=mart.run(con, "performance", {"dates": dates}),
            returns_daily=mart.run(con, "returns_daily", {"dates": dates}),
            streaks=run_sql(con, "SELECT * FROM marts.weekly_streaks"),
            capex_trend=run_sql(con, "SELECT * FROM marts.capex_trend"),
            valuation=run_sql(con, "SELECT * FROM marts.valuation"),
            group_members=run_sql(con, "SELECT * FROM marts.group_members"),
            basket_method=_basket_method(con, max(dates)),
        )
        present = dict(mart.run(con, "inputs").iter_rows())
    frame = scorecard(claims, marts, is_sample=mode == "sample")
    named = [(c.claim_id, _claim_inputs(c.params)) for c in claims]
    outcomes = audit("marts_claims_scorecard", {"rows": frame, "inputs": claim_inputs_profile(named, present)})
    summary = _publish(context, warehouse, SCORECARD, mart, frame, outcomes, "as_of")
    verdicts = dict(frame.group_by("verdict").len().rows())
    return dg.MaterializeResult(
        asset_key=SCORECARD,
        metadata=mart_metadata(
            mart,
            frame,
            summary,
            preview=frame.select(
                "claim_id", "claimed_value", "computed_value", "unit", "verdict", "is_sample", "statement"
            ),
            missing=_failed_rows(outcomes),
            verdicts=dg.MetadataValue.json(verdicts),
            **_mode(summary),
        ),
        check_results=check_results(SCORECARD, outcomes),
    )


CLAIM_INPUT_KEYS = ("ticker", "tickers", "series", "peers", "group", "compare_group")


def _claim_inputs(params: dict[str, str]) -> list[str]:
    """The tickers, series and groups a claim's parameters name."""
    return [v.strip() for k in CLAIM_INPUT_KEYS if k in params for v in params[k].split("|") if v.strip()]


def _basket_method(con: duckdb.DuckDBPyConnection, as_of: date) -> str:
    row = con.execute(
        "SELECT method, members, rebalance_date FROM marts.hstech_basket"
        " WHERE kind = 'basket' AND trade_date <= ? ORDER BY trade_date DESC LIMIT 1",
        [as_of],
    ).fetchone()
    if row is None:
        return "no basket level on or before the date"
    method, members, reb = row
    words = "equal weights, market caps unknown" if method == "equal_weight" else "market caps capped at 8%"
    return f"{members} members, {words}, weights of {reb}"


# ------------------------------------------------------------------------------- steps

PRICE_MARTS: list[tuple[dg.AssetSpec, str | None, Builder]] = [
    (_spec(INSTRUMENTS, "instruments", [CORE_PRICES], {"duckdb", "sql"}), "instruments", instruments),
    (_spec(GROUP_MEMBERS, "group_members", [INSTRUMENTS], {"duckdb", "sql"}), "group_members", group_members),
    (_spec(AS_OF_DATES, "as_of_dates", [INSTRUMENTS], {"duckdb", "sql"}), "as_of_dates", as_of_dates),
    (
        _spec(RETURNS_DAILY, "returns_daily", [CORE_PRICES, PRICE_ANOMALIES], {"duckdb", "sql"}),
        "returns_daily",
        returns_daily,
    ),
    (
        _spec(HSTECH_BASKET, "hstech_basket", [RETURNS_DAILY, GROUP_MEMBERS, SNAPSHOT], {"duckdb", "polars"}),
        "hstech_basket",
        hstech_basket,
    ),
    (
        _spec(BASKET_WEIGHTS, "hstech_basket_weights", [RETURNS_DAILY, GROUP_MEMBERS, SNAPSHOT], {"duckdb", "polars"}),
        None,  # written by the basket's builder, with the basket
        hstech_basket,
    ),
    (
        _spec(
            PERFORMANCE,
            "performance",
            [RETURNS_DAILY, HSTECH_BASKET, AS_OF_DATES, GROUP_MEMBERS, INSTRUMENTS, FX_DAILY],
            {"duckdb", "sql"},
        ),
        "performance",
        performance,
    ),
    (
        _spec(WEEKLY_STREAKS, "weekly_streaks", [RETURNS_DAILY, HSTECH_BASKET, INSTRUMENTS], {"duckdb", "polars"}),
        "weekly_streaks",
        weekly_streaks,
    ),
    (
        _spec(ADR_PREMIUM, "adr_hk_premium", [RETURNS_DAILY, INSTRUMENTS, FX_DAILY], {"duckdb", "polars"}),
        "adr_hk_premium",
        adr_hk_premium,
    ),
]

FUNDAMENTAL_MARTS: list[tuple[dg.AssetSpec, str | None, Builder]] = [
    (
        _spec(CAPEX_TREND, "capex_trend", [CAPEX, GROUP_MEMBERS, INSTRUMENTS], {"duckdb", "polars"}),
        "capex_trend",
        capex_trend,
    ),
    (_spec(VALUATION, "valuation", [SNAPSHOT, FX_DAILY, GROUP_MEMBERS], {"duckdb", "sql"}), "valuation", valuation),
]


def mart_step(
    name: str,
    marts: list[tuple[dg.AssetSpec, str | None, Builder]],
    extra_checks: tuple[dg.AssetCheckSpec, ...] = (),
) -> dg.AssetsDefinition:
    """One Dagster step building several marts (subsettable: select one mart and only it is built)."""
    builders: list[tuple[set[dg.AssetKey], Builder]] = []
    for spec, _, build in marts:
        if builders and builders[-1][1] is build:
            builders[-1][0].add(spec.key)
        else:
            builders.append(({spec.key}, build))

    @dg.multi_asset(
        name=name,
        specs=[spec for spec, _, _ in marts],
        check_specs=[
            *(c for spec, suite, _ in marts if suite for c in suite_specs(spec.key, f"marts_{suite}")),
            *extra_checks,
        ],
        can_subset=True,
        pool="duckdb",
    )
    def _step(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Iterator[dg.MaterializeResult]:
        yield from run_builders(context, warehouse, builders)

    return _step


marts_from_prices = mart_step("marts_from_prices", PRICE_MARTS)
marts_from_fundamentals = mart_step("marts_from_fundamentals", FUNDAMENTAL_MARTS)
