"""The instrument universe, read from ``universe.csv`` so that adding an instrument is one line.

``CHINATECH_UNIVERSE`` replaces the packaged file with another one in the same format (a
2,000-ticker universe for benchmarks, a private watch list); it is validated the same way.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

UNIVERSE_CSV = Path(__file__).with_name("universe.csv")
UNIVERSE_ENV = "CHINATECH_UNIVERSE"

GROUPS = ("hstech", "adr", "us_bigtech", "us_index", "fx")
EQUITY_GROUPS = ("hstech", "adr", "us_bigtech")

SCHEMA = {
    "ticker": pl.String,
    "name": pl.String,
    "group": pl.String,
    "exchange": pl.String,
    "currency": pl.String,
    "calendar": pl.String,
    "replay_group": pl.String,
    "cik": pl.Int64,
    "hk_ticker": pl.String,
    "adr_ratio": pl.Float64,
}


class UniverseError(ValueError):
    """The universe file is malformed; the message names the line."""


def universe_path() -> Path:
    """The universe file in force: ``$CHINATECH_UNIVERSE`` (relative paths: from the repository) or the packaged one."""
    value = os.environ.get(UNIVERSE_ENV, "").strip()
    if not value:
        return UNIVERSE_CSV
    path = Path(value).expanduser()
    return path if path.is_absolute() else (Path(__file__).resolve().parents[1] / path).resolve()


def load_universe(path: Path | str | None = None) -> pl.DataFrame:
    """Read and validate the universe file (unknown groups and duplicate tickers are errors)."""
    path = universe_path() if path is None else path
    if not Path(path).is_file():
        raise UniverseError(f"universe file {path} does not exist (check {UNIVERSE_ENV})")
    header = pl.read_csv(path, n_rows=0).columns
    if header != list(SCHEMA):
        raise UniverseError(f"{path}: columns {header}; expected exactly {list(SCHEMA)}")
    frame = pl.read_csv(path, schema=SCHEMA)
    dupes = frame.filter(pl.col("ticker").is_duplicated())["ticker"].unique().to_list()
    if dupes:
        raise UniverseError(f"{path}: duplicate tickers {sorted(dupes)}")
    bad = frame.filter(~pl.col("group").is_in(GROUPS))
    if bad.height:
        rows = bad.select("ticker", "group").rows()
        raise UniverseError(f"{path}: unknown group for {rows}; expected one of {GROUPS}")
    missing = frame.filter(pl.col("ticker").is_null() | pl.col("currency").is_null())
    if missing.height:
        raise UniverseError(f"{path}: rows without ticker or currency: {missing.rows()}")
    return frame


def select_tickers(universe: pl.DataFrame, tickers: list[str] | None) -> pl.DataFrame:
    """Restrict the universe to ``tickers`` (all when empty); an unknown ticker is an error."""
    if not tickers:
        return universe
    unknown = sorted(set(tickers) - set(universe["ticker"].to_list()))
    if unknown:
        raise UniverseError(f"tickers not in the universe: {unknown} (add a line to {universe_path()})")
    return universe.filter(pl.col("ticker").is_in(tickers))


def equities(universe: pl.DataFrame) -> pl.DataFrame:
    """The instruments that have fundamentals (not indexes or currencies)."""
    return universe.filter(pl.col("group").is_in(EQUITY_GROUPS))


def reporting_currency_guess(group: str, quote_currency: str) -> str:
    """The usual reporting currency by group, for synthetic data only (live data says its own)."""
    return "CNY" if group in ("hstech", "adr") else quote_currency


def sec_filers(universe: pl.DataFrame) -> pl.DataFrame:
    """One row per SEC filer (CIK), carrying the ticker that reports for it (ADR over HK line)."""
    return (
        universe.filter(pl.col("cik").is_not_null())
        .sort(pl.col("group").replace({"adr": "0", "us_bigtech": "1", "hstech": "2"}))
        .unique("cik", keep="first", maintain_order=True)
        .select("cik", "ticker", "name", "group", "currency")
    )
