"""Dagster resources, configured from environment variables (see the README's settings table)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl

from assets.sources.base import PriceSource
from assets.sources.errors import SourceConfigError, SourceError
from assets.universe import reporting_currency_guess

REPO = Path(__file__).resolve().parents[1]
SQL_DIR = REPO / "sql"
DEFAULT_WAREHOUSE = "data/warehouse.duckdb"
DEFAULT_REPLAY_DIR = "../shared/data"


def repo_path(value: str) -> Path:
    """Resolve a relative setting against the repository root, so it works from any cwd."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else (REPO / path).resolve()


def new_load_id(asset: str) -> str:
    """Sortable, unique id for one load: UTC timestamp plus a random suffix."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{asset}-{uuid.uuid4().hex[:8]}"


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB file. One way to write: short-lived connections and atomic upserts.

    DuckDB allows one writer process, so every asset opens a connection, writes in one
    transaction and closes it; the instance's concurrency pool keeps writers serial.
    """

    path: str = DEFAULT_WAREHOUSE

    @property
    def file(self) -> Path:
        return repo_path(self.path)

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        if read_only and not self.file.exists():
            raise FileNotFoundError(f"warehouse {self.file} does not exist yet: run `make demo`")
        self.file.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(self.file), read_only=read_only)
        try:
            if not read_only:
                ensure_schema(con)
            yield con
        finally:
            con.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection inside BEGIN/COMMIT: an error (or a killed process) leaves no trace."""
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def query(self, sql: str, params: Sequence[object] | None = None) -> pl.DataFrame:
        with self.connect() as con:
            return con.execute(sql, params or []).pl()


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table (sql/schema) and view (sql/views); all statements are idempotent."""
    for folder in ("schema", "views", "marts"):
        for file in sorted((SQL_DIR / folder).glob("*.sql")):
            con.execute(file.read_text())


def upsert(
    con: duckdb.DuckDBPyConnection,
    table: str,
    frame: pl.DataFrame,
) -> int:
    """Insert or replace ``frame`` into ``table`` by primary key, matching columns by name."""
    if frame.is_empty():
        return 0
    con.register("_upsert_frame", frame.to_arrow())
    try:
        con.execute(f"INSERT OR REPLACE INTO {table} BY NAME SELECT * FROM _upsert_frame")
    finally:
        con.unregister("_upsert_frame")
    return frame.height


def replace_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    frame: pl.DataFrame,
    where: str,
    params: Sequence[object] = (),
) -> int:
    """Delete the rows matching ``where`` and insert ``frame``: a partition swap."""
    con.execute(f"DELETE FROM {table} WHERE {where}", list(params))
    if frame.is_empty():
        return 0
    con.register("_replace_frame", frame.to_arrow())
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _replace_frame")
    finally:
        con.unregister("_replace_frame")
    return frame.height


SOURCES = ("live", "replay", "sample")


class SourceResource(dg.ConfigurableResource):
    """Which upstream the assets read: live (yfinance, SEC), replay (recorded files) or sample."""

    source: str = "live"
    replay_dir: str = DEFAULT_REPLAY_DIR
    sec_user_agent: str = ""
    cache_dir: str = "data/cache"
    yahoo_requests_per_second: float = 2.0
    sec_requests_per_second: float = 10.0
    overlap_days: int = 7

    @property
    def mode(self) -> str:
        """The validated source name; every adapter choice goes through it (a typo never falls through)."""
        if self.source not in SOURCES:
            raise SourceConfigError(f"CHINATECH_SOURCE={self.source!r}: expected one of {', '.join(SOURCES)}")
        return self.source

    @property
    def replay_path(self) -> Path:
        return repo_path(self.replay_dir)

    @property
    def cache_path(self) -> Path:
        return repo_path(self.cache_dir)

    def prices(self) -> PriceSource:
        """The price adapter for the configured source."""
        if self.mode == "live":
            from assets.sources.yahoo import YahooPrices

            return YahooPrices(requests_per_second=self.yahoo_requests_per_second)
        if self.mode == "replay":
            from assets.sources.replay import ReplayPrices

            return ReplayPrices(self.replay_path)
        from assets.sources.sample import SamplePrices

        return SamplePrices()

    def fetch_info(self, instrument: dict[str, Any], last_close: float | None) -> dict[str, Any]:
        """``Ticker.info`` for one instrument (a universe row); SourceError names the ticker."""
        ticker = instrument["ticker"]
        if self.mode == "live":
            from assets.sources.yahoo_fundamentals import fetch_info

            return fetch_info(ticker)
        if self.mode == "replay":
            from assets.sources.yahoo_fundamentals import read_replay_info

            info = read_replay_info(self.replay_path, ticker)
            if info is None:
                raise SourceError(ticker, f"no recorded yfinance-info file under {self.replay_path}")
            return info
        from assets.sources.sample import ticker_seed
        from assets.sources.sample_fundamentals import sample_info

        if last_close is None:
            raise SourceError(ticker, "no sample price to derive fundamentals from (load prices first)")
        fin = reporting_currency_guess(instrument["group"], instrument["currency"])
        return sample_info(ticker, instrument["currency"], fin, last_close, ticker_seed(ticker))

    def fetch_financials(self, instrument: dict[str, Any]) -> pl.DataFrame:
        """Yearly statements in long form (FINANCIALS_SCHEMA); SourceError names the ticker."""
        ticker = instrument["ticker"]
        if self.mode == "live":
            from assets.sources.yahoo_fundamentals import fetch_financials

            return fetch_financials(ticker)
        if self.mode == "replay":
            from assets.sources.yahoo_fundamentals import read_replay_financials

            frame = read_replay_financials(self.replay_path, ticker)
            if frame is None:
                raise SourceError(ticker, f"no recorded yfinance-financials file under {self.replay_path}")
            return frame
        from assets.sources.sample import ticker_seed
        from assets.sources.sample_fundamentals import sample_financials

        return sample_financials(ticker, ticker_seed(ticker))

    def sec_client(self) -> Any:
        """The live SEC client; refuses to start without a User-Agent with contact details."""
        from assets.sources.sec import SecClient

        return SecClient(self.sec_user_agent, self.cache_path / "sec", max_per_second=self.sec_requests_per_second)

    def fetch_companyfacts(self, filer: dict[str, Any], client: Any = None) -> dict[str, Any]:
        """One filer's XBRL company facts; SourceError names the CIK."""
        from assets.sources.sec import cik_key, read_replay_companyfacts

        cik = int(filer["cik"])
        if self.mode == "live":
            return (client or self.sec_client()).companyfacts(cik)
        if self.mode == "replay":
            doc = read_replay_companyfacts(self.replay_path, cik)
            if doc is None:
                raise SourceError(cik_key(cik), f"{filer['ticker']}: no recorded sec-companyfacts file")
            return doc
        from assets.sources.sample_sec import sample_companyfacts

        currency = reporting_currency_guess(filer["group"], filer["currency"])
        # the sample prices (and so FX rates) start in 2019: so do the sample filings
        return sample_companyfacts(cik, filer["name"], currency, seed=cik % 9973, first_year=2019)
