"""Snapshots, recomputed P/E and the BABA currency mix on the recorded quoteSummary."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from assets.sources.sample_fundamentals import sample_financials, sample_info
from assets.sources.yahoo_fundamentals import FINANCIALS_SCHEMA
from assets.transforms.fundamentals import (
    RECOMPUTED_SCHEMA,
    SNAPSHOT_SCHEMA,
    canonical_line_items,
    currency_mismatches,
    load_line_item_mapping,
    recompute_pe,
    snapshot_from_info,
)
from assets.transforms.fx import FX_SCHEMA

AS_OF = date(2025, 2, 24)
FETCHED = datetime(2025, 2, 24, 9, 35, tzinfo=UTC)


def cny_fx_from_download(replay_dir: Path) -> pl.DataFrame:
    """The recorded yfinance.download CNY=X (three header rows, plain dates) as FX rows."""
    path = replay_dir / "yfinance-download" / "CNY=X.csv.gz"
    frame = pl.read_csv(
        path,
        skip_rows=3,
        has_header=False,
        new_columns=["Date", "Adj Close", "Close", "High", "Low", "Open", "Volume"],
    )
    return frame.select(
        pl.col("Date").str.to_date().alias("trade_date"),
        pl.lit("USD").alias("base"),
        pl.lit("CNY").alias("quote"),
        pl.col("Close").cast(pl.Float64).alias("rate"),
        pl.lit("replay").alias("source"),
    ).filter(pl.col("trade_date").dt.weekday() <= 5)


@pytest.fixture()
def baba_body(replay_dir: Path) -> dict:
    path = replay_dir / "yahoo-http" / "devel_quoteSummary-all-BABA_2025-02-24.json.gz"
    with gzip.open(path, "rt") as f:
        return json.load(f)["response"]["bodyJson"]


def info_from_modules(body: dict, winner: str) -> dict:
    """Flatten the recorded modules as yfinance's .info does, ``winner`` flattened last."""
    modules = dict(body["quoteSummary"]["result"][0])
    order = [m for m in ("financialData", "quoteType", "defaultKeyStatistics", "summaryDetail", "price") if m != winner]
    info: dict = {}
    for module in [*order, winner]:
        info.update({k: v for k, v in modules[module].items() if v is not None})
    return info


def test_snapshot_from_real_baba_info(baba_body: dict) -> None:
    info = info_from_modules(baba_body, winner="summaryDetail")
    snap = snapshot_from_info([("BABA", info)], AS_OF, "live", FETCHED)
    assert snap.schema == pl.Schema(SNAPSHOT_SCHEMA)
    row = snap.row(0, named=True)
    assert row["price"] == pytest.approx(143.75)
    assert row["forward_pe"] == pytest.approx(14.564337)
    assert row["trailing_eps"] == pytest.approx(6.87)
    assert row["forward_eps"] == pytest.approx(9.87)
    assert row["market_cap"] == pytest.approx(341_542_830_080)
    assert row["dividend_yield"] == pytest.approx(2 / 143.75)
    assert (row["currency"], row["financial_currency"]) == ("USD", "CNY")


def test_baba_mixed_forward_pe_is_caught(replay_dir: Path, baba_body: dict) -> None:
    fx = cny_fx_from_download(replay_dir)
    infos = [
        ("BABA", info_from_modules(baba_body, winner="summaryDetail")),  # forwardPE 14.56
        ("BABA_DKS", info_from_modules(baba_body, winner="defaultKeyStatistics")),  # forwardPE 1.955
    ]
    snap = recompute_pe(snapshot_from_info(infos, AS_OF, "live", FETCHED), fx)
    assert snap.schema == pl.Schema(RECOMPUTED_SCHEMA)

    good = snap.row(0, named=True)
    # EPS fields are USD per ADS (netIncomeToCommon/shares is CNY ~50.7, EPS 6.87 ~ 50.7/7.27)
    assert good["eps_currency"] == "USD"
    assert good["eps_fx_rate"] == pytest.approx(1 / 7.27, rel=0.01)
    assert good["forward_pe_recomputed"] == pytest.approx(14.564337, rel=1e-4)
    assert good["trailing_pe_recomputed"] == pytest.approx(20.924309, rel=1e-4)

    found = currency_mismatches(snap)
    assert found["ticker"].to_list() == ["BABA_DKS"]
    row = found.row(0, named=True)
    assert row["kind"] == "currency_mismatch"
    assert row["trade_date"] == AS_OF
    assert "forward_pe reported 1.95518" in row["detail"]
    assert "recomputed 14.56" in row["detail"]
    assert "USD price over CNY EPS" in row["detail"]


def test_fx_as_of_never_uses_a_later_rate() -> None:
    fx = pl.DataFrame(
        {
            "trade_date": [date(2025, 2, 21), date(2025, 2, 24)],
            "base": ["USD", "USD"],
            "quote": ["HKD", "HKD"],
            "rate": [7.0, 8.0],
            "source": ["t", "t"],
        },
        schema=FX_SCHEMA,
    ).vstack(
        pl.DataFrame(
            {
                "trade_date": [date(2025, 2, 21), date(2025, 2, 24)],
                "base": ["USD"] * 2,
                "quote": ["CNY"] * 2,
                "rate": [7.0, 9.0],
                "source": ["t"] * 2,
            },
            schema=FX_SCHEMA,
        )
    )
    # HK listing: HKD price, EPS in CNY (no net income to infer from -> financial currency)
    info = {
        "currency": "HKD",
        "financialCurrency": "CNY",
        "regularMarketPrice": 100.0,
        "trailingEps": 5.0,
        "trailingPE": 20.0,
        "quoteType": "EQUITY",
    }
    snap = snapshot_from_info([("9988.HK", info)], date(2025, 2, 23), "live", FETCHED)  # a Sunday
    row = recompute_pe(snap, fx).row(0, named=True)
    assert row["eps_fx_rate"] == pytest.approx(1.0)  # Friday: 7 HKD / 7 CNY, not Monday's
    assert row["eps_currency"] == "CNY"
    assert row["trailing_pe_recomputed"] == pytest.approx(20.0)
    assert currency_mismatches(recompute_pe(snap, fx)).is_empty()


def test_sample_info_is_deterministic_and_consistent() -> None:
    fx = pl.DataFrame(
        {
            "trade_date": [AS_OF] * 2,
            "base": ["USD"] * 2,
            "quote": ["CNY", "HKD"],
            "rate": [7.2, 7.8],
            "source": ["sample"] * 2,
        },
        schema=FX_SCHEMA,
    )
    a = sample_info("BABA", "USD", "CNY", 120.0, seed=7)
    assert a == sample_info("BABA", "USD", "CNY", 120.0, seed=7)
    assert a != sample_info("BABA", "USD", "CNY", 120.0, seed=8)
    hk = sample_info("9988.HK", "HKD", "CNY", 110.0, seed=7)
    us = sample_info("AAPL", "USD", "USD", 230.0, seed=7)
    snap = recompute_pe(snapshot_from_info([("BABA", a), ("9988.HK", hk), ("AAPL", us)], AS_OF, "sample", FETCHED), fx)
    assert snap["eps_currency"].to_list() == ["USD", "CNY", "USD"]
    assert currency_mismatches(snap).is_empty()
    assert set(a) >= {
        "currency",
        "financialCurrency",
        "trailingPE",
        "forwardPE",
        "trailingEps",
        "forwardEps",
        "marketCap",
        "enterpriseValue",
        "sharesOutstanding",
        "priceToBook",
        "quoteType",
    }


def test_sample_financials_and_canonical_items() -> None:
    fin = sample_financials("BABA", seed=1)
    assert fin.schema == pl.Schema(FINANCIALS_SCHEMA)
    assert fin.equals(sample_financials("BABA", seed=1))
    assert sorted(fin["fiscal_period_end"].dt.year().unique().to_list()) == [2022, 2023, 2024, 2025]
    capex = fin.filter(pl.col("line_item") == "Capital Expenditure")
    assert capex.height == 4 and (capex["value"] < 0).all()

    canon = canonical_line_items(fin, load_line_item_mapping())
    names = set(canon["canonical"].to_list())
    assert {"capex", "operating_cash_flow", "revenue", "net_income"} <= names
    capex_canon = canon.filter(pl.col("canonical") == "capex").sort("fiscal_period_end")
    assert (capex_canon["value"] == -capex.sort("fiscal_period_end")["value"]).all()


def test_canonical_prefers_priority_one() -> None:
    rows = [
        ("X", date(2024, 12, 31), "income_statement", "Operating Revenue", 90.0),
        ("X", date(2024, 12, 31), "income_statement", "Total Revenue", 100.0),
        ("X", date(2023, 12, 31), "income_statement", "Operating Revenue", 80.0),
    ]
    fin = pl.DataFrame(rows, schema=FINANCIALS_SCHEMA, orient="row")
    out = canonical_line_items(fin).sort("fiscal_period_end")
    assert out["value"].to_list() == [80.0, 100.0]
    assert out["line_item"].to_list() == ["Operating Revenue", "Total Revenue"]
