"""FX asset: daily USD rates from the FX tickers' prices, with their data-quality warnings."""

import dagster as dg
import polars as pl

from assets.metadata import frame_metadata
from assets.operations import AFTER_UPSTREAM, DAILY
from assets.prices import CORE_PRICES
from assets.quality.checks import audit, check_results, markdown_table, only_selected, stop_if_blocking, suite_specs
from assets.quality.record import record_outcomes, replace_anomalies
from assets.scope import RunScope
from assets.transforms.fx import fx_anomalies, fx_daily_from_prices, pair_label
from assets.universe import load_universe
from assets.warehouse import WarehouseResource, replace_rows, table_summary

FX_DAILY = dg.AssetKey(["core", "fx_daily"])
FX_KINDS = ["fx_nonpositive", "fx_jump", "fx_gap"]
MAX_MOVE = 0.05
MAX_GAP_DAYS = 7


@dg.asset(
    key=FX_DAILY,
    deps=[CORE_PRICES],
    group_name="core",
    automation_condition=AFTER_UPSTREAM,
    freshness_policy=DAILY,
    kinds={"duckdb", "polars"},
    pool="duckdb",
    description=(
        "USD/CNY, USD/HKD, USD/CNH (and any fx line of the universe): rate = units of `quote` per "
        "1 USD, from Yahoo's XXX=X closes, weekdays only. Convert with the SQL macro "
        "core.to_usd(amount, currency, date) (last rate on or before the date). Moves above 5% "
        "and gaps over 7 days are flagged in dq.price_anomalies."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "no_unflagged_moves",
            asset=FX_DAILY,
            description="Every day-over-day move above 5% carries an fx_jump flag (recomputed in SQL, "
            "independently of the rule that writes the flags)",
        ),
        dg.AssetCheckSpec(
            "no_gaps_over_7_days", asset=FX_DAILY, description="Warning: no pair misses more than 7 calendar days"
        ),
        *suite_specs(FX_DAILY, "fx_daily"),
    ],
)
def fx_daily(context: dg.AssetExecutionContext, scope: RunScope, warehouse: WarehouseResource) -> dg.MaterializeResult:
    universe = load_universe()
    fx_lines = universe.filter(pl.col("group") == "fx")
    if scope.tickers:  # a scoped run rebuilds only the pairs it refreshed
        fx_lines = fx_lines.filter(pl.col("ticker").is_in(scope.tickers))
    fx_tickers = fx_lines["ticker"].to_list()
    quotes = fx_lines["currency"].str.to_uppercase().to_list()
    prices = warehouse.query("SELECT * FROM core.prices_daily WHERE list_contains(?, ticker)", [fx_tickers])
    rates = fx_daily_from_prices(prices, universe)
    found = fx_anomalies(rates, max_move=MAX_MOVE, max_gap_days=MAX_GAP_DAYS)
    pairs = rates.select(pair_label(pl.col("base"), pl.col("quote")).alias("p")).unique()["p"].to_list()
    outcomes = audit("fx_daily", rates, context=context, asset_key=FX_DAILY)
    stop_if_blocking(FX_DAILY, outcomes)
    with warehouse.transaction() as con:
        replace_rows(con, "core.fx_daily", rates, "list_contains(?, quote)", [quotes])
        replace_anomalies(con, found, sorted(set(pairs) | set(fx_tickers)), kinds=FX_KINDS)
        unflagged = con.execute("SELECT * FROM dq.fx_unflagged_moves").pl()
        record_outcomes(con, "core.fx_daily", outcomes, context.run.run_id)
        summary = table_summary(con, "core.fx_daily", "trade_date")
    jumps = found.filter(pl.col("kind") == "fx_jump")
    gaps = found.filter(pl.col("kind") == "fx_gap")
    return dg.MaterializeResult(
        metadata=frame_metadata(rates, key_col="quote", anomalies=dict(found.group_by("kind").len().rows()), **summary),
        check_results=only_selected(
            context,
            [
                dg.AssetCheckResult(
                    check_name="no_unflagged_moves",
                    passed=unflagged.is_empty(),
                    metadata={
                        "moves_flagged": jumps.height,
                        "moves_unflagged": unflagged.height,
                        "unflagged": dg.MetadataValue.md(markdown_table(unflagged.head(20))),
                    },
                ),
                dg.AssetCheckResult(
                    check_name="no_gaps_over_7_days",
                    passed=gaps.height == 0,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={
                        "gaps": gaps.height,
                        "first": dg.MetadataValue.md(markdown_table(gaps.head(10))),
                    },
                ),
                *check_results(FX_DAILY, outcomes),
            ],
        ),
    )
