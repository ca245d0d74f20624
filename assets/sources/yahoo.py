"""Live daily prices from Yahoo Finance through yfinance.

Batched ``yfinance.download`` with raw prices plus actions (``auto_adjust=False``); tickers a
batch returns nothing for are fetched again one by one so each failure is named. yfinance answers
an unreachable network with empty frames instead of raising: an all-empty answer is checked
with one direct request, whose connection error becomes a fast ``SourceUnavailable``.

Retries live on the one-by-one path only. ``yfinance.download`` (1.7) catches every exception per
ticker, a 429's ``YFRateLimitError`` included, and hands back an empty column: nothing wrapped
around it can see a rate limit. A ticker rate-limited in the batch simply comes back empty and
goes to ``_history``, where ``Ticker.history`` runs with yfinance's exceptions switched on and
``call_yahoo`` retries rate limits and timeouts with exponential backoff. yfinance's own
``config.network.retries`` is left at 0: it retries only connection errors and timeouts (never a
429), with an uninjectable ``time.sleep``, and would slow down the fail-fast network-down path.

Requests go through a plain ``requests.Session`` (made here when none is given), not yfinance's
default curl_cffi one, so tests serve recorded Yahoo responses with ``responses`` on the very
path production takes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
# what yfinance itself sends when it falls back to plain requests (its _http._FALLBACK_USER_AGENT);
# the default "python-requests/x.y" User-Agent is widely reported to draw 429s from Yahoo
BROWSER_HEADERS = {
    "User-Agent": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
    ),
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en-US,en;q=0.5",
}


def default_session() -> Any:
    """The session YahooPrices uses unless given one: ``requests.Session`` with browser headers.

    yfinance 1.7 accepts it as is (no warning; it only rejects caching sessions). Plain requests
    lacks curl_cffi's browser TLS fingerprint, which yfinance says may draw more rate limiting:
    pass ``session=curl_cffi.requests.Session(impersonate="chrome")`` to go back to that.
    """
    import requests

    session = requests.Session()
    session.headers.update(BROWSER_HEADERS)
    return session


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


_raise_lock = threading.Lock()
_raise_depth = 0
_raise_saved: object = True


@contextmanager
def yfinance_raises() -> Iterator[None]:
    """Inside, yfinance raises its errors instead of logging them and returning empty data.

    ``Ticker.history(raise_errors=True)`` is deprecated in 1.7 and does not reach the timezone
    lookup (a ``range=1d`` chart request) that precedes a ticker's first fetch: there a timeout or
    refused connection is only logged, and the ticker then fails with a misleading error (a 404
    from the ``.info`` fallback, or "possibly delisted; no timezone found") that is not retried.
    The switch, ``yf.config.debug.hide_exceptions``, is process-global, hence the counted lock;
    a 429 raises ``YFRateLimitError`` either way.
    """
    global _raise_depth, _raise_saved
    from yfinance.config import YfConfig

    with _raise_lock:
        if _raise_depth == 0:
            _raise_saved = YfConfig.debug.hide_exceptions
            YfConfig.debug.hide_exceptions = False
        _raise_depth += 1
    try:
        yield
    finally:
        with _raise_lock:
            _raise_depth -= 1
            if _raise_depth == 0:
                YfConfig.debug.hide_exceptions = _raise_saved


def call_yahoo(
    ticker: str,
    what: str,
    call: Callable[[], Any],
    sleep: Callable[[float], None],
    attempts: int = 4,
    base_delay: float = 1.0,
) -> Any:
    """Run a yfinance call with retries on rate limits and timeouts; classify what is left.

    ``attempts`` calls in all, sleeping ``base_delay * 2**n`` (+ up to 25% jitter) between them.
    Each call may itself send a failing request twice: yfinance 1.7 re-sends any >= 400 answer
    once, at once, after switching cookie strategy, and raises ``YFRateLimitError`` only if that
    second answer is a 429 too.

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
            base_delay=base_delay,
        )
    except YFRateLimitError as exc:
        raise SourceUnavailable(f"Yahoo kept rate-limiting ({what} for {ticker}): {exc}", retryable=True) from exc
    except _YahooTimeout as exc:
        raise SourceError(ticker, f"{what} timed out after retries: {exc}") from exc


class YahooPrices:
    """The live price adapter (Yahoo Finance via yfinance).

    ``session`` defaults to ``default_session()`` (plain requests). Each ticker the batch misses
    gets ``attempts`` tries, ``backoff``, 2x, 4x ... seconds apart (see ``call_yahoo``).
    """

    name = "live"

    def __init__(
        self,
        requests_per_second: float = 2.0,
        session: object | None = None,
        sleep: Callable[[float], None] | None = None,
        attempts: int = 4,
        backoff: float = 2.0,
    ) -> None:
        self.limiter = RateLimiter(requests_per_second)
        self.session = session if session is not None else default_session()
        self.attempts = attempts
        self.backoff = backoff
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
                missing = [t for t in batch if t not in got]
                if missing:
                    # a rate limit, a timeout or a bad symbol all look alike here (yfinance logs
                    # the reason and returns an empty column): the one-by-one path tells them apart
                    log.info("yahoo batch: no rows for %d of %d tickers, fetching one by one", len(missing), len(batch))
                for ticker in missing:
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
        """One batched call; returns parsed frames for the tickers that came back.

        No retry here: ``yf.download`` swallows each ticker's error (rate limit included) and
        returns it empty, so the caller sends every missing ticker to ``_history``.
        """
        import yfinance as yf

        self.limiter.wait()
        kwargs = self._kwargs(start)
        pdf = yf.download(
            batch,
            group_by="ticker",
            threads=False,
            progress=False,
            session=self.session,
            multi_level_index=True,
            **kwargs,
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
            out[ticker] = normalize_history(
                ticker,
                pandas_history_to_polars(sub),
                self.name,
                tz=None if getattr(sub.index, "tz", None) is None else str(sub.index.tz),
                name="yfinance.download",
            )
        return out

    def _history(self, ticker: str, start: date | None) -> pl.DataFrame:
        """One ticker on its own, so its error is known and named."""
        import yfinance as yf

        self.limiter.wait()
        kwargs = self._kwargs(start)

        def call() -> pd.DataFrame:
            with yfinance_raises():
                return yf.Ticker(ticker, session=self.session).history(**kwargs)

        try:
            pdf = call_yahoo(ticker, "history", call, self.sleep, attempts=self.attempts, base_delay=self.backoff)
        except SourceUnavailable as exc:
            raise SourceUnavailable(
                f"{exc} Nothing more is fetched this run. Check the network, or run offline with "
                "CHINATECH_SOURCE=replay or sample.",
                retryable=exc.retryable,
            ) from exc
        if pdf is None or pdf.empty:
            raise SourceError(ticker, "Yahoo returned no rows (delisted, wrong symbol, or no data in range)")
        return normalize_history(
            ticker,
            pandas_history_to_polars(pdf),
            self.name,
            tz=None if getattr(pdf.index, "tz", None) is None else str(pdf.index.tz),
            name="Ticker.history",
        )
