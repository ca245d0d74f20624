"""The report renderer on hand-built frames: self-contained, honest about what it cannot draw."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from assets.report import report_as_of, report_folder
from assets.reporting.page import ReportInputs, render_report
from assets.transforms.claims import load_claims

AS_OF = date(2025, 9, 17)


def _levels() -> pl.DataFrame:
    days = [date(2024, 12, 31) + timedelta(days=i) for i in range(0, 260, 3)]
    rows = [("HSTECH_BASKET", d, 1000 * (1 + i / 200)) for i, d in enumerate(days)]
    rows += [("^NDX", d, 20000 * (1 + i / 600)) for i, d in enumerate(days)]
    return pl.DataFrame(rows, schema={"series": pl.String, "trade_date": pl.Date, "level": pl.Float64}, orient="row")


def _scorecard(is_sample: bool) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "claim_id": [1, 2],
            "statement": ["Up 41%", "Bonds"],
            "claimed_value": [41.0, 3.2],
            "computed_value": [55.3, None],
            "unit": ["%", "USD bn"],
            "verdict": ["contradicted", "not verifiable"],
            "evidence": ["method: x", "nothing is inferred"],
            "is_sample": [is_sample, is_sample],
            "is_approximation": [True, False],
        }
    )


def _inputs(mode: str = "replay", with_data: bool = True) -> ReportInputs:
    ranking = pl.DataFrame({"ticker": ["9988.HK", "9618.HK"], "name": ["Alibaba", "JD"], "return_pct": [95.5, -3.0]})
    capex = pl.DataFrame(
        {
            "entity": ["GOOGL", "GOOGL"],
            "year": [2024, 2025],
            "capex_usd": [52.5e9, 91.4e9],
            "is_approximation": [False, False],
            "alignment": ["fiscal_year_is_calendar"] * 2,
            "components": ["FY"] * 2,
        }
    )
    premium = pl.DataFrame(
        {
            "adr_ticker": ["BABA"] * 2,
            "hk_ticker": ["9988.HK"] * 2,
            "hk_trade_date": [date(2025, 9, 16), date(2025, 9, 17)],
            "premium_pct": [0.4, -0.2],
        }
    )
    if not with_data:
        ranking, capex, premium = ranking.clear(), capex.clear(), premium.clear()
    return ReportInputs(
        as_of=AS_OF,
        source_mode=mode,
        basket_series="HSTECH_BASKET",
        basket_method="29 members, equal weights",
        levels=_levels() if with_data else _levels().clear(),
        ranking=ranking,
        highlight=["9988.HK"],
        capex=capex,
        capex_missing=["0700.HK 2025: no data"],
        premium=premium,
        premium_missing=[] if with_data else ["no ADR prices in this warehouse for BABA"],
        scorecard=_scorecard(mode == "sample"),
        notes=["a note"],
    )


def test_report_is_self_contained_with_every_chart_and_the_scorecard(tmp_path: Path) -> None:
    out = render_report(_inputs(), tmp_path)
    page = out.html_path.read_text()
    assert out.charts == ["basket-vs-us", "members-ranking", "capex-by-year", "adr-premium"] and not out.empty
    # nothing loaded from the network: no external scripts, styles, fonts or images
    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", page)
    assert "@import" not in page and "url(http" not in page
    assert "vegaEmbed(" in page and '"renderer": "svg"' in page
    assert 'id="scorecard"' in page and "not verifiable" in page
    assert "SAMPLE DATA" not in page
    assert out.png_path is not None and out.png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_says_why_a_chart_is_missing_and_flags_sample_data(tmp_path: Path) -> None:
    out = render_report(_inputs("sample", with_data=False), tmp_path)
    page = out.html_path.read_text()
    assert out.charts == [] and out.png_path is None
    assert "no ADR prices in this warehouse for BABA" in out.empty["adr-premium"]
    assert page.count("Nothing to draw") == 4
    assert "SAMPLE DATA" in page


def test_report_date_and_folder() -> None:
    claims = load_claims()
    assert report_as_of("latest_claim", claims, date(2026, 8, 21)) == AS_OF
    assert report_as_of("latest", claims, date(2026, 8, 21)) == date(2026, 8, 21)
    assert report_as_of("2025-06-30", claims, None) == date(2025, 6, 30)
    assert report_folder(Path("/x/data/replay.duckdb")) == Path("/x/data/reports/replay")
