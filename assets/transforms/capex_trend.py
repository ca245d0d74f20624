"""Pure Polars: capex per company and year, on the fiscal and on the calendar basis, and group totals.

Fiscal years differ (Alibaba's ends on 31 March, Apple's in late September, NVIDIA's in late
January), so a calendar-year figure says how it was aligned:

* ``fiscal_year_is_calendar``: the fiscal year is the calendar year (ends within a few days
  of 31 December). Exact.
* ``calendarised_from_quarters``: the fiscal year holding most of the calendar year, minus
  its filed quarters outside the calendar year, plus the filed quarters of the neighbouring
  fiscal year inside it (Apple 2024 = FY2024 - Oct-Dec 2023 + Oct-Dec 2024). Exact up to
  the few days by which quarter ends miss 31 December.
* ``fiscal_year_majority``: no quarters to bridge with, so the fiscal year holding most of the
  calendar year stands for it (NVIDIA's FY2025, Feb 2024 - Jan 2025, for 2024). An
  approximation, flagged ``is_approximation``.

A company-year without data is a row with ``status = 'no data'`` and null amounts, never a
zero. A group total exists only when every member has the year; otherwise it is null and
``missing`` names the members and years that lack data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

TREND_SCHEMA: dict[str, pl.DataType] = {
    "entity": pl.String(),
    "entity_kind": pl.String(),
    "company": pl.String(),
    "basis": pl.String(),
    "year": pl.Int64(),
    "period_start": pl.Date(),
    "period_end": pl.Date(),
    "capex": pl.Float64(),
    "currency": pl.String(),
    "capex_usd": pl.Float64(),
    "yoy_change": pl.Float64(),
    "yoy_change_usd": pl.Float64(),
    "alignment": pl.String(),
    "is_approximation": pl.Boolean(),
    "status": pl.String(),
    "components": pl.String(),
    "members": pl.List(pl.String()),
    "missing": pl.List(pl.String()),
    "source": pl.String(),
}

EXACT = "fiscal_year_is_calendar"
BRIDGED = "calendarised_from_quarters"
MAJORITY = "fiscal_year_majority"
FISCAL = "fiscal_year"


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    capex: float
    capex_usd: float | None
    currency: str
    source: str
    fiscal_year: int | None = None

    @property
    def label(self) -> str:
        fy = f"FY{self.fiscal_year} " if self.fiscal_year is not None else "Q "
        return f"{fy}{self.start}..{self.end}"


def _periods(rows: pl.DataFrame, duration: str) -> list[Period]:
    """Rows of one company and duration -> Periods (a missing start is one year / quarter back)."""
    out = []
    back = 365 if duration == "annual" else 91
    for r in rows.filter(pl.col("duration") == duration).sort("period_end").iter_rows(named=True):
        start = r["period_start"] or (r["period_end"] - timedelta(days=back - 1))
        out.append(
            Period(
                start,
                r["period_end"],
                float(r["capex"]),
                r["capex_usd"],
                r["currency"],
                r["source"],
                r["fiscal_year"] if duration == "annual" else None,
            )
        )
    return out


def _overlap(p: Period, start: date, end: date) -> int:
    return max(0, (min(p.end, end) - max(p.start, start)).days + 1)


def _tile(quarters: list[Period], start: date, end: date, slack: int) -> list[Period] | None:
    """Filed quarters that exactly cover [start, end] (each boundary within ``slack`` days), or None."""
    chain: list[Period] = []
    cursor = start
    while (end - cursor).days + 1 > slack:
        nxt = [q for q in quarters if abs((q.start - cursor).days) <= slack and q.end <= end + timedelta(days=slack)]
        if not nxt:
            return None
        q = min(nxt, key=lambda q: abs((q.start - cursor).days))
        chain.append(q)
        cursor = q.end + timedelta(days=1)
    return chain


def calendar_year(annual: list[Period], quarters: list[Period], year: int, slack: int) -> dict[str, object] | None:
    """One company's capex for calendar ``year``: value, alignment and the periods used; None without data."""
    y0, y1 = date(year, 1, 1), date(year, 12, 31)
    days = (y1 - y0).days + 1
    best = max(annual, key=lambda p: _overlap(p, y0, y1), default=None)
    if best is None or _overlap(best, y0, y1) * 2 <= days:
        return None
    if abs((best.start - y0).days) <= slack and abs((best.end - y1).days) <= slack:
        return _result(best, [], [], EXACT, False, f"{best.label} is the calendar year")
    add: list[Period] = []
    sub: list[Period] = []
    ok = True
    for lo, hi, into in (
        (best.start, y0 - timedelta(days=1), sub),  # fiscal year starts before the calendar year
        (y0, best.start - timedelta(days=1), add),  # ... or after it
        (best.end + timedelta(days=1), y1, add),  # fiscal year ends before the calendar year
        (y1 + timedelta(days=1), best.end, sub),  # ... or after it
    ):
        if (hi - lo).days + 1 <= slack:
            continue
        chain = _tile(quarters, lo, hi, slack)
        if chain is None:
            ok = False
            break
        into.extend(chain)
    if ok and (add or sub):
        parts = f"{best.label}" + "".join(f" - {q.label}" for q in sub) + "".join(f" + {q.label}" for q in add)
        result = _result(best, add, sub, BRIDGED, False, parts)
        if result["capex"] is not None and float(result["capex"]) >= 0:  # type: ignore[arg-type]
            return result
    covered = _overlap(best, y0, y1)
    return _result(best, [], [], MAJORITY, True, f"{best.label} covers {covered} of {days} days of {year}")


def _result(
    fy: Period, add: list[Period], sub: list[Period], alignment: str, approx: bool, components: str
) -> dict[str, object]:
    capex = fy.capex + sum(q.capex for q in add) - sum(q.capex for q in sub)
    usd_parts = [fy.capex_usd, *(q.capex_usd for q in add), *(q.capex_usd for q in sub)]
    usd = (
        None
        if any(v is None for v in usd_parts)
        else fy.capex_usd + sum(q.capex_usd for q in add) - sum(q.capex_usd for q in sub)  # type: ignore[operator]
    )
    head_sub = [q for q in sub if q.start < fy.start + timedelta(days=1)]
    head_add = [q for q in add if q.end < fy.start]
    tail_sub = [q for q in sub if q.end > fy.end - timedelta(days=1)]
    tail_add = [q for q in add if q.start > fy.end]
    if head_sub:
        start = max(q.end for q in head_sub) + timedelta(days=1)
    else:
        start = min(q.start for q in head_add) if head_add else fy.start
    if tail_sub:
        end = min(q.start for q in tail_sub) - timedelta(days=1)
    else:
        end = max(q.end for q in tail_add) if tail_add else fy.end
    sources = sorted({fy.source, *(q.source for q in add), *(q.source for q in sub)})
    return {
        "period_start": start,
        "period_end": end,
        "capex": capex,
        "currency": fy.currency,
        "capex_usd": usd,
        "alignment": alignment,
        "is_approximation": approx,
        "components": components,
        "source": ",".join(sources),
    }


def capex_trend(
    capex: pl.DataFrame,
    companies: pl.DataFrame,
    groups: pl.DataFrame,
    years: list[int],
    slack: int = 7,
) -> pl.DataFrame:
    """Company rows on both bases, then group totals on the calendar basis.

    ``capex``: latest values (ticker, fiscal_year, duration, period_start, period_end, capex,
    currency, capex_usd, source). ``companies``: (ticker, company) to list, with or without
    data. ``groups``: (group, capex_ticker). ``years``: the years every company gets a row for.
    """
    rows: list[dict[str, object]] = []
    tickers = sorted(set(companies["ticker"].to_list()) | set(capex["ticker"].to_list()))
    names = dict(zip(companies["ticker"].to_list(), companies["company"].to_list(), strict=True))
    for ticker in tickers:
        own = capex.filter(pl.col("ticker") == ticker)
        annual, quarters = _periods(own, "annual"), _periods(own, "quarterly")
        by_fy = {p.fiscal_year: p for p in annual}
        base = {"entity": ticker, "entity_kind": "company", "company": names.get(ticker, ticker)}
        for year in sorted(
            set(years) | {p.fiscal_year for p in annual if p.fiscal_year and p.fiscal_year >= min(years)}
        ):
            p = by_fy.get(year)
            if p is None:
                rows.append(
                    {**base, "basis": "fiscal", "year": year, **_no_data("no annual capex for this fiscal year")}
                )
            else:
                rows.append(
                    {
                        **base,
                        "basis": "fiscal",
                        "year": year,
                        "period_start": p.start,
                        "period_end": p.end,
                        "capex": p.capex,
                        "currency": p.currency,
                        "capex_usd": p.capex_usd,
                        "alignment": FISCAL,
                        "is_approximation": False,
                        "status": "reported" if p.capex_usd is not None else "no USD rate",
                        "components": p.label,
                        "source": p.source,
                    }
                )
        for year in years:
            got = calendar_year(annual, quarters, year, slack)
            if got is None:
                rows.append(
                    {**base, "basis": "calendar", "year": year, **_no_data("no fiscal year covering most of it")}
                )
            else:
                status = "reported" if got["capex_usd"] is not None else "no USD rate"
                rows.append({**base, "basis": "calendar", "year": year, **got, "status": status})
    frame = pl.DataFrame(rows, schema={k: v for k, v in TREND_SCHEMA.items() if k not in ("members", "missing")})
    frame = _with_yoy(
        frame.with_columns(
            pl.lit(None, dtype=pl.List(pl.String)).alias("members"),
            pl.lit(None, dtype=pl.List(pl.String)).alias("missing"),
        )
    )
    totals = _group_totals(frame, groups, years)
    return (
        pl.concat([frame.select(list(TREND_SCHEMA)), totals.select(list(TREND_SCHEMA))])
        .cast(TREND_SCHEMA)
        .sort(  # type: ignore[arg-type]
            "entity_kind", "entity", "basis", "year"
        )
    )


def _no_data(why: str) -> dict[str, object]:
    return {"status": "no data", "components": why, "is_approximation": False}


def _with_yoy(frame: pl.DataFrame) -> pl.DataFrame:
    """Year-over-year change against the previous year on the same basis (null when either is missing)."""
    prev = frame.select(
        "entity",
        "basis",
        (pl.col("year") + 1).alias("year"),
        pl.col("capex").alias("_prev"),
        pl.col("capex_usd").alias("_prev_usd"),
        pl.col("currency").alias("_prev_ccy"),
    )
    return (
        frame.drop("yoy_change", "yoy_change_usd")
        .join(prev, on=["entity", "basis", "year"], how="left")
        .with_columns(
            pl.when(pl.col("_prev") > 0)
            .then(pl.col("capex") / pl.col("_prev") - 1)
            .otherwise(None)
            .alias("yoy_change")
            .fill_nan(None),
            pl.when(pl.col("_prev_usd") > 0)
            .then(pl.col("capex_usd") / pl.col("_prev_usd") - 1)
            .otherwise(None)
            .alias("yoy_change_usd"),
        )
        .with_columns(
            pl.when(pl.col("currency") == pl.col("_prev_ccy"))
            .then(pl.col("yoy_change"))
            .otherwise(None)
            .alias("yoy_change")
        )
        .drop("_prev", "_prev_usd", "_prev_ccy")
    )


def _group_totals(companies: pl.DataFrame, groups: pl.DataFrame, years: list[int]) -> pl.DataFrame:
    """Calendar-year USD totals per group; null with the missing company-years when incomplete."""
    cal = companies.filter(pl.col("basis") == "calendar")
    rows: list[dict[str, object]] = []
    for group in sorted(set(groups["group"].to_list())):
        members = sorted(groups.filter(pl.col("group") == group)["capex_ticker"].to_list())
        for year in years:
            got = cal.filter(pl.col("entity").is_in(members) & (pl.col("year") == year))
            have = {r["entity"]: r for r in got.iter_rows(named=True)}
            missing = [
                f"{t} {year}: {have[t]['status'] if t in have else 'no data'}"
                for t in members
                if t not in have or have[t]["capex_usd"] is None
            ]
            total = None if missing else sum(have[t]["capex_usd"] for t in members)
            alignments = sorted({have[t]["alignment"] for t in members if t in have and have[t]["alignment"]})
            rows.append(
                {
                    "entity": group,
                    "entity_kind": "group",
                    "company": group,
                    "basis": "calendar",
                    "year": year,
                    "capex": total,
                    "currency": "USD",
                    "capex_usd": total,
                    "alignment": ",".join(alignments) if alignments else None,
                    "is_approximation": any(have[t]["is_approximation"] for t in members if t in have),
                    "status": "complete" if not missing else "incomplete",
                    "components": "; ".join(f"{t}: {have[t]['alignment']}" for t in members if t in have) or None,
                    "members": members,
                    "missing": missing,
                    "source": ",".join(
                        sorted({str(have[t]["source"]) for t in members if t in have and have[t]["source"]})
                    )
                    or None,
                }
            )
    schema = {k: v for k, v in TREND_SCHEMA.items() if k not in ("yoy_change", "yoy_change_usd")}
    frame = pl.DataFrame(rows, schema=schema).with_columns(
        pl.lit(None, dtype=pl.Float64).alias("yoy_change"), pl.lit(None, dtype=pl.Float64).alias("yoy_change_usd")
    )
    return _with_yoy(frame) if frame.height else frame
