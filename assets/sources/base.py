"""The one interface every price adapter implements (live, replay, sample)."""

from __future__ import annotations

from dataclasses import InitVar, dataclass, field
from datetime import date
from typing import Protocol

import polars as pl

from assets.transforms.prices import REJECTED_SCHEMA, resolve_duplicates


def _no_conflicts() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECTED_SCHEMA)


@dataclass(frozen=True)
class FileMark:
    """How much of a recorded file a load has read: its size then and a digest of those bytes."""

    size: int
    digest: str


# what a fetch read of each file (replay: kept in raw.replay_files for the next load)
FILE_MARKS_SCHEMA: dict[str, pl.DataType] = {
    "ticker": pl.String(),
    "path": pl.String(),
    "size": pl.Int64(),
    "digest": pl.String(),
}


def _no_files() -> pl.DataFrame:
    return pl.DataFrame(schema=FILE_MARKS_SCHEMA)


@dataclass
class PriceFetch:
    """Raw rows (``RAW_PRICES_SCHEMA``) for the tickers that worked, and why the others did not.

    Construction resolves duplicate keys (ticker, source, shape, trade_date) the same way for
    every adapter: the last row in frame order (file order: the later revision) is kept,
    exact copies vanish, and each dropped different version is added to ``conflicts``
    (REJECTED_SCHEMA, reason ``conflicting_duplicate``, row_json = the dropped version), so
    nothing is overwritten silently.

    ``files`` (sources reading files) marks what was read of each file; ``unchanged`` lists the
    tickers whose files had not changed since their mark, so there was nothing new to read.
    """

    frame: pl.DataFrame
    failures: dict[str, str] = field(default_factory=dict)
    conflicts: pl.DataFrame = field(default_factory=_no_conflicts)
    files: pl.DataFrame = field(default_factory=_no_files)
    unchanged: list[str] = field(default_factory=list)
    resolved: InitVar[bool] = False  # the frame is known to hold each key once: nothing to resolve

    def __post_init__(self, resolved: bool) -> None:
        if resolved:
            return
        self.frame, found = resolve_duplicates(self.frame)
        if found.height:
            self.conflicts = pl.concat([self.conflicts.select(list(REJECTED_SCHEMA)), found], how="vertical")


class PriceSource(Protocol):
    name: str

    def fetch_prices(
        self, instruments: pl.DataFrame, starts: dict[str, date | None], marks: dict[str, FileMark] | None = None
    ) -> PriceFetch:
        """Daily bars from ``starts[ticker]`` (None: the whole history) for each instrument; ``marks``:
        what earlier loads read of the source's files (sources without files ignore them)."""
        ...


def clip_to_starts(frame: pl.DataFrame, starts: dict[str, date | None]) -> pl.DataFrame:
    """Keep rows on or after each ticker's start (sources that always return everything).

    Row order is kept: it decides which of two versions of a date is the later one.
    """
    bounded = {t: s for t, s in starts.items() if s is not None}
    if not bounded or frame.is_empty():
        return frame
    lim = pl.DataFrame(
        {"ticker": list(bounded), "_start": list(bounded.values())},
        schema={"ticker": pl.String, "_start": pl.Date},
    )
    return (
        frame.join(lim, on="ticker", how="left", maintain_order="left")
        .filter(pl.col("_start").is_null() | (pl.col("trade_date") >= pl.col("_start")))
        .drop("_start")
    )
