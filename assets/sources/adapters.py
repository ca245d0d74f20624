"""One adapter object per source mode (live, replay, sample), all implementing ``Source``.

The resource picks the object once; assets ask it for data and never compare mode strings.
A new upstream (another market, another filings source) is a new adapter here, composed from
the per-upstream modules beside this one, which keep each upstream's quirks.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from assets.sources.base import FileMark, PriceFetch
from assets.sources.errors import SourceError
from assets.universe import reporting_currency_guess


class Source(Protocol):
    """What every mode provides: prices, ``.info``, annual statements and SEC company facts."""

    name: str  # the mode, written on every row it produces (raw.*.source)
    requests_per_second: float  # pacing of per-ticker calls (inf: local files)
    snapshots_are_now: bool  # True when .info is a snapshot of now (past days cannot be fetched)

    def fetch_prices(
        self, instruments: pl.DataFrame, starts: dict[str, date | None], marks: dict[str, FileMark] | None = None
    ) -> PriceFetch: ...

    def snapshot_day(self, today: date) -> date:
        """The default day of a fundamentals snapshot (today, or the last day of a recording)."""
        ...

    def fetch_info(self, instrument: dict[str, Any], as_of: date) -> dict[str, Any]: ...

    def fetch_financials(self, instrument: dict[str, Any]) -> pl.DataFrame: ...

    def fetch_companyfacts(self, filer: dict[str, Any]) -> dict[str, Any]: ...


class LiveSource:
    """Yahoo Finance (yfinance) and SEC EDGAR over the network."""

    name = "live"
    snapshots_are_now = True

    def __init__(self, sec_user_agent: str, cache_dir: Path, yahoo_per_second: float, sec_per_second: float) -> None:
        from assets.sources.sec import SecClient
        from assets.sources.yahoo import YahooPrices

        # built first: a missing SEC User-Agent refuses the run before anything is fetched
        self.sec = SecClient(sec_user_agent, cache_dir / "sec", max_per_second=sec_per_second)
        self.prices = YahooPrices(requests_per_second=yahoo_per_second)
        self.requests_per_second = yahoo_per_second

    def fetch_prices(
        self, instruments: pl.DataFrame, starts: dict[str, date | None], marks: dict[str, FileMark] | None = None
    ) -> PriceFetch:
        return self.prices.fetch_prices(instruments, starts)  # Yahoo has no files: nothing to mark

    def snapshot_day(self, today: date) -> date:
        return today

    def fetch_info(self, instrument: dict[str, Any], as_of: date) -> dict[str, Any]:
        from assets.sources.yahoo_fundamentals import fetch_info

        return fetch_info(instrument["ticker"])

    def fetch_financials(self, instrument: dict[str, Any]) -> pl.DataFrame:
        from assets.sources.yahoo_fundamentals import fetch_financials

        return fetch_financials(instrument["ticker"])

    def fetch_companyfacts(self, filer: dict[str, Any]) -> dict[str, Any]:
        return self.sec.companyfacts(int(filer["cik"]))


class ReplaySource:
    """Recorded files in the layout of ../shared/data, read through the live parsers."""

    name = "replay"
    snapshots_are_now = False
    requests_per_second = math.inf

    def __init__(self, replay_dir: Path) -> None:
        from assets.sources.replay import ReplayPrices

        self.prices = ReplayPrices(replay_dir)  # refuses a missing folder
        self.replay_dir = replay_dir

    def fetch_prices(
        self, instruments: pl.DataFrame, starts: dict[str, date | None], marks: dict[str, FileMark] | None = None
    ) -> PriceFetch:
        return self.prices.fetch_prices(instruments, starts, marks)

    def snapshot_day(self, today: date) -> date:
        return today

    def fetch_info(self, instrument: dict[str, Any], as_of: date) -> dict[str, Any]:
        from assets.sources.yahoo_fundamentals import read_replay_info

        info = read_replay_info(self.replay_dir, instrument["ticker"])
        if info is None:
            raise SourceError(instrument["ticker"], f"no recorded yfinance-info file under {self.replay_dir}")
        return info

    def fetch_financials(self, instrument: dict[str, Any]) -> pl.DataFrame:
        from assets.sources.yahoo_fundamentals import read_replay_financials

        frame = read_replay_financials(self.replay_dir, instrument["ticker"])
        if frame is None:
            raise SourceError(instrument["ticker"], f"no recorded yfinance-financials file under {self.replay_dir}")
        return frame

    def fetch_companyfacts(self, filer: dict[str, Any]) -> dict[str, Any]:
        from assets.sources.sec import cik_key, read_replay_companyfacts

        doc = read_replay_companyfacts(self.replay_dir, int(filer["cik"]))
        if doc is None:
            raise SourceError(cik_key(int(filer["cik"])), f"{filer['ticker']}: no recorded sec-companyfacts file")
        return doc


class SampleSource:
    """Deterministic synthetic data for the whole universe, shaped like the real answers."""

    name = "sample"
    snapshots_are_now = False
    requests_per_second = math.inf

    def __init__(self) -> None:
        from assets.sources.sample import SamplePrices

        self.prices = SamplePrices()

    def fetch_prices(
        self, instruments: pl.DataFrame, starts: dict[str, date | None], marks: dict[str, FileMark] | None = None
    ) -> PriceFetch:
        return self.prices.fetch_prices(instruments, starts)  # generated, no files: nothing to mark

    def snapshot_day(self, today: date) -> date:
        from assets.sources.sample import SAMPLE_END

        return min(today, SAMPLE_END)

    def fetch_info(self, instrument: dict[str, Any], as_of: date) -> dict[str, Any]:
        from assets.sources.sample import sample_bars, ticker_seed
        from assets.sources.sample_fundamentals import sample_info

        ticker = instrument["ticker"]
        # the sample's own close on the day, so the synthetic fundamentals agree with its prices
        bars = sample_bars(ticker, instrument["group"], instrument["currency"], instrument["calendar"])
        upto = bars.filter(pl.col("trade_date") <= as_of)
        if upto.is_empty():
            raise SourceError(ticker, f"no sample price on or before {as_of} to derive fundamentals from")
        fin = reporting_currency_guess(instrument["group"], instrument["currency"])
        return sample_info(ticker, instrument["currency"], fin, float(upto["close"][-1]), ticker_seed(ticker))

    def fetch_financials(self, instrument: dict[str, Any]) -> pl.DataFrame:
        from assets.sources.sample import ticker_seed
        from assets.sources.sample_fundamentals import sample_financials

        return sample_financials(instrument["ticker"], ticker_seed(instrument["ticker"]))

    def fetch_companyfacts(self, filer: dict[str, Any]) -> dict[str, Any]:
        from assets.sources.sample_sec import sample_companyfacts

        cik = int(filer["cik"])
        currency = reporting_currency_guess(filer["group"], filer["currency"])
        # the sample prices (and so FX rates) start in 2019: so do the sample filings
        return sample_companyfacts(cik, filer["name"], currency, seed=cik % 9973, first_year=2019)
