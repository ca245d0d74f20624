"""Yahoo fundamentals (``Ticker.info`` and annual statements) through yfinance, live and replayed.

Live and replay go through the same converter (``statement_to_long``) so the recorded files
exercise the code live data takes. yfinance 1.7 hides most HTTP errors by default
(``YfConfig.debug.hide_exceptions``): a refused ``.info`` comes back as a near-empty dict
and a refused statement as an empty frame, so both are detected here and named.
"""

from __future__ import annotations

import gzip
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl

from assets.sources.errors import SourceError
from assets.sources.yahoo import call_yahoo
from assets.transforms.fundamentals import finite_number

log = logging.getLogger(__name__)

FINANCIALS_SCHEMA: dict[str, pl.DataType] = {
    "ticker": pl.String(),
    "fiscal_period_end": pl.Date(),
    "statement": pl.String(),
    "line_item": pl.String(),
    "value": pl.Float64(),
}

# our statement id -> the yfinance Ticker property giving the yearly table (pretty row names)
STATEMENTS: dict[str, str] = {
    "income_statement": "income_stmt",
    "balance_sheet": "balance_sheet",
    "cash_flow": "cashflow",
}

INFO_FOLDER = "yfinance-info"
FINANCIALS_FOLDER = "yfinance-financials"

# .info is usable only with an instrument type and a price; Yahoo's refusals leave neither
# (yfinance then returns {} or just {'trailingPegRatio': None}).
_PRICE_KEYS = ("regularMarketPrice", "currentPrice", "previousClose")


def is_usable_info(info: dict | None) -> bool:
    """The rule for a real answer: a quoteType and at least one price field."""
    if not info:
        return False
    return bool(info.get("quoteType")) and any(finite_number(info.get(k)) is not None for k in _PRICE_KEYS)


def fetch_info(ticker: str, session: Any | None = None, sleep: Callable[[float], None] = time.sleep) -> dict:
    """``yfinance.Ticker(ticker).info`` with retries; a refused/near-empty answer is a SourceError."""
    import yfinance as yf

    info = call_yahoo(ticker, "info", lambda: yf.Ticker(ticker, session=session).info, sleep)
    if not is_usable_info(info):
        keys = sorted(info or {})[:8]
        raise SourceError(ticker, f"Yahoo returned no usable info (no quoteType/price; keys {keys})")
    return dict(info)


def statement_to_long(ticker: str, statement: str, pdf: pd.DataFrame) -> pl.DataFrame:
    """A yfinance statement table (rows = line items, columns = period ends) -> FINANCIALS_SCHEMA.

    Works for the live frame (Timestamp columns) and for its ``to_csv`` replay (string
    columns). Null/NaN cells are dropped; a repeated line item keeps its first row.
    """
    if statement not in STATEMENTS:
        raise ValueError(f"unknown statement {statement!r}; expected one of {list(STATEMENTS)}")
    rows: list[tuple[str, object, str, str, float]] = []
    if pdf is None or pdf.empty:
        return pl.DataFrame(schema=FINANCIALS_SCHEMA)
    frame = pdf[~pdf.index.duplicated(keep="first")]
    for col in frame.columns:
        try:
            period_end = pd.Timestamp(col).date()
        except (TypeError, ValueError):
            log.warning("%s %s: skipping column %r (not a date)", ticker, statement, col)
            continue
        for item, raw in frame[col].items():
            value = finite_number(raw)
            if value is not None and item is not None and not pd.isna(item):
                rows.append((ticker, period_end, statement, str(item), value))
    return pl.DataFrame(rows, schema=FINANCIALS_SCHEMA, orient="row").sort(
        "statement", "line_item", "fiscal_period_end"
    )


def fetch_financials(
    ticker: str, session: Any | None = None, sleep: Callable[[float], None] = time.sleep
) -> pl.DataFrame:
    """Yearly income statement, balance sheet and cash flow -> one long FINANCIALS_SCHEMA frame.

    All three empty is a SourceError naming the ticker; one empty statement is logged and
    the others are kept (Yahoo lacks some statements for some listings).
    """
    import yfinance as yf

    tk = yf.Ticker(ticker, session=session)
    parts: list[pl.DataFrame] = []
    empty: list[str] = []
    for statement, attr in STATEMENTS.items():
        pdf = call_yahoo(ticker, statement, lambda attr=attr: getattr(tk, attr), sleep)
        long = statement_to_long(ticker, statement, pdf)
        if long.is_empty():
            empty.append(statement)
        parts.append(long)
    if len(empty) == len(STATEMENTS):
        raise SourceError(ticker, "Yahoo returned no annual statements (income, balance sheet, cash flow all empty)")
    if empty:
        log.warning("%s: empty %s from Yahoo", ticker, ", ".join(empty))
    return pl.concat(parts)


def _first_existing(folder: Path, stem: str, suffixes: tuple[str, ...]) -> Path | None:
    for suffix in suffixes:
        path = folder / f"{stem}{suffix}"
        if path.is_file():
            return path
    return None


def read_replay_info(replay_dir: Path, ticker: str) -> dict | None:
    """``yfinance-info/<TICKER>.json`` or ``.json.gz`` -> the recorded ``.info`` dict, or None."""
    path = _first_existing(Path(replay_dir) / INFO_FOLDER, ticker, (".json", ".json.gz"))
    if path is None:
        return None
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    doc = json.loads(raw)
    if not isinstance(doc, dict):
        raise SourceError(ticker, f"{path.name}: expected a JSON object, got {type(doc).__name__}")
    return doc


def read_replay_financials(replay_dir: Path, ticker: str) -> pl.DataFrame | None:
    """``yfinance-financials/<TICKER>.<statement>.csv(.gz)`` (``statement_df.to_csv()``) -> long frame.

    None when no statement file exists for the ticker.
    """
    folder = Path(replay_dir) / FINANCIALS_FOLDER
    parts: list[pl.DataFrame] = []
    for statement in STATEMENTS:
        path = _first_existing(folder, f"{ticker}.{statement}", (".csv", ".csv.gz"))
        if path is None:
            continue
        pdf = pd.read_csv(path, index_col=0)
        parts.append(statement_to_long(ticker, statement, pdf))
    if not parts:
        return None
    return pl.concat(parts)
