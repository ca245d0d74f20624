"""Pure Polars: claims from ``assets/claims.csv`` recomputed from the marts, with a verdict each.

A claim names a metric and its parameters; each metric is a function of the mart frames
that returns the computed value(s) and the evidence (tickers, dates, sources, method).
Verdict rules, per part of a claim (a claim like "32B in 2025 against 13B in 2023" has two):

* ``approx``:   |computed - claimed| <= tolerance -> confirmed; <= close_within -> close
* ``at_most``:  computed <= claimed + tolerance -> confirmed; <= claimed + close_within -> close
* ``at_least``: computed >= claimed - tolerance -> confirmed; >= claimed - close_within -> close
* otherwise contradicted; no computed value -> "not verifiable", the evidence says why.

The claim's verdict is its worst part's. Nothing is ever filled in: a metric without data
returns no value and names what is missing.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from assets.transforms.streaks import streak_as_of

CLAIMS_CSV = Path(__file__).resolve().parents[1] / "claims.csv"

CONFIRMED, CLOSE, CONTRADICTED, NOT_VERIFIABLE = "confirmed", "close", "contradicted", "not verifiable"
VERDICTS = (CONFIRMED, CLOSE, CONTRADICTED, NOT_VERIFIABLE)
TESTS = ("approx", "at_most", "at_least")
MAX_SNAPSHOT_AGE_DAYS = 31

SCORECARD_SCHEMA: dict[str, pl.DataType] = {
    "claim_id": pl.Int64(),
    "statement": pl.String(),
    "claimed_value": pl.Float64(),
    "computed_value": pl.Float64(),
    "unit": pl.String(),
    "verdict": pl.String(),
    "evidence": pl.String(),
    "as_of": pl.Date(),
    "is_sample": pl.Boolean(),
    "is_approximation": pl.Boolean(),
    "metric": pl.String(),
    "params": pl.String(),
    "test": pl.String(),
    "tolerance": pl.Float64(),
    "close_within": pl.Float64(),
    "claim_source": pl.String(),
}


@dataclass(frozen=True)
class Claim:
    claim_id: int
    as_of: date
    statement: str
    claimed_value: float
    unit: str
    metric: str
    params: dict[str, str]
    test: str
    tolerance: float
    close_within: float
    source: str
    params_text: str = ""

    def param(self, key: str, default: str | None = None) -> str:
        if key in self.params:
            return self.params[key]
        if default is None:
            raise ClaimError(f"claim {self.claim_id}: metric {self.metric} needs parameter {key!r}")
        return default

    def param_list(self, key: str) -> list[str]:
        return [v.strip() for v in self.param(key).split("|") if v.strip()]


class ClaimError(ValueError):
    """The claims file is malformed; the message names the claim."""


@dataclass
class Finding:
    """What a metric found: one (label, computed, claimed) per part, and the evidence in words."""

    parts: list[tuple[str, float | None, float]]
    evidence: str
    is_approximation: bool = False

    @property
    def value(self) -> float | None:
        return self.parts[0][1] if self.parts else None


@dataclass
class MartFrames:
    """The mart rows the metrics read (the asset loads them; tests build them by hand)."""

    source_mode: str
    performance: pl.DataFrame = field(default_factory=pl.DataFrame)
    returns_daily: pl.DataFrame = field(default_factory=pl.DataFrame)
    streaks: pl.DataFrame = field(default_factory=pl.DataFrame)
    capex_trend: pl.DataFrame = field(default_factory=pl.DataFrame)
    valuation: pl.DataFrame = field(default_factory=pl.DataFrame)
    group_members: pl.DataFrame = field(default_factory=pl.DataFrame)
    basket_method: str = ""


def parse_params(text: str) -> dict[str, str]:
    """``key=value; key=a|b`` -> {key: value}; lists stay ``|``-separated strings."""
    out: dict[str, str] = {}
    for part in (text or "").split(";"):
        if not part.strip():
            continue
        if "=" not in part:
            raise ClaimError(f"parameter {part.strip()!r} is not key=value")
        key, value = part.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def load_claims(path: Path = CLAIMS_CSV) -> list[Claim]:
    """Read and validate the claims file: known metric and test, numbers where numbers go."""
    claims: list[Claim] = []
    with path.open(newline="") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            try:
                claim = Claim(
                    claim_id=int(row["claim_id"]),
                    as_of=date.fromisoformat(row["as_of"]),
                    statement=row["statement"].strip(),
                    claimed_value=float(row["claimed_value"]),
                    unit=row["unit"].strip(),
                    metric=row["metric"].strip(),
                    params=parse_params(row["params"]),
                    test=row["test"].strip(),
                    tolerance=float(row["tolerance"]),
                    close_within=float(row["close_within"]),
                    source=row["source"].strip(),
                    params_text=row["params"].strip(),
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise ClaimError(f"{path.name} line {line}: {exc}") from exc
            if claim.metric not in METRICS:
                raise ClaimError(f"{path.name} line {line}: unknown metric {claim.metric!r} (known: {sorted(METRICS)})")
            if claim.test not in TESTS:
                raise ClaimError(f"{path.name} line {line}: unknown test {claim.test!r} (known: {TESTS})")
            if claim.close_within < claim.tolerance:
                raise ClaimError(f"{path.name} line {line}: close_within must be >= tolerance")
            claims.append(claim)
    ids = [c.claim_id for c in claims]
    if len(ids) != len(set(ids)):
        raise ClaimError(f"{path.name}: duplicate claim ids")
    return claims


def part_verdict(test: str, computed: float | None, claimed: float, tolerance: float, close_within: float) -> str:
    """The verdict of one number against its claim (rules in the module docstring)."""
    if computed is None:
        return NOT_VERIFIABLE
    if test == "approx":
        gap = abs(computed - claimed)
    elif test == "at_most":
        gap = max(0.0, computed - claimed)
    elif test == "at_least":
        gap = max(0.0, claimed - computed)
    else:
        raise ClaimError(f"unknown test {test!r}")
    if gap <= tolerance + 1e-9:
        return CONFIRMED
    if gap <= close_within + 1e-9:
        return CLOSE
    return CONTRADICTED


def claim_verdict(claim: Claim, finding: Finding) -> str:
    """The worst verdict over the claim's parts (any part without data: not verifiable)."""
    if not finding.parts:
        return NOT_VERIFIABLE
    verdicts = [part_verdict(claim.test, c, v, claim.tolerance, claim.close_within) for _, c, v in finding.parts]
    for worst in (NOT_VERIFIABLE, CONTRADICTED, CLOSE):
        if worst in verdicts:
            return worst
    return CONFIRMED


def _evidence(method: str, tickers: list[str], dates: str, sources: str, detail: str = "") -> str:
    parts = [f"method: {method}", f"tickers: {', '.join(tickers) or 'none'}", f"dates: {dates}", f"sources: {sources}"]
    if detail:
        parts.append(detail)
    return " | ".join(parts)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.2f}%"


def _perf_rows(marts: MartFrames, as_of: date, period: str) -> pl.DataFrame:
    perf = marts.performance
    if perf.is_empty():
        return perf
    return perf.filter((pl.col("as_of_date") == as_of) & (pl.col("period") == period))


def _is_basket(marts: MartFrames, series: str) -> bool:
    perf = marts.performance
    return not perf.is_empty() and perf.filter((pl.col("ticker") == series) & (pl.col("kind") == "basket")).height > 0


def _basket_note(marts: MartFrames, series: str) -> str:
    if not _is_basket(marts, series):
        return ""
    return (
        f"APPROXIMATION: {series} is the warehouse's basket of the universe's HSTECH lines "
        f"({marts.basket_method}), not the official index"
    )


def metric_period_return(claim: Claim, marts: MartFrames) -> Finding:
    series, period = claim.param("series"), claim.param("period", "YTD")
    rows = _perf_rows(marts, claim.as_of, period).filter(pl.col("ticker") == series)
    src = f"marts.performance ({marts.source_mode})"
    if rows.is_empty() or rows["return_local"][0] is None:
        why = "no row" if rows.is_empty() else str(rows["note"][0])
        return Finding(
            [(f"{period} return", None, claim.claimed_value)],
            _evidence("performance on adj_close", [series], str(claim.as_of), src, f"not computable: {why}"),
        )
    r = rows.row(0, named=True)
    detail = (
        f"{r['start_date']} close {r['start_level']:.6g} -> {r['end_date']} close {r['end_level']:.6g} "
        f"= {_pct(r['return_local'])} in {r['currency']}"
    )
    note = _basket_note(marts, series)
    return Finding(
        [(f"{period} return", 100 * r["return_local"], claim.claimed_value)],
        _evidence(
            f"{period} return in local currency, total return; YTD from the last close of the previous year",
            [series],
            f"{r['start_date']} to {r['end_date']}",
            src,
            "; ".join(x for x in (detail, note) if x),
        ),
        is_approximation=bool(note),
    )


def metric_daily_return(claim: Claim, marts: MartFrames) -> Finding:
    ticker = claim.param("ticker")
    day = date.fromisoformat(claim.param("date", claim.as_of.isoformat()))
    rd = marts.returns_daily
    rows = rd.filter((pl.col("ticker") == ticker) & (pl.col("trade_date") == day)) if not rd.is_empty() else rd
    src = f"core.prices_daily_flagged via marts.returns_daily ({marts.source_mode})"
    if rows.is_empty():
        return Finding(
            [("daily return", None, claim.claimed_value)],
            _evidence("close to close", [ticker], str(day), src, f"no {ticker} bar on {day}"),
        )
    r = rows.row(0, named=True)
    if r["is_excluded"] or r["simple_return"] is None:
        why = (
            f"excluded as a data error ({', '.join(r['excluded_kinds'])})" if r["is_excluded"] else "no previous close"
        )
        return Finding(
            [("daily return", None, claim.claimed_value)], _evidence("close to close", [ticker], str(day), src, why)
        )
    return Finding(
        [("daily return", 100 * r["simple_return"], claim.claimed_value)],
        _evidence(
            "simple return, previous valid close to close, total-return basis (adj_close)",
            [ticker],
            f"{r['prev_date']} to {r['trade_date']}",
            src,
            f"adj_close {r['prev_adj_close']:.6g} -> {r['adj_close']:.6g} ({r['currency']}), close {r['close']:.6g}; "
            f"no data-error flag on the day",
        ),
    )


def metric_rank_among_members(claim: Claim, marts: MartFrames) -> Finding:
    named = claim.param_list("tickers")
    group, period = claim.param("group"), claim.param("period", "YTD")
    members = (
        marts.group_members.filter(pl.col("group_name") == group)["ticker"].to_list()
        if not marts.group_members.is_empty()
        else []
    )
    rows = (
        (
            _perf_rows(marts, claim.as_of, period)
            .filter(pl.col("ticker").is_in(members) & pl.col("return_local").is_not_null())
            .sort("return_local", descending=True)
            .with_row_index("rank", offset=1)
        )
        if members and not marts.performance.is_empty()
        else pl.DataFrame()
    )
    src = f"marts.performance ({marts.source_mode})"
    ranked = {} if rows.is_empty() else {r["ticker"]: r for r in rows.iter_rows(named=True)}
    missing = [t for t in named if t not in ranked]
    if missing:
        return Finding(
            [("worst rank", None, claim.claimed_value)],
            _evidence(
                f"rank by {period} return among {group} members",
                named,
                str(claim.as_of),
                src,
                f"no {period} return for {', '.join(missing)}",
            ),
        )
    top = ", ".join(f"#{r['rank']} {r['ticker']} {_pct(r['return_local'])}" for r in rows.head(3).iter_rows(named=True))
    mine = ", ".join(f"{t} #{ranked[t]['rank']} {_pct(ranked[t]['return_local'])}" for t in named)
    return Finding(
        [("worst rank", float(max(ranked[t]["rank"] for t in named)), claim.claimed_value)],
        _evidence(
            f"rank by {period} return (local currency, total return) among the {rows.height} {group} members with one",
            named,
            str(claim.as_of),
            src,
            f"{mine}; top 3: {top}",
        ),
    )


def metric_capex_group_total(claim: Claim, marts: MartFrames) -> Finding:
    group = claim.param("group")
    years = [int(claim.param("year"))]
    claimed = [claim.claimed_value]
    if "compare_year" in claim.params:
        years.append(int(claim.param("compare_year")))
        claimed.append(float(claim.param("compare_value")))
    trend = marts.capex_trend
    parts: list[tuple[str, float | None, float]] = []
    notes: list[str] = []
    approx = False
    for year, value in zip(years, claimed, strict=True):
        row = (
            trend.filter((pl.col("entity") == group) & (pl.col("basis") == "calendar") & (pl.col("year") == year))
            if not trend.is_empty()
            else trend
        )
        if row.is_empty():
            parts.append((f"{year} USD bn", None, value))
            notes.append(f"{year}: no {group} row in marts.capex_trend")
            continue
        r = row.row(0, named=True)
        total = None if r["capex_usd"] is None else r["capex_usd"] / 1e9
        parts.append((f"{year} USD bn", total, value))
        approx = approx or bool(r["is_approximation"])
        if total is None:
            notes.append(f"{year}: filings missing for {'; '.join(r['missing'] or [])}")
        else:
            notes.append(f"{year}: USD {total:.2f}bn ({r['components']})")
    members = (
        sorted(marts.group_members.filter(pl.col("group_name") == group)["capex_ticker"].drop_nulls().to_list())
        if not marts.group_members.is_empty()
        else []
    )
    return Finding(
        parts,
        _evidence(
            "calendar-year capex in USD (fiscal years calendarised from quarters where filed, else the fiscal year "
            "holding most of the year), summed only when every member has the year",
            members,
            ", ".join(str(y) for y in years),
            f"core.capex (SEC XBRL, curated, yfinance) via marts.capex_trend ({marts.source_mode})",
            "; ".join(notes) + "; the claimed figure is a projection (Bloomberg Intelligence)",
        ),
        is_approximation=approx,
    )


def metric_group_forward_pe(claim: Claim, marts: MartFrames) -> Finding:
    group = claim.param("group")
    compare = claim.params.get("compare_group")
    val = marts.valuation
    snapshots = sorted(set(val["as_of_date"].to_list())) if not val.is_empty() else []
    usable = [d for d in snapshots if claim.as_of - timedelta(days=MAX_SNAPSHOT_AGE_DAYS) <= d <= claim.as_of]
    claimed = [(group, claim.claimed_value)]
    if compare:
        claimed.append((compare, float(claim.param("compare_value"))))
    src = f"core.fundamentals_snapshot via marts.valuation ({marts.source_mode})"
    method = "market-cap-weighted harmonic mean of forward P/E recomputed in one currency"
    if not usable:
        held = f"first snapshot {snapshots[0]}, last {snapshots[-1]}" if snapshots else "no snapshots at all"
        return Finding(
            [(f"{g} forward P/E", None, v) for g, v in claimed],
            _evidence(
                method,
                [g for g, _ in claimed],
                str(claim.as_of),
                src,
                f"no fundamentals snapshot within {MAX_SNAPSHOT_AGE_DAYS} days on or before {claim.as_of} ({held}): "
                "P/E on that date cannot be known from this warehouse",
            ),
        )
    day = usable[-1]
    parts: list[tuple[str, float | None, float]] = []
    notes = []
    for g, v in claimed:
        row = val.filter((pl.col("as_of_date") == day) & (pl.col("group_name") == g))
        pe = None if row.is_empty() else row["forward_pe"][0]
        parts.append((f"{g} forward P/E", pe, v))
        if not row.is_empty():
            r = row.row(0, named=True)
            notes.append(
                f"{g}: {pe if pe is None else round(pe, 2)}x over {r['members_forward']} of {r['members']} "
                f"members ({r['coverage_forward']:.0%} of market cap)"
            )
        else:
            notes.append(f"{g}: no valuation row")
    return Finding(parts, _evidence(method, [g for g, _ in claimed], f"snapshot {day}", src, "; ".join(notes)))


def metric_weekly_streak(claim: Claim, marts: MartFrames) -> Finding:
    series, direction = claim.param("series"), claim.param("direction", "up")
    src = f"marts.weekly_streaks ({marts.source_mode})"
    row = None if marts.streaks.is_empty() else streak_as_of(marts.streaks, series, claim.as_of, direction)
    note = _basket_note(marts, series)
    if row is None:
        return Finding(
            [("weeks", None, claim.claimed_value)],
            _evidence("weekly closes", [series], str(claim.as_of), src, "no complete week on or before the date"),
        )
    partial = (
        marts.streaks.filter(
            (pl.col("series") == series)
            & (pl.col("week_end_date") > row["week_end_date"])
            & (pl.col("week_start") <= claim.as_of)
        )
        if not marts.streaks.is_empty()
        else marts.streaks
    )
    partial_note = ""
    if not partial.is_empty():
        partial_note = (
            f"; the week of {claim.as_of} was not over on that date (it closed {partial['week_end_date'][0]} "
            f"at {_pct(partial['weekly_return'][0])})"
        )
    return Finding(
        [("weeks", float(row["weeks"]), claim.claimed_value)],
        _evidence(
            "consecutive complete weeks (each ending at its last trading day's close) in one direction",
            [series],
            f"weeks ending {row['streak_start_week_end'] if row['weeks'] else row['week_end_date']} "
            f"to {row['week_end_date']}",
            src,
            f"last complete week to {row['week_end_date']}: {_pct(row['weekly_return'])} ({row['direction']}, "
            f"{row['streak_weeks']} week run){partial_note}" + (f"; {note}" if note else ""),
        ),
        is_approximation=bool(note),
    )


def metric_outperformance(claim: Claim, marts: MartFrames) -> Finding:
    series, peers, period = claim.param("series"), claim.param_list("peers"), claim.param("period", "YTD")
    rows = _perf_rows(marts, claim.as_of, period)
    got = (
        {} if rows.is_empty() else {r["ticker"]: r for r in rows.iter_rows(named=True) if r["return_local"] is not None}
    )
    missing = [t for t in [series, *peers] if t not in got]
    src = f"marts.performance ({marts.source_mode})"
    note = _basket_note(marts, series)
    if missing:
        return Finding(
            [("margin pp", None, claim.claimed_value)],
            _evidence(
                f"{period} return against each peer",
                [series, *peers],
                str(claim.as_of),
                src,
                f"no {period} return for {', '.join(missing)}",
            ),
        )
    best = max(peers, key=lambda t: got[t]["return_local"])
    margin = 100 * (got[series]["return_local"] - got[best]["return_local"])
    listing = ", ".join(f"{t} {_pct(got[t]['return_local'])}" for t in [series, *peers])
    return Finding(
        [("margin pp", margin, claim.claimed_value)],
        _evidence(
            f"{period} return (local currency, total return) minus the best peer's, in percentage points",
            [series, *peers],
            f"{period} to {claim.as_of}",
            src,
            f"{listing}; best peer {best}" + (f"; {note}" if note else ""),
        ),
        is_approximation=bool(note),
    )


def metric_not_in_warehouse(claim: Claim, marts: MartFrames) -> Finding:
    what = claim.param("what", "this figure")
    return Finding(
        [("value", None, claim.claimed_value)],
        _evidence(
            "none: the warehouse reads prices, FX, fundamentals snapshots and capex filings only",
            [],
            str(claim.as_of),
            "none",
            f"{what}; nothing is inferred or filled in",
        ),
    )


METRICS: dict[str, Callable[[Claim, MartFrames], Finding]] = {
    "period_return": metric_period_return,
    "daily_return": metric_daily_return,
    "rank_among_members": metric_rank_among_members,
    "capex_group_total": metric_capex_group_total,
    "group_forward_pe": metric_group_forward_pe,
    "weekly_streak": metric_weekly_streak,
    "outperformance": metric_outperformance,
    "not_in_warehouse": metric_not_in_warehouse,
}


def scorecard(claims: list[Claim], marts: MartFrames, is_sample: bool) -> pl.DataFrame:
    """One row per claim: recomputed value, verdict and evidence; every row says whether the data is sample."""
    rows = []
    for claim in claims:
        finding = METRICS[claim.metric](claim, marts)
        verdict = claim_verdict(claim, finding)
        evidence = finding.evidence
        if len(finding.parts) > 1:
            evidence += " | parts: " + "; ".join(
                f"{label} computed {'n/a' if c is None else round(c, 2)} vs claimed {v:g} "
                f"-> {part_verdict(claim.test, c, v, claim.tolerance, claim.close_within)}"
                for label, c, v in finding.parts
            )
        if is_sample:
            evidence = "SAMPLE DATA (synthetic, not real prices or filings) | " + evidence
        rows.append(
            {
                "claim_id": claim.claim_id,
                "statement": claim.statement,
                "claimed_value": claim.claimed_value,
                "computed_value": None if finding.value is None else round(finding.value, 4),
                "unit": claim.unit,
                "verdict": verdict,
                "evidence": evidence,
                "as_of": claim.as_of,
                "is_sample": is_sample,
                "is_approximation": finding.is_approximation,
                "metric": claim.metric,
                "params": claim.params_text,
                "test": claim.test,
                "tolerance": claim.tolerance,
                "close_within": claim.close_within,
                "claim_source": claim.source,
            }
        )
    return pl.DataFrame(rows, schema=SCORECARD_SCHEMA)
