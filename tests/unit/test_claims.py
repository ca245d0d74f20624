"""The claims scorecard: the claims file, verdict rules and each metric on hand-built mart frames."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from assets.transforms.claims import (
    CLAIMS_CSV,
    CLOSE,
    CONFIRMED,
    CONTRADICTED,
    METRICS,
    NOT_VERIFIABLE,
    Claim,
    ClaimError,
    Finding,
    MartFrames,
    claim_verdict,
    load_claims,
    parse_params,
    part_verdict,
    scorecard,
)

AS_OF = date(2025, 9, 17)


def _claim(
    metric: str, params: str, claimed: float, test: str = "approx", tol: float = 0.5, close: float = 1.5
) -> Claim:
    return Claim(1, AS_OF, "a claim", claimed, "%", metric, parse_params(params), test, tol, close, "test", params)


def test_claims_file_loads_with_known_metrics() -> None:
    claims = load_claims()
    assert [c.claim_id for c in claims] == list(range(1, 9))
    assert {c.metric for c in claims} <= set(METRICS)
    baidu = claims[1]
    assert baidu.params == {"ticker": "9888.HK"} and baidu.claimed_value == 16


def test_a_bad_claims_line_is_refused_with_its_line(tmp_path: Path) -> None:
    header = "claim_id,as_of,statement,claimed_value,unit,metric,params,test,tolerance,close_within,source\n"
    bad = tmp_path / "claims.csv"
    bad.write_text(header + "1,2025-09-17,x,1,%,no_such_metric,a=b,approx,1,2,s\n")
    with pytest.raises(ClaimError, match="line 2: unknown metric"):
        load_claims(bad)
    bad.write_text(header + "1,2025-09-17,x,1,%,daily_return,ticker,approx,1,2,s\n")
    with pytest.raises(ClaimError, match="not key=value"):
        load_claims(bad)


def test_adding_a_claim_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "claims.csv"
    path.write_text(
        CLAIMS_CSV.read_text() + "9,2025-09-17,Tencent up 60% this year,60,%,period_return,"
        "series=0700.HK; period=YTD,approx,1,3,someone\n"
    )
    assert load_claims(path)[-1].params == {"series": "0700.HK", "period": "YTD"}


@pytest.mark.parametrize(
    ("test", "computed", "claimed", "verdict"),
    [
        ("approx", 15.72, 16.0, CONFIRMED),
        ("approx", 15.0, 16.0, CLOSE),
        ("approx", 14.0, 16.0, CONTRADICTED),
        ("approx", None, 16.0, NOT_VERIFIABLE),
        ("at_most", 2.0, 3.0, CONFIRMED),
        ("at_most", 4.0, 3.0, CLOSE),
        ("at_most", 26.0, 3.0, CONTRADICTED),
        ("at_least", 40.0, 0.0, CONFIRMED),
        ("at_least", -1.0, 0.0, CLOSE),
        ("at_least", -5.0, 0.0, CONTRADICTED),
    ],
)
def test_verdict_rules(test: str, computed: float | None, claimed: float, verdict: str) -> None:
    assert part_verdict(test, computed, claimed, tolerance=0.5, close_within=1.5) == verdict


def test_a_claim_is_as_good_as_its_worst_part() -> None:
    claim = _claim("capex_group_total", "group=g; year=2025", 32)
    both = Finding([("2025", 32.2, 32.0), ("2023", 13.0, 13.0)], "")
    assert claim_verdict(claim, both) == CONFIRMED
    assert claim_verdict(claim, Finding([("2025", 32.2, 32.0), ("2023", 20.0, 13.0)], "")) == CONTRADICTED
    assert claim_verdict(claim, Finding([("2025", 32.2, 32.0), ("2023", None, 13.0)], "")) == NOT_VERIFIABLE


# --------------------------------------------------------------------------- metrics on hand-built frames


def _perf(rows: list[tuple[str, str, float | None]], period: str = "YTD") -> pl.DataFrame:
    """(ticker, kind, return_local) rows at AS_OF."""
    return pl.DataFrame(
        {
            "ticker": [r[0] for r in rows],
            "kind": [r[1] for r in rows],
            "as_of_date": [AS_OF] * len(rows),
            "period": [period] * len(rows),
            "start_date": [date(2024, 12, 31)] * len(rows),
            "end_date": [AS_OF] * len(rows),
            "start_level": [100.0] * len(rows),
            "end_level": [100.0 * (1 + (r[2] or 0)) for r in rows],
            "currency": ["HKD"] * len(rows),
            "return_local": [r[2] for r in rows],
            "note": [None if r[2] is not None else "no close" for r in rows],
        }
    )


MEMBERS = pl.DataFrame(
    {
        "group_name": ["hstech"] * 4 + ["china_big_four"] * 2,
        "ticker": ["9888.HK", "9988.HK", "9618.HK", "1347.HK", "9988.HK", "0700.HK"],
        "capex_ticker": [None] * 4 + ["BABA", "0700.HK"],
    }
)


def _frames(**kw: pl.DataFrame) -> MartFrames:
    return MartFrames(source_mode="replay", group_members=MEMBERS, basket_method="29 members, equal weights", **kw)


def test_period_return_on_the_basket_is_flagged_as_an_approximation() -> None:
    marts = _frames(performance=_perf([("HSTECH_BASKET", "basket", 0.553)]))
    finding = METRICS["period_return"](
        _claim("period_return", "series=HSTECH_BASKET; period=YTD", 41, tol=2, close=5), marts
    )
    assert finding.value == pytest.approx(55.3) and finding.is_approximation
    assert "APPROXIMATION" in finding.evidence and "2024-12-31" in finding.evidence


def test_daily_return_confirms_baidu_and_refuses_an_excluded_day() -> None:
    rd = pl.DataFrame(
        {
            "ticker": ["9888.HK"],
            "trade_date": [AS_OF],
            "prev_date": [date(2025, 9, 16)],
            "prev_adj_close": [113.2],
            "adj_close": [131.0],
            "close": [131.0],
            "currency": ["HKD"],
            "simple_return": [131.0 / 113.2 - 1],
            "is_excluded": [False],
            "excluded_kinds": [[]],
        },
        schema_overrides={"excluded_kinds": pl.List(pl.String)},
    )
    claim = _claim("daily_return", "ticker=9888.HK", 16)
    finding = METRICS["daily_return"](claim, _frames(returns_daily=rd))
    assert finding.value == pytest.approx(15.72, abs=0.01)
    assert claim_verdict(claim, finding) == CONFIRMED
    assert "2025-09-16 to 2025-09-17" in finding.evidence
    flagged = rd.with_columns(pl.lit(True).alias("is_excluded"), pl.lit(["unit_error"]).alias("excluded_kinds"))
    refused = METRICS["daily_return"](claim, _frames(returns_daily=flagged))
    assert refused.value is None and "unit_error" in refused.evidence


def test_rank_among_members_names_the_ranks() -> None:
    perf = _perf([("1347.HK", "instrument", 1.45), ("9988.HK", "instrument", 0.95), ("9888.HK", "instrument", 0.58)])
    perf = pl.concat([perf, _perf([("9618.HK", "instrument", 0.01)])])
    claim = _claim("rank_among_members", "tickers=9888.HK|9988.HK|9618.HK; group=hstech", 3, "at_most", 0, 2)
    finding = METRICS["rank_among_members"](claim, _frames(performance=perf))
    assert finding.value == 4.0 and "9988.HK #2" in finding.evidence and "#1 1347.HK" in finding.evidence
    assert claim_verdict(claim, finding) == CLOSE


def test_capex_total_lists_the_missing_company_years() -> None:
    trend = pl.DataFrame(
        {
            "entity": ["china_big_four", "china_big_four"],
            "basis": ["calendar", "calendar"],
            "year": [2025, 2023],
            "capex_usd": [None, 13.1e9],
            "is_approximation": [False, True],
            "missing": [["0700.HK 2025: no data"], []],
            "components": [None, "BABA: fiscal_year_majority"],
        }
    )
    claim = _claim("capex_group_total", "group=china_big_four; year=2025; compare_year=2023; compare_value=13", 32)
    finding = METRICS["capex_group_total"](claim, _frames(capex_trend=trend))
    assert finding.parts[0][1] is None and finding.parts[1][1] == pytest.approx(13.1)
    assert "0700.HK 2025: no data" in finding.evidence and "projection" in finding.evidence
    assert claim_verdict(claim, finding) == NOT_VERIFIABLE


def test_forward_pe_before_the_first_snapshot_is_not_verifiable_and_says_so() -> None:
    val = pl.DataFrame(
        {
            "as_of_date": [date(2026, 8, 21)] * 2,
            "group_name": ["hstech", "us_bigtech"],
            "forward_pe": [14.6, 18.0],
            "members": [29, 9],
            "members_forward": [29, 9],
            "coverage_forward": [1.0, 1.0],
        }
    )
    claim = _claim("group_forward_pe", "group=hstech; compare_group=us_bigtech; compare_value=27", 21, tol=1, close=3)
    finding = METRICS["group_forward_pe"](claim, _frames(valuation=val))
    assert claim_verdict(claim, finding) == NOT_VERIFIABLE
    assert "no fundamentals snapshot" in finding.evidence and "first snapshot 2026-08-21" in finding.evidence
    later = replace(claim, as_of=date(2026, 8, 21))
    found = METRICS["group_forward_pe"](later, _frames(valuation=val))
    assert [p[1] for p in found.parts] == [14.6, 18.0]
    assert claim_verdict(later, found) == CONTRADICTED


def test_weekly_streak_and_outperformance() -> None:
    streaks = pl.DataFrame(
        {
            "series": ["B"] * 3,
            "week_start": [date(2025, 9, 1), date(2025, 9, 8), date(2025, 9, 15)],
            "week_end_date": [date(2025, 9, 5), date(2025, 9, 12), date(2025, 9, 19)],
            "weekly_return": [0.01, 0.04, 0.05],
            "direction": ["up"] * 3,
            "streak_weeks": [6, 7, 8],
            "streak_start_week_end": [date(2025, 7, 25)] * 3,
            "is_complete": [True] * 3,
        }
    )
    claim = _claim("weekly_streak", "series=B; direction=up", 7, tol=0, close=1)
    finding = METRICS["weekly_streak"](claim, _frames(streaks=streaks))
    assert finding.value == 7.0 and claim_verdict(claim, finding) == CONFIRMED
    assert "was not over on that date" in finding.evidence
    perf = _perf([("B", "basket", 0.55), ("^IXIC", "instrument", 0.153), ("^RUT", "instrument", 0.08)])
    out = _claim("outperformance", "series=B; peers=^IXIC|^RUT; period=YTD", 0, "at_least", 0, 0)
    margin = METRICS["outperformance"](out, _frames(performance=perf))
    assert margin.value == pytest.approx(39.7) and "best peer ^IXIC" in margin.evidence
    missing = METRICS["outperformance"](replace(out, params={**out.params, "peers": "^DJI"}), _frames(performance=perf))
    assert missing.value is None and "no YTD return for ^DJI" in missing.evidence


def test_a_claim_outside_every_source_is_not_verifiable_and_nothing_is_invented() -> None:
    claim = _claim("not_in_warehouse", "what=bond issuance", 3.2)
    card = scorecard([claim], _frames(), is_sample=False)
    row = card.row(0, named=True)
    assert row["verdict"] == NOT_VERIFIABLE and row["computed_value"] is None
    assert "bond issuance" in row["evidence"]


def test_sample_data_marks_every_row() -> None:
    claims = load_claims()
    card = scorecard(claims, _frames(performance=_perf([("HSTECH_BASKET", "basket", 0.2)])), is_sample=True)
    assert card.height == len(claims)
    assert card["is_sample"].to_list() == [True] * len(claims)
    assert all(e.startswith("SAMPLE DATA") for e in card["evidence"].to_list())
    assert set(card["verdict"].to_list()) <= {CONFIRMED, CLOSE, CONTRADICTED, NOT_VERIFIABLE}
