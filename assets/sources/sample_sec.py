"""Deterministic synthetic SEC company facts in the real JSON shape, for the offline source.

The figures are invented (seeded); the shape and quirks are the real ones: each annual report
repeats the two prior years (``frame`` only on the latest duplicate), one year is restated by
an amendment, quarterly reports repeat the prior-year quarter, year-to-date 6- and 9-month
facts sit beside 3-month ones, and a non-USD filer files 20-F/6-K with a USD convenience
translation of the current year under the same concept and accession, plus a 6-K repeating
the annual figures (as Alibaba's do).
"""

from __future__ import annotations

import calendar
import random
from datetime import date, timedelta

CAPEX_CONCEPT = "PaymentsToAcquirePropertyPlantAndEquipment"
INTANGIBLE_CONCEPT = "PaymentsToAcquireIntangibleAssets"
REVENUE_CONCEPT = "Revenues"
USD_PER = {"CNY": 7.0, "HKD": 7.8, "EUR": 0.9, "JPY": 140.0}


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _fiscal_period(fy: int, end_month: int) -> tuple[date, date]:
    end = _month_end(fy, end_month)
    start_month = end_month % 12 + 1
    start_year = fy if end_month == 12 else fy - 1
    return date(start_year, start_month, 1), end


def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    return date(d.year + y, m + 1, 1)


def _frame(start: date, end: date, quarter: bool) -> str:
    mid = start + (end - start) / 2
    if quarter:
        return f"CY{mid.year}Q{(mid.month - 1) // 3 + 1}"
    return f"CY{mid.year}"


def sample_companyfacts(
    cik: int,
    entity_name: str,
    currency: str,
    seed: int,
    first_year: int = 2015,
    last_year: int = 2025,
    fiscal_year_end_month: int = 12,
) -> dict:
    """Synthetic company facts for ``cik`` with the real duplicates, restatement and units."""
    rng = random.Random(seed * 1_000_003 + cik)
    foreign = currency != "USD"
    annual_form, quarter_form = ("20-F", "6-K") if foreign else ("10-K", "10-Q")
    agent = 1193125 if foreign else cik
    seq = iter(range(1, 10_000))

    def accn(filed: date) -> str:
        return f"{agent:010d}-{filed.year % 100:02d}-{next(seq):06d}"

    years = list(range(first_year, last_year + 1))
    level = rng.uniform(2e8, 5e9)
    capex: dict[int, float] = {}
    for fy in years:
        level *= rng.uniform(0.85, 1.45)
        capex[fy] = round(level, -3)
    revenue = {fy: round(capex[fy] * rng.uniform(6, 12), -3) for fy in years}
    intangible = {fy: round(capex[fy] * rng.uniform(0.2, 0.6), -3) for fy in years}
    restated_year = years[len(years) // 2] if len(years) > 2 else years[0]

    # units[concept][unit] -> list of fact dicts
    units: dict[str, dict[str, list[dict]]] = {c: {} for c in (CAPEX_CONCEPT, INTANGIBLE_CONCEPT, REVENUE_CONCEPT)}

    def add(concept: str, unit: str, start: date, end: date, val: float, filing: dict) -> None:
        units[concept].setdefault(unit, []).append(
            {
                "start": start.isoformat(),
                "end": end.isoformat(),
                "val": int(val),
                "accn": filing["accn"],
                "fy": filing["fy"],
                "fp": filing["fp"],
                "form": filing["form"],
                "filed": filing["filed"].isoformat(),
            }
        )

    series = {CAPEX_CONCEPT: capex, INTANGIBLE_CONCEPT: intangible, REVENUE_CONCEPT: revenue}
    rate = USD_PER.get(currency, 7.0)
    for fy in years:
        _, fy_end = _fiscal_period(fy, fiscal_year_end_month)
        filed = fy_end + timedelta(days=60 if not foreign else 100)
        filing = {"accn": accn(filed), "fy": fy, "fp": "FY", "form": annual_form, "filed": filed}
        for shown in (fy - 2, fy - 1, fy):
            if shown < first_year:
                continue
            s, e = _fiscal_period(shown, fiscal_year_end_month)
            for concept, values in series.items():
                add(concept, currency, s, e, values[shown], filing)
                if foreign and shown == fy:
                    add(concept, "USD", s, e, round(values[shown] / rate, -3), filing)
        # Quarterly reports for Q1..Q3 of the next fiscal year: 3-month and year-to-date facts,
        # each repeating the prior-year comparative.
        nxt = fy + 1
        if nxt > last_year:
            continue
        q_start, _ = _fiscal_period(nxt, fiscal_year_end_month)
        for q in (1, 2, 3):
            q_end = _add_months(q_start, 3 * q) - timedelta(days=1)
            q_begin = _add_months(q_start, 3 * (q - 1))
            q_filed = q_end + timedelta(days=40)
            qf = {"accn": accn(q_filed), "fy": nxt, "fp": f"Q{q}", "form": quarter_form, "filed": q_filed}
            for year, shift in ((nxt, 0), (nxt - 1, -12)):
                if year < first_year:
                    continue
                b, e = _add_months(q_begin, shift), _add_months(q_end + timedelta(days=1), shift) - timedelta(days=1)
                ytd_b = _add_months(q_start, shift)
                share = [0.22, 0.24, 0.25][q - 1]
                add(CAPEX_CONCEPT, currency, b, e, round(capex[year] * share, -3), qf)
                if q > 1:
                    add(
                        CAPEX_CONCEPT,
                        currency,
                        ytd_b,
                        e,
                        round(capex[year] * (0.22 + 0.24 + (0.25 if q == 3 else 0)), -3),
                        qf,
                    )

    # An amendment restating one year, filed after that year's report.
    s, e = _fiscal_period(restated_year, fiscal_year_end_month)
    amend_filed = e + timedelta(days=200)
    amend = {
        "accn": accn(amend_filed),
        "fy": restated_year,
        "fp": "FY",
        "form": f"{annual_form}/A",
        "filed": amend_filed,
    }
    restated = round(capex[restated_year] * 1.08, -3)
    add(CAPEX_CONCEPT, currency, s, e, restated, amend)
    if foreign:
        add(CAPEX_CONCEPT, "USD", s, e, round(restated / rate, -3), amend)
    # Later annual reports carry the restated figure as the comparative.
    for fact in units[CAPEX_CONCEPT][currency]:
        if fact["start"] == s.isoformat() and fact["end"] == e.isoformat() and fact["filed"] > amend_filed.isoformat():
            fact["val"] = int(restated)

    # A current report (6-K / 8-K) repeating the two latest annual figures.
    _, last_e = _fiscal_period(last_year, fiscal_year_end_month)
    rep_filed = last_e + timedelta(days=250)
    rep = {
        "accn": accn(rep_filed),
        "fy": last_year,
        "fp": "FY",
        "form": "6-K" if foreign else "8-K",
        "filed": rep_filed,
    }
    for shown in (last_year - 1, last_year):
        if shown >= first_year:
            ss, ee = _fiscal_period(shown, fiscal_year_end_month)
            val = restated if shown == restated_year else capex[shown]
            add(CAPEX_CONCEPT, currency, ss, ee, val, rep)

    # ``frame`` on exactly one duplicate per (unit, start, end): the latest filing.
    for by_unit in units.values():
        for facts in by_unit.values():
            latest: dict[tuple[str, str], dict] = {}
            for fact in facts:
                key = (fact["start"], fact["end"])
                if key not in latest or (fact["filed"], fact["accn"]) > (latest[key]["filed"], latest[key]["accn"]):
                    latest[key] = fact
            for (start, end), fact in latest.items():
                days = (date.fromisoformat(end) - date.fromisoformat(start)).days
                if days > 300 or days < 100:
                    fact["frame"] = _frame(date.fromisoformat(start), date.fromisoformat(end), days < 100)

    last_filed = max(f["filed"] for f in units[CAPEX_CONCEPT][currency])
    shares = {
        "label": "Entity Common Stock, Shares Outstanding",
        "description": "Synthetic.",
        "units": {
            "shares": [
                {
                    "end": last_filed,
                    "val": int(rng.uniform(1e8, 3e9)),
                    "accn": units[CAPEX_CONCEPT][currency][-1]["accn"],
                    "fy": last_year,
                    "fp": "FY",
                    "form": annual_form,
                    "filed": last_filed,
                }
            ]
        },
    }
    labels = {
        CAPEX_CONCEPT: "Payments to Acquire Property, Plant, and Equipment",
        INTANGIBLE_CONCEPT: "Payments to Acquire Intangible Assets",
        REVENUE_CONCEPT: "Revenues",
    }
    return {
        "cik": int(cik),
        "entityName": entity_name,
        "facts": {
            "dei": {"EntityCommonStockSharesOutstanding": shares},
            "us-gaap": {
                c: {"label": labels[c], "description": "Synthetic sample data.", "units": units[c]} for c in labels
            },
        },
    }
