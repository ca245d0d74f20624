"""Pure Polars fundamentals: typed snapshots of ``Ticker.info``, P/E recomputed in one currency,
currency-mismatch checks, and canonical statement line items for the marts.

Why recompute P/E: for Chinese listings Yahoo mixes currencies. In the recorded BABA
quoteSummary (2025-02-24) the price is USD and ``financialData.financialCurrency`` is CNY;
``summaryDetail.forwardPE`` is 14.56 (USD price / USD forward EPS 9.87) while
``defaultKeyStatistics.forwardPE`` is 1.955 (USD price / a CNY EPS of about 73.5).
``Ticker.info`` flattens the modules into one dict, so which ``forwardPE`` survives depends
on the order of the modules in Yahoo's answer (and the v7 quote endpoint overrides both
when it answers). The EPS fields themselves are not always in the financial currency either:
BABA's ``trailingEps``/``forwardEps`` are USD per ADS, while ``netIncomeToCommon`` and
``bookValue`` are CNY. So ``recompute_pe`` infers the EPS currency per row instead of assuming.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from assets.transforms.fx import usd_rate_asof

LINE_ITEMS_CSV = Path(__file__).resolve().parents[1] / "line_items.csv"

SNAPSHOT_SCHEMA: dict[str, pl.DataType] = {
    "ticker": pl.String(),
    "as_of_date": pl.Date(),
    "price": pl.Float64(),
    "market_cap": pl.Float64(),
    "enterprise_value": pl.Float64(),
    "shares_outstanding": pl.Float64(),
    "trailing_pe": pl.Float64(),
    "forward_pe": pl.Float64(),
    "trailing_eps": pl.Float64(),
    "forward_eps": pl.Float64(),
    "price_to_book": pl.Float64(),
    "dividend_yield": pl.Float64(),
    "net_income_to_common": pl.Float64(),
    "currency": pl.String(),
    "financial_currency": pl.String(),
    "source": pl.String(),
    "fetched_at": pl.Datetime("us", "UTC"),
}

RECOMPUTED_SCHEMA: dict[str, pl.DataType] = {
    **SNAPSHOT_SCHEMA,
    "eps_fx_rate": pl.Float64(),
    "eps_currency": pl.String(),
    "trailing_pe_recomputed": pl.Float64(),
    "forward_pe_recomputed": pl.Float64(),
}

MISMATCH_SCHEMA: dict[str, pl.DataType] = {
    "ticker": pl.String(),
    "trade_date": pl.Date(),
    "kind": pl.String(),
    "detail": pl.String(),
}

LINE_ITEMS_SCHEMA: dict[str, pl.DataType] = {
    "canonical": pl.String(),
    "statement": pl.String(),
    "line_item": pl.String(),
    "priority": pl.Int64(),
    "sign": pl.Float64(),
    "note": pl.String(),
}

# snapshot column -> .info keys, first present wins. The v7 quote keys come first because
# when yfinance gets the v7 answer it overrides trailingPE/forwardPE/regularMarketPrice with
# it, and the matching EPS is then epsTrailingTwelveMonths/epsForward (v7), not the
# defaultKeyStatistics trailingEps/forwardEps. Without v7, each pair is quoteSummary's.
INFO_KEYS: dict[str, tuple[str, ...]] = {
    "price": ("regularMarketPrice", "currentPrice"),
    "market_cap": ("marketCap",),
    # CAUTION: in the 2025 BABA record enterpriseValue is CNY while marketCap is USD
    "enterprise_value": ("enterpriseValue",),
    "shares_outstanding": ("sharesOutstanding",),
    "trailing_pe": ("trailingPE",),
    "forward_pe": ("forwardPE",),
    "trailing_eps": ("epsTrailingTwelveMonths", "trailingEps"),
    "forward_eps": ("epsForward", "forwardEps"),
    # CAUTION: for BABA this is a USD price over a CNY book value per share (0.33)
    "price_to_book": ("priceToBook",),
    "net_income_to_common": ("netIncomeToCommon",),
}

PE_FIELDS = {"trailing_pe": "trailing_eps", "forward_pe": "forward_eps"}
MISMATCH_TOLERANCE = 0.20


def finite_number(value: object) -> float | None:
    """A finite float or None; Yahoo sends 'Infinity' strings, NaN and {'raw','fmt'} dicts."""
    if isinstance(value, dict):
        value = value.get("raw")
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _first(info: dict, keys: tuple[str, ...]) -> float | None:
    for key in keys:
        value = finite_number(info.get(key))
        if value is not None:
            return value
    return None


def _dividend_yield(info: dict, price: float | None) -> float | None:
    """As a fraction. summaryDetail.dividendYield is a fraction (0.0139) but the v7 quote's,
    which overrides it in .info, is in percent (1.6); dividendRate / price is unambiguous."""
    rate = finite_number(info.get("dividendRate"))
    if rate is not None and price:
        return rate / price
    return finite_number(info.get("dividendYield"))


def _ccy(value: object) -> str | None:
    return value.strip().upper() if isinstance(value, str) and value.strip() else None


def snapshot_from_info(
    infos: list[tuple[str, dict]], as_of_date: date, source: str, fetched_at: datetime
) -> pl.DataFrame:
    """(ticker, ``.info`` dict) pairs -> one SNAPSHOT_SCHEMA row each (missing keys -> null)."""
    rows: list[dict[str, Any]] = []
    for ticker, info in infos:
        info = info or {}
        row: dict[str, Any] = {"ticker": ticker, "as_of_date": as_of_date}
        for col, keys in INFO_KEYS.items():
            row[col] = _first(info, keys)
        row["dividend_yield"] = _dividend_yield(info, row["price"])
        row["currency"] = _ccy(info.get("currency"))
        # financialCurrency absent (e.g. indexes) -> same as the quote currency
        row["financial_currency"] = _ccy(info.get("financialCurrency")) or row["currency"]
        row["source"] = source
        row["fetched_at"] = fetched_at
        rows.append(row)
    return pl.DataFrame(rows, schema=SNAPSHOT_SCHEMA)


def recompute_pe(snapshot: pl.DataFrame, fx_daily: pl.DataFrame) -> pl.DataFrame:
    """Add eps_fx_rate, eps_currency, trailing_pe_recomputed, forward_pe_recomputed.

    eps_fx_rate: units of the quote currency per 1 unit of financial_currency, from the last
    FX rates on or before as_of_date (never later). eps_currency: the EPS fields' currency,
    inferred by comparing trailing EPS (forward when absent) with netIncomeToCommon /
    sharesOutstanding (financial currency) unconverted vs converted, whichever is nearer in
    ratio; without that evidence the financial currency is assumed. P/E = price / EPS in the
    quote currency, null when that EPS is not positive or no rate is known.
    """
    ratio = "__ratio"
    with_rates = usd_rate_asof(snapshot, fx_daily, "as_of_date", "currency", "__q_per_usd")
    with_rates = usd_rate_asof(with_rates, fx_daily, "as_of_date", "financial_currency", "__f_per_usd")
    same = pl.col("financial_currency").is_null() | (pl.col("currency") == pl.col("financial_currency"))
    probe = pl.coalesce("trailing_eps", "forward_eps").abs()
    implied = (pl.col("net_income_to_common") / pl.col("shares_outstanding")).abs()
    dist_fin = (probe / implied).log().abs()
    dist_quote = (probe / (implied * pl.col("eps_fx_rate"))).log().abs()
    out = (
        with_rates.with_columns(
            pl.when(same)
            .then(pl.lit(1.0))
            .otherwise(pl.col("__q_per_usd") / pl.col("__f_per_usd"))
            .alias("eps_fx_rate")
        )
        .with_columns(
            pl.when(same)
            .then(pl.lit(True))
            .when(dist_fin.is_finite() & dist_quote.is_finite())
            .then(dist_quote < dist_fin)
            .otherwise(pl.lit(False))
            .alias("__eps_in_quote")
        )
        .with_columns(
            pl.when(pl.col("__eps_in_quote"))
            .then(pl.col("currency"))
            .otherwise(pl.col("financial_currency"))
            .alias("eps_currency"),
            pl.when(pl.col("__eps_in_quote")).then(pl.lit(1.0)).otherwise(pl.col("eps_fx_rate")).alias(ratio),
        )
    )
    for pe_col, eps_col in PE_FIELDS.items():
        eps_quote = pl.col(eps_col) * pl.col(ratio)
        out = out.with_columns(
            pl.when(eps_quote > 0).then(pl.col("price") / eps_quote).otherwise(None).alias(f"{pe_col}_recomputed")
        )
    return out.drop("__q_per_usd", "__f_per_usd", "__eps_in_quote", ratio).select(list(RECOMPUTED_SCHEMA))


def _fmt(value: float | None) -> str:
    return "null" if value is None else f"{value:.6g}"


def currency_mismatches(snapshot_with_recomputed: pl.DataFrame, tolerance: float = MISMATCH_TOLERANCE) -> pl.DataFrame:
    """Reported P/E more than ``tolerance`` (relative) away from the recomputed one.

    The detail names the field, both values and the inputs, and says when the reported value
    is what a quote-currency price over an unconverted financial-currency EPS gives.
    """
    rows: list[dict[str, Any]] = []
    for r in snapshot_with_recomputed.iter_rows(named=True):
        for pe_col, eps_col in PE_FIELDS.items():
            reported, recomputed = r[pe_col], r[f"{pe_col}_recomputed"]
            if reported is None or recomputed is None or recomputed == 0:
                continue
            diff = abs(reported - recomputed) / abs(recomputed)
            if diff <= tolerance:
                continue
            price, eps, rate = r["price"], r[eps_col], r["eps_fx_rate"]
            detail = (
                f"{pe_col} reported {_fmt(reported)} vs recomputed {_fmt(recomputed)} "
                f"({diff:.0%} apart): price {_fmt(price)} {r['currency']} / {eps_col} "
                f"{_fmt(eps)} {r['eps_currency']}, financial currency {r['financial_currency']}, "
                f"fx {_fmt(rate)} {r['currency']} per {r['financial_currency']}"
            )
            if rate and eps and price and r["currency"] != r["financial_currency"]:
                eps_fin = eps if r["eps_currency"] == r["financial_currency"] else eps / rate
                mixed = price / eps_fin if eps_fin else None
                if mixed and abs(reported - mixed) / abs(mixed) <= tolerance:
                    detail += (
                        f"; reported value matches {r['currency']} price over "
                        f"{r['financial_currency']} EPS {_fmt(eps_fin)} unconverted (mixed currencies)"
                    )
            rows.append(
                {"ticker": r["ticker"], "trade_date": r["as_of_date"], "kind": "currency_mismatch", "detail": detail}
            )
    return pl.DataFrame(rows, schema=MISMATCH_SCHEMA)


def load_line_item_mapping(path: Path | str = LINE_ITEMS_CSV) -> pl.DataFrame:
    """The yfinance line item -> canonical name mapping (``assets/line_items.csv``)."""
    return pl.read_csv(path, schema=LINE_ITEMS_SCHEMA)


def canonical_line_items(financials: pl.DataFrame, mapping: pl.DataFrame | None = None) -> pl.DataFrame:
    """Long statements -> (ticker, fiscal_period_end, canonical, value, statement, line_item).

    value = reported value x sign (capex becomes the positive amount spent). When several
    line items map to one canonical name the lowest ``priority`` present wins per period.
    """
    mapping = load_line_item_mapping() if mapping is None else mapping
    return (
        financials.join(
            mapping.select("canonical", "statement", "line_item", "priority", "sign"),
            on=["statement", "line_item"],
            how="inner",
        )
        .sort("ticker", "fiscal_period_end", "canonical", "priority")
        .unique(["ticker", "fiscal_period_end", "canonical"], keep="first", maintain_order=True)
        .select(
            "ticker",
            "fiscal_period_end",
            "canonical",
            (pl.col("value") * pl.col("sign")).alias("value"),
            "statement",
            "line_item",
        )
    )
