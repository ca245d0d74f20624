"""The self-contained HTML report: Altair charts, a great-tables scorecard, everything inline.

The page carries the Vega / Vega-Lite / vega-embed bundle inline (vl-convert ships it), so it
opens offline with no network and no CDN. Charts render as SVG (easy to check in a headless
browser). A small PNG of the headline chart is written beside it for the Dagster UI.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import altair as alt
import polars as pl

from assets.reporting.charts import basket_vs_us_chart, capex_chart, premium_chart, ranking_chart, ytd_lines

VERDICT_COLORS = {
    "confirmed": "#d5f5e3",
    "close": "#fcf3cf",
    "contradicted": "#fadbd8",
    "not verifiable": "#e5e7e9",
}
EMBED_OPTIONS = {"renderer": "svg", "actions": False}


@dataclass
class ReportInputs:
    """What the report shows, read from the marts by the asset (hand-built in tests)."""

    as_of: date
    source_mode: str
    basket_series: str
    basket_method: str
    levels: pl.DataFrame  # series, trade_date, level (basket and indexes)
    ranking: pl.DataFrame  # ticker, name, return_pct
    highlight: list[str]
    capex: pl.DataFrame  # calendar-basis company rows of marts.capex_trend
    capex_missing: list[str]
    premium: pl.DataFrame  # marts.adr_hk_premium
    premium_missing: list[str]
    scorecard: pl.DataFrame  # marts.claims_scorecard
    notes: list[str] = field(default_factory=list)


@dataclass
class ReportOutput:
    html_path: Path
    png_path: Path | None
    charts: list[str]  # ids of the charts drawn
    empty: dict[str, str]  # id -> why nothing was drawn


def _bundle() -> str:
    import vl_convert as vlc
    from altair.utils._importers import vl_version_for_vl_convert

    return vlc.javascript_bundle(vl_version=vl_version_for_vl_convert())


def scorecard_table(card: pl.DataFrame) -> str:
    """The scorecard as a great-tables HTML table (inline styles, no web fonts)."""
    from great_tables import GT, loc, style

    data = card.select(
        "claim_id",
        "statement",
        "claimed_value",
        "computed_value",
        "unit",
        "verdict",
        "evidence",
        "is_sample",
        "is_approximation",
    )
    table = (
        GT(data, id="scorecard")
        .tab_header(title="Claims scorecard", subtitle="Each claim recomputed from the warehouse")
        .cols_label(
            claim_id="#",
            statement="Claim",
            claimed_value="Claimed",
            computed_value="Computed",
            unit="Unit",
            verdict="Verdict",
            evidence="Evidence (method | tickers | dates | sources | figures)",
            is_sample="Sample data",
            is_approximation="Approximation",
        )
        .fmt_number(columns=["claimed_value", "computed_value"], decimals=2)
        .sub_missing(columns=["computed_value"], missing_text="n/a")
        .tab_style(style=style.text(size="11px"), locations=loc.body(columns="evidence"))
        .tab_style(style=style.text(weight="bold"), locations=loc.body(columns="verdict"))
    )
    for verdict, color in VERDICT_COLORS.items():
        rows = [i for i, v in enumerate(data["verdict"].to_list()) if v == verdict]
        if rows:
            table = table.tab_style(style=style.fill(color=color), locations=loc.body(columns="verdict", rows=rows))
    return table.as_raw_html()


def _section(chart_id: str, title: str, chart: alt.Chart | None, why_empty: str, caption: str) -> tuple[str, str]:
    """(html, script) of one chart section; a chart that has nothing to draw says why."""
    if chart is None:
        body = f'<p class="empty">Nothing to draw: {html.escape(why_empty)}</p>'
        return f"<section><h2>{html.escape(title)}</h2>{body}<p class='caption'>{caption}</p></section>", ""
    spec = json.dumps(chart.to_dict())
    script = f"vegaEmbed('#{chart_id}', {spec}, {json.dumps(EMBED_OPTIONS)}).catch(console.error);"
    return (
        f"<section><h2>{html.escape(title)}</h2><div class='chart' id='{chart_id}'></div>"
        f"<p class='caption'>{caption}</p></section>",
        script,
    )


def render_report(inputs: ReportInputs, folder: Path) -> ReportOutput:
    """Write ``index.html`` (and ``headline.png``) into ``folder``; returns the paths and what was drawn."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ytd_lines(inputs.levels, inputs.as_of)
    headline = basket_vs_us_chart(lines, inputs.basket_series, inputs.as_of)
    charts = {
        "basket-vs-us": (
            "The HSTECH basket against the US indexes, year to date",
            headline,
            f"no basket or index level on or before 31 December {inputs.as_of.year - 1}",
            f"{html.escape(inputs.basket_series)} is an <b>approximation</b> of Hang Seng TECH built from the "
            f"universe's members ({html.escape(inputs.basket_method)}), not the official index. Total-return "
            "levels, each series in its own currency, from its last close of the previous year.",
        ),
        "members-ranking": (
            "Hang Seng TECH members ranked by year-to-date return",
            ranking_chart(inputs.ranking, inputs.highlight),
            f"no member has a year-to-date return as of {inputs.as_of}",
            "Outlined: the members a claim names ("
            + html.escape(", ".join(inputs.highlight))
            + "). Local currency (HKD), dividends included, data-error rows left out.",
        ),
        "capex-by-year": (
            "Capex by calendar year, USD",
            capex_chart(inputs.capex),
            "no company has capex with a USD value in this warehouse",
            "Fiscal years aligned to calendar years (see marts.capex_trend.alignment); lighter bars are a fiscal "
            "year standing in for the calendar year. "
            + (
                "<b>Missing company-years</b>: " + html.escape("; ".join(inputs.capex_missing))
                if inputs.capex_missing
                else "Every group member has every year shown."
            ),
        ),
        "adr-premium": (
            "ADR premium over the Hong Kong line",
            premium_chart(inputs.premium),
            "; ".join(inputs.premium_missing) or "no ADR and Hong Kong closes to compare",
            "ADR close / HK shares per ADS x USD/HKD, against the Hong Kong close of the next HK session "
            "(Hong Kong closes before New York opens on the same date).",
        ),
    }
    sections, scripts, drawn, empty = [], [], [], {}
    for chart_id, (title, chart, why, caption) in charts.items():
        section, script = _section(chart_id, title, chart, why, caption)
        sections.append(section)
        if script:
            scripts.append(script)
            drawn.append(chart_id)
        else:
            empty[chart_id] = why
    banner = ""
    if inputs.source_mode == "sample":
        banner = (
            "<div class='sample'>SAMPLE DATA: this warehouse was built from synthetic prices and filings. "
            "Nothing here describes the real market; every scorecard row is marked is_sample.</div>"
        )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in inputs.notes)
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Hong Kong tech rally, as of {inputs.as_of}</title>
<style>
body {{ font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; margin: 24px auto;
       max-width: 1100px; color: #222; }}
h1 {{ margin-bottom: 0; }} .sub {{ color: #555; margin-top: 4px; }}
section {{ margin: 28px 0; }} .caption {{ color: #555; font-size: 13px; max-width: 900px; }}
.empty {{ padding: 16px; background: #f4f6f7; border-left: 4px solid #7f8c8d; }}
.sample {{ padding: 12px; background: #fdebd0; border: 2px solid #e67e22; font-weight: bold; }}
</style>
<script type="text/javascript">
{_bundle()}
</script>
</head>
<body>
{banner}
<h1>Hong Kong tech rally: what the warehouse says</h1>
<p class="sub">As of {inputs.as_of} &middot; source: {html.escape(inputs.source_mode)} data &middot; built by
Dagster asset marts/rally_report from the marts schema</p>
<ul>{notes}</ul>
{"".join(sections)}
<section><h2>Claims scorecard</h2>{scorecard_table(inputs.scorecard)}</section>
<script type="text/javascript">
{chr(10).join(scripts)}
</script>
</body>
</html>
"""
    html_path = folder / "index.html"
    html_path.write_text(page, encoding="utf-8")
    png_path = None
    if headline is not None:
        import vl_convert as vlc

        png_path = folder / "headline.png"
        small = basket_vs_us_chart(lines, inputs.basket_series, inputs.as_of, width=400, height=180)
        png_path.write_bytes(vlc.vegalite_to_png(small.to_dict(), scale=1))  # type: ignore[union-attr]
    return ReportOutput(html_path, png_path, drawn, empty)


def png_markdown(png: Path, alt_text: str) -> str:
    """Markdown showing the PNG inline (a base64 data URI the Dagster UI renders)."""
    data = base64.b64encode(png.read_bytes()).decode()
    return f"![{alt_text}](data:image/png;base64,{data})"
