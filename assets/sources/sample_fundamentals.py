"""Deterministic synthetic fundamentals for the offline ``sample`` source.

Shapes and currency habits copy the recorded Yahoo answers so the downstream checks see
what live data looks like: ADRs (USD price, CNY financials) get USD EPS with CNY
netIncomeToCommon / bookValue / enterpriseValue and a mixed priceToBook, as in the recorded
BABA quoteSummary; Hong Kong listings (HKD price) get EPS in CNY. Reported P/E values are
correct (price over EPS converted to the quote currency), so sample data raises no
currency-mismatch by itself. Values are made up; only the shapes are real.
"""

from __future__ import annotations

import random
from datetime import date

import polars as pl

from assets.sources.yahoo_fundamentals import FINANCIALS_SCHEMA

# Nominal units per USD used only to make sample numbers plausible (not market data).
SAMPLE_UNITS_PER_USD = {"USD": 1.0, "CNY": 7.2, "CNH": 7.2, "HKD": 7.8}


def _rng(*parts: object) -> random.Random:
    """A generator seeded from text: the same ticker and seed give the same numbers anywhere."""
    return random.Random(":".join(str(p) for p in parts))


def _units_per_usd(currency: str) -> float:
    return SAMPLE_UNITS_PER_USD.get(currency.upper(), 1.0)


def sample_info(ticker: str, quote_currency: str, financial_currency: str, last_close: float, seed: int) -> dict:
    """A ``Ticker.info``-shaped dict (same keys yfinance uses) consistent with ``last_close``."""
    rng = _rng("info", ticker, seed)
    quote_ccy, fin_ccy = quote_currency.upper(), financial_currency.upper()
    fin_to_quote = _units_per_usd(quote_ccy) / _units_per_usd(fin_ccy)
    shares = float(rng.randint(500, 20_000) * 1_000_000)
    trailing_pe = round(rng.uniform(8.0, 40.0), 4)
    forward_pe = round(trailing_pe * rng.uniform(0.6, 0.95), 4)
    eps_quote = last_close / trailing_pe
    fwd_eps_quote = last_close / forward_pe
    # ADRs: EPS in the (USD) quote currency; HK listings: EPS in the financial currency.
    eps_in_fin = quote_ccy != "USD" and fin_ccy != quote_ccy
    trailing_eps = eps_quote / fin_to_quote if eps_in_fin else eps_quote
    forward_eps = fwd_eps_quote / fin_to_quote if eps_in_fin else fwd_eps_quote
    net_income_fin = eps_quote / fin_to_quote * shares  # always in the financial currency
    book_per_share_fin = last_close / fin_to_quote / rng.uniform(0.8, 6.0)
    market_cap = last_close * shares
    dividend_rate = round(last_close * rng.choice([0.0, 0.005, 0.01, 0.02]), 4)
    eps_current_year_fin = fwd_eps_quote / fin_to_quote * rng.uniform(0.95, 1.05)
    info: dict = {
        "symbol": ticker,
        "quoteType": "EQUITY",
        "currency": quote_ccy,
        "financialCurrency": fin_ccy,
        "regularMarketPrice": round(last_close, 4),
        "currentPrice": round(last_close, 4),
        "previousClose": round(last_close * rng.uniform(0.97, 1.03), 4),
        "marketCap": round(market_cap),
        # Yahoo's enterpriseValue follows the financial currency for these listings
        "enterpriseValue": round(market_cap / fin_to_quote * rng.uniform(0.7, 1.1)),
        "sharesOutstanding": int(shares),
        "trailingPE": trailing_pe,
        "forwardPE": forward_pe,
        "trailingEps": round(trailing_eps, 4),
        "forwardEps": round(forward_eps, 4),
        "netIncomeToCommon": round(net_income_fin),
        "bookValue": round(book_per_share_fin, 3),
        # real quirk: quote-currency price over financial-currency book value, unconverted
        "priceToBook": round(last_close / book_per_share_fin, 6),
        "epsCurrentYear": round(eps_current_year_fin, 4),
        "priceEpsCurrentYear": round(last_close / eps_current_year_fin, 6),
        "dividendRate": dividend_rate,
        "dividendYield": round(dividend_rate / last_close, 4),
        "trailingPegRatio": None,
    }
    return info


def sample_financials(ticker: str, seed: int, last_fiscal_year: int = 2025, years: int = 4) -> pl.DataFrame:
    """Annual statements in FINANCIALS_SCHEMA (financial-currency units), Dec year ends.

    Capital Expenditure is negative (a cash outflow) as Yahoo reports it; Free Cash Flow is
    Operating Cash Flow + Capital Expenditure, as Yahoo computes it.
    """
    rng = _rng("financials", ticker, seed)
    revenue = rng.uniform(5e9, 9e11)
    rows: list[tuple[str, date, str, str, float]] = []
    for year in range(last_fiscal_year - years + 1, last_fiscal_year + 1):
        revenue *= rng.uniform(0.95, 1.3)
        end = date(year, 12, 31)
        gross = revenue * rng.uniform(0.3, 0.6)
        operating = gross * rng.uniform(0.3, 0.7)
        net = operating * rng.uniform(0.6, 0.9)
        ocf = net * rng.uniform(1.0, 1.6)
        capex = -revenue * rng.uniform(0.03, 0.15)
        assets = revenue * rng.uniform(1.2, 2.5)
        equity = assets * rng.uniform(0.4, 0.7)
        values = {
            ("income_statement", "Total Revenue"): revenue,
            ("income_statement", "Gross Profit"): gross,
            ("income_statement", "Operating Income"): operating,
            ("income_statement", "Net Income"): net,
            ("cash_flow", "Operating Cash Flow"): ocf,
            ("cash_flow", "Capital Expenditure"): capex,
            ("cash_flow", "Free Cash Flow"): ocf + capex,
            ("balance_sheet", "Total Assets"): assets,
            ("balance_sheet", "Stockholders Equity"): equity,
            ("balance_sheet", "Total Debt"): assets * rng.uniform(0.05, 0.3),
            ("balance_sheet", "Cash And Cash Equivalents"): assets * rng.uniform(0.05, 0.25),
        }
        rows.extend((ticker, end, st, item, float(round(v))) for (st, item), v in values.items())
    return pl.DataFrame(rows, schema=FINANCIALS_SCHEMA, orient="row").sort(
        "statement", "line_item", "fiscal_period_end"
    )
