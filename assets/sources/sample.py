"""Sample: deterministic synthetic daily bars for the whole universe, so ``make demo`` runs offline.

Seeded random walks on the real exchange calendars (holidays included), with a split and
yearly dividends on some tickers, shaped exactly like Yahoo's ``auto_adjust=False`` data:
Open/High/Low/Close are split-adjusted (no jump on the split day, which only carries the
Stock Splits action), the close drops by the dividend on each ex-date, and Adj Close is
adjusted for splits and dividends. Every row is marked ``source = 'sample'``.
"""

from __future__ import annotations

import zlib
from datetime import date
from functools import lru_cache

import numpy as np
import polars as pl

from assets.sources.base import PriceFetch, clip_to_starts
from assets.transforms.prices import RAW_PRICES_SCHEMA, empty_raw

SAMPLE_START = date(2019, 1, 2)
SAMPLE_END = date(2026, 8, 21)
_LEVEL = {"hstech": 60.0, "adr": 90.0, "us_bigtech": 180.0, "us_index": 9000.0, "fx": 7.2}
_VOL = {"hstech": 0.028, "adr": 0.030, "us_bigtech": 0.020, "us_index": 0.012, "fx": 0.002}
_FX_LEVEL = {"CNY": 7.05, "CNH": 7.07, "HKD": 7.80}


def ticker_seed(ticker: str) -> int:
    """Stable across processes and Python versions (unlike ``hash``)."""
    return zlib.crc32(ticker.encode())


@lru_cache(maxsize=8)
def sessions(calendar: str, start: date = SAMPLE_START, end: date = SAMPLE_END) -> tuple[date, ...]:
    import exchange_calendars as xcals

    cal = xcals.get_calendar(calendar, start=start.isoformat(), end=end.isoformat())
    return tuple(d.date() for d in cal.sessions_in_range(start.isoformat(), end.isoformat()))


def sample_bars(ticker: str, group: str, currency: str, calendar: str) -> pl.DataFrame:
    """One ticker's synthetic history in the raw schema, shaped like Yahoo's auto_adjust=False.

    Yahoo back-adjusts every price for splits, so the split day only carries the action; a
    source that made the close jump there would teach the pipeline the wrong thing.
    """
    days = sessions(calendar)
    n = len(days)
    rng = np.random.default_rng(ticker_seed(ticker))
    vol = _VOL[group]
    drift = 0.0003 if group != "fx" else 0.0
    rets = rng.normal(drift, vol, n)
    if group == "fx":
        # currencies are managed, not random walks: mean-reverting around the level (the HKD peg
        # barely moves), so the sample stays inside the bands the FX checks enforce
        shocks = rets * (0.1 if currency == "HKD" else 1.0)
        path = np.zeros(n)
        for i in range(1, n):
            path[i] = 0.98 * path[i - 1] + shocks[i]
        rets = np.diff(path, prepend=0.0)
    level = _FX_LEVEL.get(currency, _LEVEL[group]) if group == "fx" else _LEVEL[group] * rng.uniform(0.5, 2.0)

    splits = np.zeros(n)
    ex_dates = np.zeros(n, dtype=bool)
    if group in ("hstech", "adr", "us_bigtech") and ticker_seed(ticker) % 5 == 0:
        splits[int(n * 0.6)] = float(rng.choice([2.0, 4.0, 10.0]))
    if group in ("us_bigtech", "hstech") and ticker_seed(ticker) % 2 == 0:
        for k in range(1, 8):
            ex_dates[min(n - 1, int(n * k / 8))] = True
    # split-adjusted close: a random walk that drops by the dividend yield on each ex-date
    div_yield = 0.005
    close = level * np.exp(np.cumsum(rets + np.where(ex_dates, np.log1p(-div_yield), 0.0)))
    prev_close = np.concatenate([[close[0]], close[:-1]])
    divs = np.where(ex_dates, prev_close * div_yield, 0.0)
    # Adj Close: each dividend scales every earlier close by (1 - dividend / close the day before)
    factor = np.where(ex_dates, 1 - divs / prev_close, 1.0)
    later = np.concatenate([np.cumprod(factor[::-1])[::-1][1:], [1.0]])
    adj_close = close * later

    spread = np.abs(rng.normal(0, vol / 2, n))
    open_ = close * (1 + rng.normal(0, vol / 3, n))
    high = np.maximum(open_, close) * (1 + spread)
    low = np.minimum(open_, close) * (1 - spread)
    volume = np.zeros(n) if group == "fx" else np.round(rng.lognormal(15, 0.5, n))
    return pl.DataFrame(
        {
            "ticker": ticker,
            "source": "sample",
            "shape": "history",
            "trade_date": list(days),
            "source_date": [d.isoformat() for d in days],
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "adj_close": adj_close,
            "volume": volume,
            "dividends": divs,
            "stock_splits": splits,
        },
        schema=RAW_PRICES_SCHEMA,
    )


class SamplePrices:
    """The offline synthetic source."""

    name = "sample"

    def fetch_prices(self, instruments: pl.DataFrame, starts: dict[str, date | None]) -> PriceFetch:
        parts = [empty_raw()]
        for row in instruments.iter_rows(named=True):
            parts.append(sample_bars(row["ticker"], row["group"], row["currency"], row["calendar"]))
        return PriceFetch(clip_to_starts(pl.concat(parts, how="vertical"), starts))
