"""Vega-Altair charts of the report, built from mart frames (pure: frames in, chart specs out).

Each builder returns None when its frame has nothing to draw, so the page can say why
instead of showing an empty axis.
"""

from __future__ import annotations

from datetime import date

import altair as alt
import polars as pl

WIDTH = 720
BASKET_COLOR = "#c0392b"
PALETTE = ["#c0392b", "#2c3e50", "#2980b9", "#7f8c8d", "#16a085", "#8e44ad", "#d35400", "#27ae60"]


def ytd_lines(levels: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """(series, trade_date, ytd_pct): each series' cumulative return from its last close of the previous year."""
    start = date(as_of.year - 1, 12, 31)
    out = []
    for series in levels["series"].unique(maintain_order=True).to_list():
        one = levels.filter(pl.col("series") == series).sort("trade_date")
        base = one.filter(pl.col("trade_date") <= start)
        if base.is_empty():
            continue
        level0 = float(base["level"][-1])
        out.append(
            one.filter((pl.col("trade_date") >= base["trade_date"][-1]) & (pl.col("trade_date") <= as_of)).select(
                "series", "trade_date", (100 * (pl.col("level") / level0 - 1)).alias("ytd_pct")
            )
        )
    if not out:
        return pl.DataFrame(schema={"series": pl.String, "trade_date": pl.Date, "ytd_pct": pl.Float64})
    return pl.concat(out)


def basket_vs_us_chart(
    lines: pl.DataFrame, basket: str, as_of: date, width: int = WIDTH, height: int = 320
) -> alt.Chart | None:
    """The basket against the US indexes, year to date, in percent."""
    if lines.is_empty():
        return None
    data = lines.with_columns(pl.col("trade_date").cast(pl.String)).to_pandas()
    order = [basket, *sorted(s for s in lines["series"].unique().to_list() if s != basket)]
    colors = alt.Scale(domain=order, range=PALETTE[: len(order)])
    base = alt.Chart(data).encode(
        x=alt.X("trade_date:T", title=None),
        y=alt.Y("ytd_pct:Q", title=f"Year to date, % (to {as_of})"),
        color=alt.Color("series:N", scale=colors, sort=order, title=None, legend=alt.Legend(orient="top")),
    )
    lines_layer = base.mark_line(strokeWidth=1.6).encode(
        strokeWidth=alt.condition(alt.datum.series == basket, alt.value(3), alt.value(1.5)),
        tooltip=["series:N", "trade_date:T", alt.Tooltip("ytd_pct:Q", format="+.1f")],
    )
    last = lines.sort("trade_date").group_by("series").last()
    labels = (
        alt.Chart(last.with_columns(pl.col("trade_date").cast(pl.String)).to_pandas())
        .mark_text(align="left", dx=5, fontWeight="bold")
        .encode(
            x="trade_date:T",
            y="ytd_pct:Q",
            text=alt.Text("ytd_pct:Q", format="+.1f"),
            color=alt.Color("series:N", scale=colors, legend=None),
        )
    )
    zero = alt.Chart(pl.DataFrame({"y": [0.0]}).to_pandas()).mark_rule(color="#999").encode(y="y:Q")
    return (zero + lines_layer + labels).properties(width=width, height=height)


def ranking_chart(ranks: pl.DataFrame, highlight: list[str], width: int = WIDTH) -> alt.Chart | None:
    """Members ranked by YTD return: horizontal bars, the claim's tickers outlined."""
    data = ranks.filter(pl.col("return_pct").is_not_null())
    if data.is_empty():
        return None
    data = data.with_columns(
        pl.col("ticker").is_in(highlight).alias("named"),
        (pl.col("ticker") + pl.lit("  ") + pl.col("name").fill_null("")).alias("label"),
        pl.when(pl.col("return_pct") >= 0).then(pl.lit("gain")).otherwise(pl.lit("loss")).alias("sign"),
    ).sort("return_pct", descending=True)
    order = data["label"].to_list()
    base = alt.Chart(data.to_pandas()).encode(y=alt.Y("label:N", sort=order, title=None))
    bars = base.mark_bar().encode(
        x=alt.X("return_pct:Q", title="Year to date, % (local currency, total return)"),
        color=alt.Color("sign:N", scale=alt.Scale(domain=["gain", "loss"], range=["#2471a3", "#ca6f1e"]), legend=None),
        stroke=alt.condition(alt.datum.named, alt.value("#111"), alt.value(None)),
        strokeWidth=alt.condition(alt.datum.named, alt.value(2), alt.value(0)),
        tooltip=["ticker:N", "name:N", alt.Tooltip("return_pct:Q", format="+.1f")],
    )
    text = base.mark_text(align="left", dx=3, fontSize=10).encode(
        x="return_pct:Q", text=alt.Text("return_pct:Q", format="+.1f")
    )
    return (bars + text).properties(width=width - 200, height=max(120, 16 * data.height))


def capex_chart(capex: pl.DataFrame, width: int = WIDTH) -> alt.Chart | None:
    """Capex by calendar year in USD bn, one bar per company with data, approximations hatched lighter."""
    data = capex.filter(pl.col("capex_usd").is_not_null())
    if data.is_empty():
        return None
    data = data.with_columns(
        (pl.col("capex_usd") / 1e9).alias("usd_bn"),
        pl.col("year").cast(pl.String),
        pl.when(pl.col("is_approximation"))
        .then(pl.lit("fiscal year standing in"))
        .otherwise(pl.lit("calendar year"))
        .alias("basis_note"),
    )
    return (
        alt.Chart(data.to_pandas())
        .mark_bar()
        .encode(
            x=alt.X("year:N", title=None, axis=alt.Axis(labelAngle=0)),
            xOffset=alt.XOffset("entity:N"),
            y=alt.Y("usd_bn:Q", title="Capex, USD bn (calendar years)"),
            color=alt.Color("entity:N", title=None, legend=alt.Legend(orient="top")),
            opacity=alt.Opacity(
                "basis_note:N",
                scale=alt.Scale(domain=["calendar year", "fiscal year standing in"], range=[1.0, 0.45]),
                title=None,
            ),
            tooltip=["entity:N", "year:N", alt.Tooltip("usd_bn:Q", format=".2f"), "alignment:N", "components:N"],
        )
        .properties(width=width, height=300)
    )


def premium_chart(premium: pl.DataFrame, width: int = WIDTH) -> alt.Chart | None:
    """ADR premium over the Hong Kong line, percent, one line per pair."""
    if premium.is_empty():
        return None
    data = premium.select(
        (pl.col("adr_ticker") + " / " + pl.col("hk_ticker")).alias("pair"),
        pl.col("hk_trade_date").cast(pl.String),
        "premium_pct",
    ).to_pandas()
    zero = alt.Chart(pl.DataFrame({"y": [0.0]}).to_pandas()).mark_rule(color="#999").encode(y="y:Q")
    lines = (
        alt.Chart(data)
        .mark_line(strokeWidth=1.2)
        .encode(
            x=alt.X("hk_trade_date:T", title="Hong Kong trade date (vs the previous New York close)"),
            y=alt.Y("premium_pct:Q", title="ADR premium over HK line, %"),
            color=alt.Color("pair:N", title=None, legend=alt.Legend(orient="top")),
            tooltip=["pair:N", "hk_trade_date:T", alt.Tooltip("premium_pct:Q", format="+.2f")],
        )
    )
    return (zero + lines).properties(width=width, height=280)
