"""Capex selection from SEC facts: acceptance values on the recorded data, rules on fixtures."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from assets.sources.sec import (
    RAW_SEC_FACTS_SCHEMA,
    load_capex_concepts,
    parse_companyfacts,
    read_replay_companyfacts,
)
from assets.transforms.capex import (
    CAPEX_SCHEMA,
    GAPS_SCHEMA,
    add_capex_usd,
    capex_from_curated,
    capex_from_financials,
    capex_gaps,
    combine_capex,
    reporting_currency,
    select_capex,
    unknown_currencies,
    yoy_jumps,
)
from assets.universe import load_universe, sec_filers

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
APPLE, ALPHABET, NVIDIA, MARVELL = 320193, 1652044, 1045810, 1835632
ALIBABA, BILIBILI, LPA, BAIDU, JD = 1577552, 1723690, 1997711, 1329099, 1549802
PPE = "PaymentsToAcquirePropertyPlantAndEquipment"
PRODUCTIVE = "PaymentsToAcquireProductiveAssets"


def _filers() -> pl.DataFrame:
    universe = sec_filers(load_universe()).select("cik", "ticker")
    return pl.concat([universe, pl.DataFrame({"cik": [LPA], "ticker": ["LPA"]})])


def _check_invariants(capex: pl.DataFrame) -> None:
    """Unique key, one first and one latest per period, one latest value per company-year."""
    assert capex.schema == pl.Schema(CAPEX_SCHEMA)
    assert capex.select("ticker", "period_end", "duration", "accn").is_duplicated().sum() == 0
    flags = capex.group_by("ticker", "period_end", "duration").agg(
        pl.col("is_first_reported").sum().alias("first"), pl.col("is_latest").sum().alias("latest")
    )
    assert flags["first"].to_list() == [1] * flags.height
    assert flags["latest"].to_list() == [1] * flags.height
    years = capex.filter(pl.col("is_latest") & (pl.col("duration") == "annual"))
    assert years.select("ticker", "fiscal_year").is_duplicated().sum() == 0


def _latest_annual(capex: pl.DataFrame, ticker: str) -> pl.DataFrame:
    return capex.filter((pl.col("ticker") == ticker) & pl.col("is_latest") & (pl.col("duration") == "annual")).sort(
        "fiscal_year"
    )


@pytest.fixture(scope="module")
def real(replay_dir: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(facts, selected capex) for every recorded company-facts file."""
    docs = [read_replay_companyfacts(replay_dir, c) for c in (APPLE, ALPHABET, NVIDIA, MARVELL, ALIBABA, BILIBILI, LPA)]
    facts = pl.concat([parse_companyfacts(d, "replay") for d in docs if d is not None])
    return facts, select_capex(facts, _filers(), load_capex_concepts())


@pytest.fixture(scope="module")
def synthetic() -> tuple[pl.DataFrame, pl.DataFrame]:
    """(facts, selected capex) for the synthetic Baidu and JD fixtures."""
    docs = [json.loads(p.read_text()) for p in sorted((FIXTURES / "sec").glob("*.synthetic.json"))]
    facts = pl.concat([parse_companyfacts(d, "fixture") for d in docs])
    return facts, select_capex(facts, _filers(), load_capex_concepts())


def _facts(rows: list[tuple]) -> pl.DataFrame:
    """Raw facts from (cik, concept, unit, start, end, value, accn, form, filed) tuples."""
    data = [
        {
            "cik": cik,
            "entity_name": "t",
            "taxonomy": "us-gaap",
            "concept": concept,
            "unit": unit,
            "period_start": date.fromisoformat(s) if s else None,
            "period_end": date.fromisoformat(e),
            "value": float(v),
            "accn": accn,
            "fiscal_year": None,
            "fiscal_period": "FY",
            "form": form,
            "filed": date.fromisoformat(filed),
            "frame": None,
            "source": "test",
        }
        for cik, concept, unit, s, e, v, accn, form, filed in rows
    ]
    return pl.DataFrame(data, schema=RAW_SEC_FACTS_SCHEMA)


FILERS = pl.DataFrame({"cik": [1, 2], "ticker": ["ONE", "TWO"]})


# --- acceptance criteria on the recorded data -------------------------------------------------


def test_real_invariants(real: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    _check_invariants(real[1])
    assert set(real[1]["source"]) == {"sec"}
    assert real[1]["capex_usd"].null_count() == real[1].height


def test_alphabet_fy2025(real: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    googl = _latest_annual(real[1], "GOOGL")
    fy2025 = googl.filter(pl.col("fiscal_year") == 2025)
    assert fy2025.height == 1
    assert round(fy2025["capex"][0] / 1e9, 3) == 91.447
    assert fy2025["currency"][0] == "USD" and fy2025["period_end"][0] == date(2025, 12, 31)


def test_alphabet_restatement_keeps_first_and_latest(real: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    fy2014 = (
        real[1]
        .filter((pl.col("ticker") == "GOOGL") & (pl.col("fiscal_year") == 2014) & (pl.col("duration") == "annual"))
        .sort("filed")
    )
    assert fy2014["capex"].to_list() == [10_959e6, 11_014e6]
    assert fy2014["is_first_reported"].to_list() == [True, False]
    assert fy2014["is_latest"].to_list() == [False, True]
    # FY2016 was repeated unchanged by two later 10-Ks: one row carrying both flags
    fy2016 = real[1].filter(
        (pl.col("ticker") == "GOOGL") & (pl.col("fiscal_year") == 2016) & (pl.col("duration") == "annual")
    )
    assert fy2016.height == 1 and fy2016["is_first_reported"][0] and fy2016["is_latest"][0]
    assert fy2016["accn"][0] == "0001652044-17-000008"


def test_apple_one_value_per_year_ending_late_september(real: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    annual = real[1].filter((pl.col("ticker") == "AAPL") & (pl.col("duration") == "annual"))
    latest = _latest_annual(real[1], "AAPL")
    assert latest["fiscal_year"].to_list() == list(range(2007, 2026))
    assert latest["fiscal_year"].is_duplicated().sum() == 0
    assert set(latest["period_end"].dt.month()) == {9}
    assert latest["period_end"].dt.day().min() >= 24
    assert (latest["period_end"].dt.year() == latest["fiscal_year"]).all()
    concepts = annual.group_by("fiscal_year").agg(pl.col("concept").n_unique().alias("n"))
    assert concepts["n"].max() == 1  # FY2013/14 are tagged under both concepts; counted once
    by_year = dict(latest.select("fiscal_year", "concept").iter_rows())
    assert by_year[2012] == PRODUCTIVE and by_year[2013] == PPE
    assert latest.filter(pl.col("fiscal_year") == 2025)["capex"][0] == 12_715e6


def test_nvidia_concept_switch_and_gaps(real: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    facts, capex = real
    latest = _latest_annual(capex, "NVDA")
    by_year = dict(latest.select("fiscal_year", "concept").iter_rows())
    assert {y: c for y, c in by_year.items() if y <= 2012} == {2010: PPE, 2011: PPE, 2012: PPE}
    assert {y for y, c in by_year.items() if c == PRODUCTIVE} == {2022, 2023, 2024, 2025, 2026}
    assert not set(range(2013, 2022)) & set(by_year)  # never guessed
    fy2026 = latest.filter(pl.col("fiscal_year") == 2026)
    assert round(fy2026["capex"][0] / 1e9, 3) == 6.042
    assert fy2026["period_end"][0] == date(2026, 1, 25)
    gaps = capex_gaps(facts, capex, _filers())
    assert gaps.schema == pl.Schema(GAPS_SCHEMA)
    nvda = gaps.filter(pl.col("ticker") == "NVDA")
    assert nvda["fiscal_year"].to_list() == list(range(2013, 2022))
    assert set(nvda["duration"]) == {"annual"}
    assert nvda.filter(pl.col("fiscal_year") == 2016)["reason"][0].count("0001045810-16-000205") == 1


def test_no_gaps_where_capex_exists(real: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    gaps = capex_gaps(*real, _filers())
    assert set(gaps["ticker"]) == {"NVDA", "BABA"}
    # Alibaba's FY2015/16 20-Fs tag no PP&E concept in the recorded facts
    assert gaps.filter(pl.col("ticker") == "BABA")["fiscal_year"].to_list() == [2015, 2016]


def test_alibaba_cny_march_year_end(real: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    capex = real[1]
    baba = capex.filter((pl.col("ticker") == "BABA") & (pl.col("duration") == "annual"))
    assert set(baba["currency"]) == {"CNY"}
    latest = _latest_annual(capex, "BABA")
    assert latest["fiscal_year"].to_list() == [2017, 2018, 2019, 2020]
    assert set(latest["period_end"].dt.strftime("%m-%d")) == {"03-31"}
    fy2020 = baba.filter(pl.col("period_end") == date(2020, 3, 31))
    assert fy2020.height == 1  # the 6-K repeating it collapsed onto the 20-F
    assert fy2020["capex"][0] == 24_662_000_000
    assert fy2020["accn"][0] == "0001104659-20-082409" and fy2020["form"][0] == "20-F"
    assert fy2020["concept"][0] == "PaymentsToAcquireOtherPropertyPlantAndEquipment"
    assert 3_483_000_000 not in capex["capex"].to_list()  # the USD translation


def test_bilibili_cny(real: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    capex = real[1]
    bili = capex.filter(pl.col("ticker") == "BILI")
    assert set(bili["currency"]) == {"CNY"}
    latest = _latest_annual(capex, "BILI")
    assert latest["fiscal_year"].to_list() == [2016, 2017, 2018, 2019, 2020]
    fy2020 = bili.filter((pl.col("fiscal_year") == 2020) & (pl.col("duration") == "annual"))
    assert fy2020.height == 1 and fy2020["capex"][0] == 602_122_000
    assert fy2020["accn"][0] == "0001193125-21-071497"
    assert not {92_279_000, 42_697_000, 42_524_000} & set(capex["capex"].to_list())
    # content-licence intangibles are not capex by default
    assert 1_636_877_000 not in capex["capex"].to_list()


def test_reporting_currency_rule(real: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    cur = dict(reporting_currency(real[0], load_capex_concepts()).iter_rows())
    assert cur == {
        APPLE: "USD",
        ALPHABET: "USD",
        NVIDIA: "USD",
        MARVELL: "USD",
        ALIBABA: "CNY",
        BILIBILI: "CNY",
        LPA: "USD",
    }  # LPA: COP/CRC/PEN are minor
    tie = _facts(
        [
            (1, PPE, "USD", "2020-01-01", "2020-12-31", 1, "a", "20-F", "2021-03-01"),
            (1, PPE, "CNY", "2020-01-01", "2020-12-31", 7, "a", "20-F", "2021-03-01"),
        ]
    )
    assert dict(reporting_currency(tie, load_capex_concepts()).iter_rows()) == {1: "CNY"}


def test_ifrs_filer(real: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    lpa = _latest_annual(real[1], "LPA")
    assert lpa["fiscal_year"].to_list() == [2021, 2022, 2023, 2024]
    assert set(lpa["concept"]) == {"PurchaseOfPropertyPlantAndEquipmentClassifiedAsInvestingActivities"}
    assert lpa.filter(pl.col("fiscal_year") == 2024)["capex"][0] == 71_066


def test_marvell_restated_year(real: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    fy2021 = (
        real[1]
        .filter((pl.col("ticker") == "MRVL") & (pl.col("fiscal_year") == 2021) & (pl.col("duration") == "annual"))
        .sort("filed")
    )
    assert fy2021["capex"].to_list() == [106_798_000, 106_800_000]
    # 53-week year (2023-01-29..2024-02-03, 371 days) is annual
    assert _latest_annual(real[1], "MRVL").filter(pl.col("fiscal_year") == 2024)["period_end"][0] == date(2024, 2, 3)


def test_real_quarters_get_fiscal_year_of_containing_annual(real: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    q = real[1].filter((pl.col("duration") == "quarterly") & pl.col("is_latest"))
    aapl = q.filter(pl.col("ticker") == "AAPL")
    # Apple's cash flow is year-to-date: only the first quarter is a 3-month fact
    assert set(aapl["period_end"].dt.month()) == {12}
    assert (aapl["fiscal_year"] == aapl["period_end"].dt.year() + 1).all()
    nvda = q.filter(pl.col("ticker") == "NVDA")
    row = nvda.filter(pl.col("period_end") == date(2026, 4, 26))  # after the last 10-K: projected
    assert row["fiscal_year"][0] == 2027
    days = (q["period_end"] - q["period_start"]).dt.total_days()
    assert days.min() >= 80 and days.max() <= 100


def test_real_selection_is_fast(real: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    import time

    started = time.perf_counter()
    select_capex(real[0], _filers(), load_capex_concepts())
    assert time.perf_counter() - started < 5.0


# --- rules on the synthetic Baidu / JD fixtures ------------------------------------------------


def test_synthetic_invariants(synthetic: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    _check_invariants(synthetic[1])
    assert set(synthetic[1]["currency"]) == {"CNY"}


def test_restatement_by_20f_amendment(synthetic: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    fy2022 = (
        synthetic[1]
        .filter((pl.col("ticker") == "BIDU") & (pl.col("fiscal_year") == 2022) & (pl.col("duration") == "annual"))
        .sort("filed")
    )
    assert fy2022.select("capex", "form", "is_first_reported", "is_latest").rows() == [
        (1_400_000_000, "20-F", True, False),
        (1_450_000_000, "20-F/A", False, True),
    ]


def test_6k_repeat_is_same_period_not_new(synthetic: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    capex = synthetic[1]
    annual = capex.filter((pl.col("ticker") == "BIDU") & (pl.col("duration") == "annual"))
    assert "0001193125-23-000404" not in annual["accn"].to_list()  # collapsed onto the 20-F/A
    assert 2023 not in annual["fiscal_year"].to_list()  # FY2023 only in a 6-K: no period yet
    assert 1_600_000_000 not in capex["capex"].to_list()


def test_6k_changed_annual_value_is_a_new_version() -> None:
    facts = _facts(
        [
            (1, PPE, "CNY", "2020-01-01", "2020-12-31", 100, "a1", "20-F", "2021-03-01"),
            (1, PPE, "CNY", "2020-01-01", "2020-12-31", 110, "a2", "6-K", "2021-08-01"),
        ]
    )
    rows = select_capex(facts, FILERS, load_capex_concepts()).sort("filed")
    assert rows.select("capex", "form", "is_first_reported", "is_latest").rows() == [
        (100, "20-F", True, False),
        (110, "6-K", False, True),
    ]


def test_repeat_after_restatement_keeps_both_versions() -> None:
    facts = _facts(
        [
            (1, PPE, "USD", "2020-01-01", "2020-12-31", 100, "k1", "10-K", "2021-02-01"),
            (1, PPE, "USD", "2020-01-01", "2020-12-31", 120, "k2", "10-K/A", "2021-05-01"),
            (1, PPE, "USD", "2020-01-01", "2020-12-31", 120, "k3", "10-K", "2022-02-01"),
            (1, PPE, "USD", "2020-01-01", "2020-12-31", 100, "k4", "10-K", "2023-02-01"),
        ]
    )
    rows = select_capex(facts, FILERS, load_capex_concepts()).sort("filed")
    assert rows["accn"].to_list() == ["k1", "k2", "k4"]
    assert rows["is_latest"].to_list() == [False, False, True]


def test_same_day_tie_goes_to_later_accn() -> None:
    facts = _facts(
        [
            (1, PPE, "USD", "2020-01-01", "2020-12-31", 100, "0000000001-21-000002", "10-K", "2021-02-01"),
            (1, PPE, "USD", "2020-01-01", "2020-12-31", 101, "0000000001-21-000001", "10-K", "2021-02-01"),
        ]
    )
    rows = select_capex(facts, FILERS, load_capex_concepts())
    assert rows.filter(pl.col("is_latest"))["accn"].to_list() == ["0000000001-21-000002"]
    assert rows.filter(pl.col("is_first_reported"))["accn"].to_list() == ["0000000001-21-000001"]


def test_usd_translation_never_a_second_fact(synthetic: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    capex = synthetic[1]
    assert not {204_000_000, 203_000_000, 210_000_000, 138_000_000, 157_000_000} & set(capex["capex"].to_list())
    fy2021 = _latest_annual(capex, "BIDU").filter(pl.col("fiscal_year") == 2021)
    assert fy2021["capex"].to_list() == [1_300_000_000] and fy2021["currency"][0] == "CNY"


@pytest.mark.parametrize("unit", ["RMB", "cny", "CNY_thousands"])
def test_capex_in_a_unit_that_is_no_iso_code_is_refused_not_taken_from_the_usd_translation(unit: str) -> None:
    """A 20-F filer tagging its figures in a non-ISO unit: neither stored as a currency nor swapped
    for its USD convenience translation (the only ISO unit left); the filer and years are listed."""
    facts = _facts(
        [
            (1, PPE, unit, "2019-01-01", "2019-12-31", 70, "a19", "20-F", "2020-03-01"),
            (1, PPE, unit, "2020-01-01", "2020-12-31", 80, "a20", "20-F", "2021-03-01"),
            (1, PPE, unit, "2019-01-01", "2019-12-31", 70, "a20", "20-F", "2021-03-01"),
            (1, PPE, "USD", "2020-01-01", "2020-12-31", 11, "a20", "20-F", "2021-03-01"),
            (2, PPE, "TWD", "2020-01-01", "2020-12-31", 30, "b20", "20-F", "2021-03-01"),
        ]
    )
    capex = select_capex(facts, FILERS, load_capex_concepts())
    refused = unknown_currencies(facts, FILERS, load_capex_concepts())

    # TWD is a currency: kept in TWD (usd_converted then says it has no FX rate); ONE is refused
    assert capex.select("ticker", "capex", "currency").rows() == [("TWO", 30.0, "TWD")]
    assert refused.select("ticker", "fiscal_year", "unit", "facts").rows() == [
        ("ONE", 2019, unit, 2),
        ("ONE", 2020, unit, 1),
    ]


def test_quarters_and_ytd(synthetic: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    q = synthetic[1].filter((pl.col("ticker") == "BIDU") & (pl.col("duration") == "quarterly")).sort("period_end")
    assert q.select("period_end", "capex", "fiscal_year").rows() == [
        (date(2022, 3, 31), 300_000_000, 2022),
        (date(2023, 3, 31), 320_000_000, 2023),
        (date(2023, 6, 30), 380_000_000, 2023),
    ]
    assert 700_000_000 not in synthetic[1]["capex"].to_list()  # 6-month YTD ignored


def test_concept_chosen_per_period(synthetic: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    jd = _latest_annual(synthetic[1], "JD")
    assert jd.select("fiscal_year", "concept", "capex").rows() == [
        (2019, PRODUCTIVE, 800_000_000),
        (2020, PPE, 900_000_000),
        (2021, PPE, 1_000_000_000),
    ]
    fy2020 = synthetic[1].filter((pl.col("ticker") == "JD") & (pl.col("fiscal_year") == 2020))
    assert set(fy2020["concept"]) == {PPE}


def test_synthetic_gap_reported(synthetic: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    gaps = capex_gaps(*synthetic, _filers())
    assert gaps.select("ticker", "fiscal_year", "duration").rows() == [("BIDU", 2018, "annual")]
    assert "0001193125-19-000050" in gaps["reason"][0]


def test_intangibles_only_for_listed_companies(synthetic: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    facts, default = synthetic
    include = pl.DataFrame({"cik": [JD], "reason": ["test: own capex definition includes intangibles"]})
    with_int = select_capex(facts, _filers(), load_capex_concepts(), include_intangibles=include)
    _check_invariants(with_int)
    jd = _latest_annual(with_int, "JD").filter(pl.col("fiscal_year") == 2021)
    assert jd["capex"].to_list() == [1_250_000_000]
    assert jd["concept"][0] == f"{PPE}+PaymentsToAcquireIntangibleAssets"
    # the later 6-K repeating only the PP&E line does not look like a restatement
    assert with_int.filter((pl.col("ticker") == "JD") & (pl.col("fiscal_year") == 2021)).height == 1
    # Baidu is not listed: its intangibles stay out
    assert _latest_annual(with_int, "BIDU").equals(_latest_annual(default, "BIDU"))


def test_duration_and_form_rules() -> None:
    facts = _facts(
        [
            (1, PPE, "USD", "2020-01-01", "2020-06-30", 50, "q2", "10-Q", "2020-08-01"),  # 6 months
            (1, PPE, "USD", "2020-01-01", "2020-09-30", 75, "q3", "10-Q", "2020-11-01"),  # 9 months
            (1, PPE, "USD", "2020-01-01", "2020-12-31", 100, "e1", "8-K", "2021-01-20"),  # no 10-K yet
            (1, PPE, "USD", "2020-10-01", "2020-12-31", 25, "k1", "10-K", "2021-02-01"),  # Q4 in a 10-K
            (1, PPE, "USD", None, "2020-12-31", 999, "k1", "10-K", "2021-02-01"),  # instant
        ]
    )
    assert select_capex(facts, FILERS, load_capex_concepts()).height == 0


def test_fiscal_year_is_year_of_end_except_first_january_week() -> None:
    facts = _facts(
        [
            (1, PPE, "USD", "2021-01-04", "2022-01-02", 100, "k1", "10-K", "2022-03-01"),
            (1, PPE, "USD", "2022-01-03", "2022-12-31", 110, "k2", "10-K", "2023-03-01"),
            (2, PPE, "USD", "2021-02-01", "2022-01-30", 120, "k3", "10-K", "2022-03-01"),
        ]
    )
    rows = select_capex(facts, FILERS, load_capex_concepts()).sort("ticker", "period_end")
    assert rows.select("ticker", "fiscal_year").rows() == [("ONE", 2021), ("ONE", 2022), ("TWO", 2022)]


def test_unknown_filer_and_empty_input() -> None:
    facts = _facts([(9, PPE, "USD", "2020-01-01", "2020-12-31", 1, "k", "10-K", "2021-02-01")])
    assert select_capex(facts, FILERS, load_capex_concepts()).height == 0
    empty = pl.DataFrame(schema=RAW_SEC_FACTS_SCHEMA)
    assert select_capex(empty, FILERS, load_capex_concepts()).schema == pl.Schema(CAPEX_SCHEMA)
    assert capex_gaps(empty, pl.DataFrame(schema=CAPEX_SCHEMA), FILERS).height == 0


# --- fall-back sources, combination, USD, jumps ------------------------------------------------


def _financials() -> pl.DataFrame:
    rows = [
        ("BIDU", date(2018, 12, 31), "cashflow", "Capital Expenditure", -5.0e9, "CNY", datetime(2025, 1, 1)),
        ("BIDU", date(2021, 12, 31), "cashflow", "Capital Expenditure", -9.0e9, "CNY", datetime(2025, 1, 1)),
        ("BIDU", date(2022, 12, 31), "cashflow", "Capital Expenditure", -1.1e9, "CNY", datetime(2025, 1, 1)),
        ("BIDU", date(2022, 12, 31), "cashflow", "Capital Expenditure", -1.2e9, "CNY", datetime(2025, 6, 1)),
        ("BIDU", date(2023, 12, 31), "cashflow", "Capital Expenditure", -1.5e9, "CNY", datetime(2025, 6, 1)),
        ("BIDU", date(2023, 12, 31), "cashflow", "Operating Cash Flow", 2.0e10, "CNY", datetime(2025, 6, 1)),
        ("AAPL", date(2024, 9, 30), "cashflow", "Capital Expenditure", -9.447e9, "USD", datetime(2025, 6, 1)),
    ]
    cols = ["ticker", "fiscal_period_end", "statement", "line_item", "value", "currency", "fetched_at"]
    return pl.DataFrame(rows, schema=cols, orient="row").with_columns(pl.lit("yfinance").alias("source"))


def test_capex_from_financials() -> None:
    yf = capex_from_financials(_financials())
    assert yf.schema == pl.Schema(CAPEX_SCHEMA)
    _check_invariants(yf)
    bidu = yf.filter(pl.col("ticker") == "BIDU").sort("period_end")
    assert bidu["capex"].to_list() == [5.0e9, 9.0e9, 1.2e9, 1.5e9]  # positive; latest fetch wins
    assert bidu["period_start"][0] == date(2018, 1, 1)
    aapl = yf.filter(pl.col("ticker") == "AAPL")
    assert aapl["period_start"][0] == date(2023, 10, 1) and aapl["fiscal_year"][0] == 2024
    assert set(yf["source"]) == {"yfinance"} and set(yf["form"]) == {"yfinance cashflow"}
    assert yf["accn"].null_count() == 0 and yf["is_first_reported"].all() and yf["is_latest"].all()


def test_capex_from_curated() -> None:
    curated = capex_from_curated(pl.read_csv(FIXTURES / "curated_capex.synthetic.csv"))
    _check_invariants(curated)
    row = curated.filter(pl.col("ticker") == "0700.HK")
    assert row.select("fiscal_year", "capex", "currency", "form", "accn", "source").rows() == [
        (2023, 23_893_000_000, "CNY", "SYNTHETIC annual report 2023.pdf", "p.142", "curated")
    ]
    assert set(curated["duration"]) == {"annual"}
    shipped = pl.read_csv(Path(__file__).resolve().parents[2] / "assets" / "curated_capex.csv")
    assert shipped.columns == pl.read_csv(FIXTURES / "curated_capex.synthetic.csv").columns
    assert capex_from_curated(shipped).height == shipped.height


def test_capex_from_curated_rejects_bad_period() -> None:
    bad = pl.DataFrame(
        {
            "ticker": ["X"],
            "fiscal_year": [2023],
            "period_start": ["2023-01-01"],
            "period_end": ["2023-06-30"],
            "capex": [1.0],
            "currency": ["CNY"],
            "document": ["d"],
            "page": ["1"],
            "note": [None],
        }
    )
    with pytest.raises(ValueError, match="annual"):
        capex_from_curated(bad)


def test_combine_sec_wins_then_curated_then_yfinance(synthetic: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    sec = synthetic[1]
    curated = capex_from_curated(pl.read_csv(FIXTURES / "curated_capex.synthetic.csv"))
    yf = capex_from_financials(_financials())
    out = combine_capex(sec, yf, curated)
    _check_invariants(out)
    src = dict(
        out.filter((pl.col("ticker") == "BIDU") & (pl.col("duration") == "annual") & pl.col("is_latest"))
        .select("fiscal_year", "source")
        .iter_rows()
    )
    assert src == {2018: "curated", 2019: "sec", 2020: "sec", 2021: "sec", 2022: "sec", 2023: "yfinance"}
    assert out.filter(pl.col("source") == "sec").height == sec.height
    assert "0700.HK" in out["ticker"].to_list() and "AAPL" in out["ticker"].to_list()
    # a curated fill closes the SEC gap
    assert capex_gaps(synthetic[0], out, _filers()).height == 0


def _fx(rows: list[tuple[str, str, str, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(date.fromisoformat(d), b, q, r) for d, b, q, r in rows],
        schema={"trade_date": pl.Date, "base": pl.String, "quote": pl.String, "rate": pl.Float64},
        orient="row",
    )


def test_add_capex_usd_uses_period_average() -> None:
    capex = pl.concat(
        [
            capex_from_financials(_financials()),
            capex_from_curated(pl.read_csv(FIXTURES / "curated_capex.synthetic.csv")),
        ]
    )
    fx = _fx(
        [
            ("2021-06-30", "USD", "CNY", 6.0),
            ("2022-01-03", "USD", "CNY", 7.0),
            ("2022-06-30", "USD", "CNY", 8.0),
            ("2023-01-03", "USD", "CNY", 9.0),
            ("2023-06-30", "CNY", "USD", 1 / 6.0),  # inverted quote is understood
        ]
    )
    out = add_capex_usd(capex, fx)
    assert out.columns == capex.columns and out.height == capex.height
    usd = {(t, y, s): v for t, y, s, v in out.select("ticker", "fiscal_year", "source", "capex_usd").iter_rows()}
    assert usd[("BIDU", 2022, "yfinance")] == pytest.approx(1.2e9 / 7.5)
    assert usd[("BIDU", 2021, "yfinance")] == pytest.approx(9.0e9 / 6.0)
    assert usd[("BIDU", 2021, "curated")] == pytest.approx(1.234e9 / 6.0)
    assert usd[("BIDU", 2023, "yfinance")] == pytest.approx(1.5e9 / 7.5)
    assert usd[("AAPL", 2024, "yfinance")] == 9.447e9
    assert usd[("BIDU", 2018, "yfinance")] is None
    assert usd[("0700.HK", 2023, "curated")] == pytest.approx(23_893e6 / 7.5)


def test_add_capex_usd_with_real_fx(real: tuple[pl.DataFrame, pl.DataFrame], replay_dir: Path) -> None:
    raw = pl.read_csv(replay_dir / "yfinance-history" / "FX" / "CNY=X.csv.gz")
    fx = raw.select(
        pl.col("Date").str.slice(0, 10).str.to_date().alias("trade_date"),
        pl.lit("USD").alias("base"),
        pl.lit("CNY").alias("quote"),
        pl.col("Close").alias("rate"),
    )
    out = add_capex_usd(real[1], fx)
    bili = out.filter((pl.col("ticker") == "BILI") & (pl.col("fiscal_year") == 2020) & (pl.col("duration") == "annual"))
    # 2020 average ~6.90 CNY/USD, not the 6.525 year-end rate of the 20-F's translation (92.279M)
    assert 86e6 < bili["capex_usd"][0] < 89e6
    assert out.filter(pl.col("currency") == "USD").select((pl.col("capex_usd") == pl.col("capex")).all()).item()


def test_yoy_jumps() -> None:
    def row(t: str, fy: int, v: float, latest: bool = True) -> dict:
        return {
            "ticker": t,
            "fiscal_year": fy,
            "period_end": date(fy, 12, 31),
            "duration": "annual",
            "capex": v,
            "currency": "USD",
            "is_latest": latest,
        }

    capex = pl.DataFrame(
        [
            row("A", 2019, 100),
            row("A", 2020, 600),
            row("A", 2021, 700),
            row("A", 2022, 100),
            row("B", 2019, 100),
            row("B", 2021, 900),  # not consecutive
            row("C", 2019, 100),
            row("C", 2020, 100_000, latest=False),
            row("C", 2020, 150),
        ]
    )
    jumps = yoy_jumps(capex, factor=5.0)
    assert jumps.select("ticker", "fiscal_year").rows() == [("A", 2020), ("A", 2022)]
    assert "6.00x" in jumps["detail"][0] and "FY2019" in jumps["detail"][0]
    assert yoy_jumps(capex, factor=10.0).height == 0


def test_real_data_has_no_5x_jumps(real: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    assert yoy_jumps(real[1]).height == 0
