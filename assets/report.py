"""The report asset: a self-contained HTML page people look at, built from the marts.

Written next to the warehouse file (``<folder>/reports/<warehouse name>/index.html``; data/
is git-ignored), it opens offline. Its metadata gives the path and shows the headline chart
as a PNG; a warning check names every chart that had nothing to draw and why.
"""

from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import duckdb
import polars as pl

from assets.mart_sql import load_mart_settings
from assets.marts import (
    ADR_PREMIUM,
    CAPEX_TREND,
    GROUP,
    GROUP_MEMBERS,
    HSTECH_BASKET,
    INSTRUMENTS,
    PERFORMANCE,
    RETURNS_DAILY,
    SCORECARD,
    VALUATION,
    WEEKLY_STREAKS,
    _basket_method,
    _spec,
    claims_scorecard,
    mart_key,
    mart_step,
)
from assets.operations import AFTER_UPSTREAM
from assets.transforms.claims import Claim, load_claims
from assets.warehouse import WarehouseResource, held_mode

if TYPE_CHECKING:  # the page imports Altair (~0.3 s): only a run that renders the report needs it
    from assets.reporting.page import ReportInputs

REPORT = mart_key("rally_report")


def report_folder(warehouse_file: Path) -> Path:
    """Where the report of a warehouse file goes: beside it, one folder per file."""
    return warehouse_file.parent / "reports" / warehouse_file.stem


def report_as_of(setting: str, claims: list[Claim], latest: date | None) -> date:
    """The report's date from the setting: latest_claim, latest, or an ISO date."""
    if setting == "latest_claim" and claims:
        return max(c.as_of for c in claims)
    if setting in ("latest", "latest_claim"):
        return latest or date.today()
    return date.fromisoformat(setting)


def rally_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    from assets.reporting.page import png_markdown, render_report

    claims = load_claims()
    setting = str(load_mart_settings()["report"]["as_of"])
    with warehouse.connect() as con:
        mode = held_mode(con) or "unknown"
        latest = con.execute(
            "SELECT max(as_of_date) FROM marts.as_of_dates WHERE list_contains(reasons, 'latest trading day')"
        ).fetchone()[0]  # type: ignore[index]
        as_of = report_as_of(setting, claims, latest)
        inputs = _inputs(con, claims, as_of, mode)
    out = render_report(inputs, report_folder(warehouse.file))
    context.log.info(f"report written to {out.html_path}")
    metadata: dict[str, object] = {
        "path": dg.MetadataValue.path(str(out.html_path)),
        "as_of": dg.MetadataValue.text(str(as_of)),
        "source_mode": dg.MetadataValue.text(mode),
        "is_sample": dg.MetadataValue.bool(mode == "sample"),
        "charts_drawn": dg.MetadataValue.text(", ".join(out.charts)),
        "size_bytes": dg.MetadataValue.int(out.html_path.stat().st_size),
    }
    if out.png_path is not None:
        metadata["headline_chart"] = dg.MetadataValue.md(png_markdown(out.png_path, "basket against US indexes YTD"))
        metadata["headline_png"] = dg.MetadataValue.path(str(out.png_path))
    return dg.MaterializeResult(
        asset_key=REPORT,
        metadata=metadata,
        check_results=[
            dg.AssetCheckResult(
                asset_key=REPORT,
                check_name="every_chart_drawn",
                passed=not out.empty,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"nothing_to_draw": dg.MetadataValue.json(out.empty)},
            )
        ],
    )


def _inputs(con: duckdb.DuckDBPyConnection, claims: list[Claim], as_of: date, mode: str) -> "ReportInputs":
    """Read what the page shows from the marts."""
    from assets.reporting.page import ReportInputs

    settings = load_mart_settings()["basket"]
    q = lambda sql, params=None: con.execute(sql, params or []).pl()  # noqa: E731
    levels = q(
        "SELECT series, trade_date, level FROM marts.hstech_basket WHERE trade_date BETWEEN ? AND ? ORDER BY ALL",
        [date(as_of.year - 1, 12, 1), as_of],
    )
    ranking = q(
        "SELECT p.ticker, i.name, 100 * p.return_local AS return_pct FROM marts.performance AS p"
        " JOIN marts.instruments AS i USING (ticker)"
        " JOIN marts.group_members AS g ON g.ticker = p.ticker AND g.group_name = 'hstech'"
        " WHERE p.as_of_date = ? AND p.period = 'YTD'",
        [as_of],
    )
    highlight = sorted({t for c in claims if c.metric == "rank_among_members" for t in c.param_list("tickers")})
    capex_years = sorted(
        {
            int(c.params[k])
            for c in claims
            if c.metric == "capex_group_total"
            for k in ("year", "compare_year")
            if k in c.params
        }
    ) or [as_of.year - 2, as_of.year - 1, as_of.year]
    capex = q(
        "SELECT * FROM marts.capex_trend WHERE basis = 'calendar' AND entity_kind = 'company'"
        " AND year BETWEEN ? AND ? ORDER BY entity, year",
        [as_of.year - 6, max(capex_years)],
    )
    groups = q(
        "SELECT missing FROM marts.capex_trend WHERE entity_kind = 'group' AND list_contains(?, year)", [capex_years]
    )
    premium = q(
        "SELECT * FROM marts.adr_hk_premium WHERE hk_trade_date BETWEEN ? AND ?", [as_of - timedelta(days=365), as_of]
    )
    pairs = q(
        "SELECT i.ticker, i.hk_ticker, count(a.adr_ticker) AS n,"
        " (SELECT price_rows FROM marts.instruments WHERE ticker = i.ticker) AS adr_rows,"
        " (SELECT price_rows FROM marts.instruments WHERE ticker = i.hk_ticker) AS hk_rows"
        " FROM marts.instruments AS i LEFT JOIN marts.adr_hk_premium AS a ON a.adr_ticker = i.ticker"
        " WHERE i.\"group\" = 'adr' AND i.hk_ticker IS NOT NULL GROUP BY ALL ORDER BY 1"
    )
    no_adr = pairs.filter(pl.col("adr_rows") == 0)["ticker"].to_list()
    premium_missing = [f"no ADR prices in this warehouse for {', '.join(no_adr)}"] if no_adr else []
    card = q("SELECT * FROM marts.claims_scorecard ORDER BY claim_id")
    verdicts = card.group_by("verdict").len().sort("verdict").rows()
    fx = q(
        "SELECT quote, min(trade_date) AS first, max(trade_date) AS last FROM core.fx_daily GROUP BY quote ORDER BY 1"
    )
    notes = [
        "Scorecard: " + ", ".join(f"{n} {v}" for v, n in verdicts) + f" (of {card.height} claims).",
        "USD per unit rates held: "
        + "; ".join(f"{r['quote']} {r['first']} to {r['last']}" for r in fx.iter_rows(named=True))
        + ". A USD figure needing a rate outside these dates is left empty, never estimated.",
    ]
    return ReportInputs(
        as_of=as_of,
        source_mode=mode,
        basket_series=str(settings["series"]),
        basket_method=_basket_method(con, as_of),
        levels=levels,
        ranking=ranking,
        highlight=highlight,
        capex=capex,
        capex_missing=[m for row in groups["missing"].to_list() for m in (row or [])],
        premium=premium,
        premium_missing=premium_missing,
        scorecard=card,
        notes=notes,
    )


REPORT_SPEC = dg.AssetSpec(
    REPORT,
    automation_condition=AFTER_UPSTREAM,
    deps=[SCORECARD, HSTECH_BASKET, PERFORMANCE, CAPEX_TREND, ADR_PREMIUM, VALUATION, WEEKLY_STREAKS, INSTRUMENTS],
    group_name=GROUP,
    kinds={"html", "altair"},
    description=(
        "A self-contained HTML report (opens offline: charts and their JavaScript inline): the HSTECH basket "
        "against the US indexes year to date, the members' YTD ranking, capex by calendar year in USD, the ADR "
        "premium over the Hong Kong line, and the claims scorecard. Written beside the warehouse file in "
        "reports/(warehouse file name)/index.html, e.g. data/reports/replay/index.html; the metadata shows the "
        "headline chart."
    ),
)
EVERY_CHART_DRAWN = dg.AssetCheckSpec(
    "every_chart_drawn",
    asset=REPORT,
    description="Warning: every chart of the report has data to draw (the page says why when one has none)",
)

claims_and_report = mart_step(
    "claims_and_report",
    [
        (
            _spec(
                SCORECARD,
                "claims_scorecard",
                [PERFORMANCE, RETURNS_DAILY, WEEKLY_STREAKS, CAPEX_TREND, VALUATION, HSTECH_BASKET, GROUP_MEMBERS],
                {"duckdb", "polars"},
            ),
            "claims_scorecard",
            claims_scorecard,
        ),
        (REPORT_SPEC, None, rally_report),
    ],
    extra_checks=(EVERY_CHART_DRAWN,),
)
