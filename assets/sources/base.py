"""The one interface every price adapter implements (live, replay, sample)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

import polars as pl


@dataclass
class PriceFetch:
    """Raw rows (``RAW_PRICES_SCHEMA``) for the tickers that worked, and why the others did not."""

    frame: pl.DataFrame
    failures: dict[str, str] = field(default_factory=dict)


class PriceSource(Protocol):
    name: str

    def fetch_prices(self, instruments: pl.DataFrame, starts: dict[str, date | None]) -> PriceFetch:
        """Daily bars from ``starts[ticker]`` (None: the whole history) for each instrument."""
        ...


def clip_to_starts(frame: pl.DataFrame, starts: dict[str, date | None]) -> pl.DataFrame:
    """Keep rows on or after each ticker's start (sources that always return everything)."""
    bounded = {t: s for t, s in starts.items() if s is not None}
    if not bounded or frame.is_empty():
        return frame
    lim = pl.DataFrame(
        {"ticker": list(bounded), "_start": list(bounded.values())},
        schema={"ticker": pl.String, "_start": pl.Date},
    )
    return (
        frame.join(lim, on="ticker", how="left")
        .filter(pl.col("_start").is_null() | (pl.col("trade_date") >= pl.col("_start")))
        .drop("_start")
    )
