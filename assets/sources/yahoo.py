"""Live daily prices from Yahoo Finance through yfinance.

Batched ``yfinance.download`` with raw prices plus actions (``auto_adjust=False``); tickers a
batch returns nothing for are retried one by one so each failure is named. yfinance answers
an unreachable network with empty frames instead of raising: an all-empty answer is checked
with one direct request, whose connection error becomes a fast ``SourceUnavailable``.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pandas as pd
import polars as pl

from assets.sources.base import PriceFetch
from assets.sources.errors import SourceError, SourceUnavailable
from assets.sources.throttle import RateLimiter, with_retries
from assets.transforms.prices import empty_raw, normalize_history

log = logging.getLogger(__name__)

BATCH_SIZE = 40
PROBE_URL = "https://query2.finance.yahoo.com/v1/test/getcrumb"


def pandas_history_to_polars(pdf: pd.DataFrame) -> pl.DataFrame:
    """A yfinance price frame (DatetimeIndex) -> polars with the Date written as ``to_csv`` does."""
    flat = pdf.copy()
    flat.index = flat.index.astype(str)
    flat.index.name = "Date"
    flat = flat.reset_index()
    flat.columns = [str(c) for c in flat.columns]
    return pl.from_pandas(flat)


_TIMEOUT_NAMES = {"Timeout", "ReadTimeout", "ConnectTimeout", "TimeoutError"}
_UNREACHABLE_NAMES = {"ConnectionError", "DNSError", "ProxyError", "NewConnectionError"}


class _YahooTimeout(RuntimeError):
    """A request timed out; worth another try."""


def _type_names(exc: BaseException) -> set[str]:
    return {t.__name__ for t in type(exc).__mro__}


def is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError) or bool(_type_names(exc) & _TIMEOUT_NAMES)


def is_unreachable(exc: BaseException) -> bool:
    """Connection refused / DNS failure from requests or curl_cffi (timeouts excluded)."""
    return not is_timeout(exc) and (isinstance(exc, ConnectionError) or bool(_type_names(exc) & _UNREACHABLE_NAMES))


def call_yahoo(
    ticker: str, what: str, call: Callable[[], Any], sleep: Callable[[float], None], attempts: int = 4
) -> Any:
    """Run a yfinance call with retries on rate limits and timeouts; classify what is left.

    Unreachable network -> SourceUnavailable at once (no retry: every ticker would fail the
    same way). A rate limit that outlasts the retries also means Yahoo is refusing us, so it
    is SourceUnavailable too. Anything else names the ticker.
    """
    from yfinance.exceptions import YFRateLimitError

    def attempt() -> Any:
        try:
            return call()
        except YFRateLimitError:
            raise
        except Exception as exc:
            if is_timeout(exc):
                raise _YahooTimeout(f"{type(exc).__name__}: {exc}") from exc
            if is_unreachable(exc):
                raise SourceUnavailable(f"Yahoo unreachable while fetching {what} for {ticker}: {exc}") from exc
            raise SourceError(ticker, f"{what} failed: {type(exc).__name__}: {exc}") from exc

    try:
        return with_retries(
            attempt,
            what=f"yahoo {what} {ticker}",
            retry_on=(YFRateLimitError, _YahooTimeout),
            sleep=sleep,
            attempts=attempts,
        )
    except YFRateLimitError as exc:
        raise SourceUnavailable(f"Yahoo kept rate-limiting ({what} for {ticker}): {exc}") from exc
    except _YahooTimeout as exc:
        raise SourceError(ticker, f"{what} timed out after retries: {exc}") from exc


def _retryable() -> tuple[type[BaseException], ...]:
    from yfinance.exceptions import YFRateLimitError

    return (YFRateLimitError, TimeoutError)


class YahooPrices:
    """The live price adapter (Yahoo Finance via yfinance)."""

    name = "live"

    def __init__(
        self,
        requests_per_second: float = 2.0,
        session: object | None = None,
        sleep: Callable[[float], None] | None = None,
        attempts: int = 4,
    ) -> None:
        self.limiter = RateLimiter(requests_per_second)
        self.session = session
        self.attempts = attempts
        self.sleep = sleep or time.sleep

    def fetch_prices(self, instruments: pl.DataFrame, starts: dict[str, date | None]) -> PriceFetch:
        tickers = instruments["ticker"].to_list()
        parts: list[pl.DataFrame] = [empty_raw()]
        failures: dict[str, str] = {}
        # one batch per start date bucket: new tickers take the whole history
        buckets: dict[date | None, list[str]] = {}
        for t in tickers:
            buckets.setdefault(starts.get(t), []).append(t)
        for start, group in buckets.items():
            for i in range(0, len(group), BATCH_SIZE):
                batch = group[i : i + BATCH_SIZE]
                got = self._download(batch, start)
                if not got:
                    self._probe(batch)
                parts.extend(got.values())
                for ticker in [t for t in batch if t not in got]:
                    try:
                        parts.append(self._history(ticker, start))
                    except SourceUnavailable:
                        raise
                    except SourceError as exc:
                        failures[ticker] = exc.problem
        return PriceFetch(pl.concat(parts, how="vertical"), failures)

    def _probe(self, batch: list[str]) -> None:
        """An all-empty answer: is Yahoo reachable at all? If not, fail fast and say so."""
        import requests

        try:
            session = self.session if isinstance(self.session, requests.Session) else requests
            session.get(PROBE_URL, timeout=5)
        except Exception as exc:
            if is_unreachable(exc):
                raise SourceUnavailable(
                    f"Yahoo Finance answered nothing for {batch} and is unreachable "
                    f"({type(exc).__name__}). Check the network, or run offline with "
                    "CHINATECH_SOURCE=replay or sample."
                ) from exc

    def _kwargs(self, start: date | None) -> dict[str, object]:
        """Raw prices plus actions, from ``start`` (inclusive) or the whole history."""
        window: dict[str, object] = (
            {"period": "max"}
            if start is None
            else {"start": start.isoformat(), "end": (date.today() + timedelta(days=1)).isoformat()}
        )
        return {**window, "interval": "1d", "auto_adjust": False, "actions": True}

    def _download(self, batch: list[str], start: date | None) -> dict[str, pl.DataFrame]:
        """One batched request; returns parsed frames for the tickers that came back."""
        import yfinance as yf

        self.limiter.wait()
        kwargs = self._kwargs(start)
        pdf = with_retries(
            lambda: yf.download(
                batch,
                group_by="ticker",
                threads=False,
                progress=False,
                session=self.session,
                multi_level_index=True,
                **kwargs,
            ),
            what=f"yfinance.download({len(batch)} tickers)",
            retry_on=_retryable(),
            attempts=self.attempts,
            sleep=self.sleep,
        )
        out: dict[str, pl.DataFrame] = {}
        if pdf is None or pdf.empty:
            return out
        for ticker in batch:
            if ticker not in pdf.columns.get_level_values(0):
                continue
            sub = pdf[ticker].dropna(how="all", subset=[c for c in ("Open", "Close") if c in pdf[ticker]])
            if sub.empty:
                continue
            out[ticker] = normalize_history(ticker, pandas_history_to_polars(sub), self.name)
        return out

    def _history(self, ticker: str, start: date | None) -> pl.DataFrame:
        """One ticker on its own, so its error is known and named."""
        import yfinance as yf

        self.limiter.wait()
        kwargs = self._kwargs(start)

        def call() -> pd.DataFrame:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                return yf.Ticker(ticker, session=self.session).history(raise_errors=True, **kwargs)

        try:
            pdf = call_yahoo(ticker, "history", call, self.sleep, attempts=self.attempts)
        except SourceUnavailable as exc:
            raise SourceUnavailable(
                f"{exc} Nothing more is fetched this run. Check the network, or run offline with "
                "CHINATECH_SOURCE=replay or sample."
            ) from exc
        if pdf is None or pdf.empty:
            raise SourceError(ticker, "Yahoo returned no rows (delisted, wrong symbol, or no data in range)")
        return normalize_history(ticker, pandas_history_to_polars(pdf), self.name)
