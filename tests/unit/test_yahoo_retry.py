"""YahooPrices retries Yahoo's rate limits (and timeouts) on the one-by-one path, with backoff.

Everything runs through the production entry point, ``YahooPrices.fetch_prices``, with the
session YahooPrices makes for itself (plain ``requests``), so ``responses`` serves what Yahoo
would: the cookie page (fc.yahoo.com), the crumb (getcrumb), the consent page yfinance tries
after a refused request, and the chart endpoint answering HTTP 429 "Too Many Requests" a
number of times before the recorded chart body (../shared/data/yahoo-http, read at test time).

What yfinance 1.7 does with a 429 (asserted below through the chart hit counts):
- ``yf.download`` catches it per ticker and returns that ticker empty; nothing reaches us;
- any answer >= 400 is re-sent once at once by yfinance itself (after switching its cookie
  strategy); only a second 429 raises ``YFRateLimitError``. So a failed try costs 2 requests;
- a ticker whose timezone is not cached yet is first looked up with a ``range=1d`` chart call.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
import requests
import responses

from assets.sources.errors import SourceUnavailable
from assets.sources.yahoo import YahooPrices
from tests.yahoo_http import (
    CHART_FILES,
    CRUMB,
    TOO_MANY,
    Yahoo,
    forget_cookie,
    recorded_chart,
    set_cached_timezone,
)

START = date(2020, 1, 1)
PRICE_COLUMNS = ["open", "high", "low", "close", "adj_close", "volume"]


def tickers_frame(*tickers: str) -> pl.DataFrame:
    return pl.DataFrame({"ticker": list(tickers)}, schema={"ticker": pl.String})


def recorded_rows(body: dict) -> tuple[list[date], list[list[float]]]:
    """Trade dates (in the exchange's zone) and OHLC/adjclose/volume straight from a chart body."""
    result = body["chart"]["result"][0]
    zone = ZoneInfo(result["meta"]["exchangeTimezoneName"])
    quote = result["indicators"]["quote"][0]
    adj = result["indicators"]["adjclose"][0]["adjclose"]
    days = [datetime.fromtimestamp(ts, zone).date() for ts in result["timestamp"]]
    values = [
        [quote["open"][i], quote["high"][i], quote["low"][i], quote["close"][i], adj[i], float(quote["volume"][i])]
        for i in range(len(days))
    ]
    return days, values


def assert_rows_match(frame: pl.DataFrame, symbol: str, body: dict) -> None:
    rows = frame.filter(pl.col("ticker") == symbol).sort("trade_date")
    days, values = recorded_rows(body)
    assert rows["trade_date"].to_list() == days, symbol
    got = [list(r) for r in rows.select(PRICE_COLUMNS).rows()]
    assert len(got) == len(values)
    for got_row, want_row in zip(got, values, strict=True):
        assert got_row == pytest.approx(want_row), symbol


def assert_backoff(slept: list[float], base: float = 2.0) -> None:
    """``base * 2**n`` plus up to 25% jitter (throttle.with_retries)."""
    for n, seconds in enumerate(slept):
        assert base * 2**n <= seconds <= base * 2**n * 1.25, (n, slept)


@pytest.fixture()
def yahoo(yf_state, replay_dir: Path) -> Iterator[Yahoo]:
    charts = {symbol: recorded_chart(replay_dir, symbol) for symbol in CHART_FILES}
    for symbol, body in charts.items():
        set_cached_timezone(symbol, body["chart"]["result"][0]["meta"]["exchangeTimezoneName"])
    forget_cookie()  # so the session goes through fc.yahoo.com, as on a first run
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield Yahoo(rsps, charts)
    forget_cookie()
    for symbol in charts:
        set_cached_timezone(symbol, None)


def yf_config_hides_exceptions() -> bool:
    import yfinance as yf

    return yf.config.debug.hide_exceptions is True


def production(slept: list[float]) -> YahooPrices:
    """The adapter as production builds it (own session, 4 attempts, 2 s backoff), sleeping into ``slept``."""
    return YahooPrices(requests_per_second=10_000, sleep=slept.append)


def test_yahoo_default_session_is_plain_requests_with_a_browser_user_agent() -> None:
    src = YahooPrices()
    assert isinstance(src.session, requests.Session)  # what `responses` intercepts
    assert src.session.headers["User-Agent"].startswith("Mozilla/5.0")  # not python-requests/x.y
    assert src.attempts == 4 and src.backoff == 2.0


@pytest.mark.replay
def test_yahoo_rate_limited_ticker_leaves_the_batch_and_is_retried_with_backoff(yahoo: Yahoo) -> None:
    yahoo.script["EURUSD=X"] = iter([TOO_MANY] * 6)
    slept: list[float] = []

    got = production(slept).fetch_prices(tickers_frame("BABA", "EURUSD=X"), {"BABA": START, "EURUSD=X": START})

    assert got.failures == {}
    assert_rows_match(got.frame, "BABA", yahoo.charts["BABA"])
    assert_rows_match(got.frame, "EURUSD=X", yahoo.charts["EURUSD=X"])
    assert set(got.frame["ticker"]) == {"BABA", "EURUSD=X"}
    # BABA came back in the batch; EURUSD=X: 429 twice in the batch (swallowed by yf.download),
    # then twice per try on its own (yfinance re-sends once): 2 failed tries, the third answered
    assert yahoo.chart_hits("BABA") == [("history", 200)]
    assert yahoo.chart_hits("EURUSD=X") == [("history", 429)] * 6 + [("history", 200)]  # 1 + N calls
    assert len(slept) == 2
    assert_backoff(slept)
    # the session went through Yahoo's handshake: cookie, then crumb, then the chart
    urls = yahoo.urls()
    first = {key: next(i for i, u in enumerate(urls) if key in u) for key in ("fc.yahoo.com", "getcrumb", "/chart/")}
    assert first["fc.yahoo.com"] < first["getcrumb"] < first["/chart/"]
    assert any(f"crumb={CRUMB}" in u for u in urls if "/chart/" in u)


@pytest.mark.replay
def test_yahoo_rate_limit_on_the_first_timezone_lookup_is_retried(yahoo: Yahoo) -> None:
    set_cached_timezone("BABA", None)  # a ticker never fetched before: yfinance asks for its timezone first
    yahoo.script["BABA"] = iter([TOO_MANY] * 4)
    slept: list[float] = []

    got = production(slept).fetch_prices(tickers_frame("BABA"), {"BABA": START})

    assert got.failures == {}
    assert_rows_match(got.frame, "BABA", yahoo.charts["BABA"])
    # batch: lookup refused twice -> empty; alone: refused twice, then lookup and history answered
    assert yahoo.chart_hits("BABA") == [("tz", 429)] * 4 + [("tz", 200), ("history", 200)]
    assert len(slept) == 1
    assert_backoff(slept)
    # (the all-empty batch was probed with PROBE_URL: a 429 answer there is not a dead network)


@pytest.mark.replay
def test_yahoo_rate_limit_that_never_ends_is_source_unavailable(yahoo: Yahoo) -> None:
    yahoo.script["BABA"] = itertools.repeat(TOO_MANY)
    slept: list[float] = []

    with pytest.raises(SourceUnavailable) as err:
        production(slept).fetch_prices(tickers_frame("BABA"), {"BABA": START})

    message = str(err.value)
    assert "BABA" in message and "rate" in message.lower()
    assert "replay" in message  # says how to run offline
    assert yf_config_hides_exceptions()  # the per-ticker switch was put back
    # 2 in the batch, then 4 tries of 2 requests each
    assert yahoo.chart_hits("BABA") == [("history", 429)] * (2 + 2 * 4)
    assert len(slept) == 3
    assert_backoff(slept)


@pytest.mark.replay
def test_yahoo_timeouts_after_retries_are_a_named_failure(yahoo: Yahoo) -> None:
    set_cached_timezone("EURUSD=X", None)  # the timeout hits yfinance's timezone lookup, which hides errors
    yahoo.script["EURUSD=X"] = itertools.repeat(requests.exceptions.ReadTimeout("read timed out (10 s)"))
    slept: list[float] = []

    got = production(slept).fetch_prices(tickers_frame("BABA", "EURUSD=X"), {"BABA": START, "EURUSD=X": START})

    assert set(got.frame["ticker"]) == {"BABA"}
    assert_rows_match(got.frame, "BABA", yahoo.charts["BABA"])
    assert list(got.failures) == ["EURUSD=X"]
    assert "timed out" in got.failures["EURUSD=X"]
    assert "timezone" not in got.failures["EURUSD=X"]  # not "possibly delisted; no timezone found"
    assert yf_config_hides_exceptions()
    # once in the batch, then 4 tries alone (yfinance does not re-send after an exception)
    assert yahoo.chart_hits("EURUSD=X") == [("tz", "ReadTimeout")] * 5
    assert len(slept) == 3
    assert_backoff(slept)
