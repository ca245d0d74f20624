"""Replay: recorded yfinance price files in the layout of ``../shared/data``.

``yfinance-history/<group>/<TICKER>.csv(.gz)`` is the ``Ticker.history().to_csv()`` shape and
``yfinance-download/<TICKER>.csv(.gz)`` the ``yfinance.download().to_csv()`` shape. Both go
through the same parsers as live data. Stamps are converted to the exchange time zone of the
instrument's ``calendar`` (when ``instruments`` has that column).

A history file without Adj Close was written with dividends folded into Close; that
ticker's download rows are put on the same basis here, before clipping to the load window,
so the basis of a date never depends on which other dates a load contains.
"""

from __future__ import annotations

import gzip
import zlib
from datetime import date
from pathlib import Path

import polars as pl

from assets.sources.base import PriceFetch, clip_to_starts
from assets.sources.errors import SourceConfigError, SourceError
from assets.transforms.prices import (
    empty_raw,
    exchange_tz,
    normalize_download,
    normalize_history,
    read_download_csv,
    to_split_dividend_adjusted,
)


def _find(folder: Path, pattern: str) -> list[Path]:
    return sorted(p for p in folder.glob(pattern) if p.name.endswith((".csv", ".csv.gz")))


def history_files(replay_dir: Path, ticker: str) -> list[Path]:
    base = replay_dir / "yfinance-history"
    return _find(base, f"*/{ticker}.csv*") + _find(base, f"{ticker}.csv*")


def download_files(replay_dir: Path, ticker: str) -> list[Path]:
    return _find(replay_dir / "yfinance-download", f"{ticker}.csv*")


def read_text(path: Path) -> str:
    data = path.read_bytes()
    return (gzip.decompress(data) if path.suffix == ".gz" else data).decode()


class ReplayPrices:
    """Reads the recorded files; a ticker without any file is a reported failure, not fatal."""

    name = "replay"

    def __init__(self, replay_dir: Path) -> None:
        if not replay_dir.is_dir():
            raise SourceConfigError(
                f"CHINATECH_REPLAY_DIR={replay_dir} is not a folder: point it at a copy of "
                "shared/data (yfinance-history/, yfinance-download/, sec-companyfacts/)"
            )
        self.replay_dir = replay_dir

    def fetch_prices(self, instruments: pl.DataFrame, starts: dict[str, date | None]) -> PriceFetch:
        parts: list[pl.DataFrame] = [empty_raw()]
        failures: dict[str, str] = {}
        calendars: dict[str, str | None] = (
            dict(instruments.select("ticker", "calendar").iter_rows()) if "calendar" in instruments.columns else {}
        )
        for ticker in instruments["ticker"].to_list():
            hist, down = history_files(self.replay_dir, ticker), download_files(self.replay_dir, ticker)
            if not hist and not down:
                failures[ticker] = f"no recorded price file under {self.replay_dir}"
                continue
            try:
                tz = exchange_tz(calendars.get(ticker))
            except ValueError as exc:
                failures[ticker] = str(exc)
                continue
            try:
                parts.extend(self._read_ticker(ticker, hist, down, tz))
            except SourceError as exc:
                failures[ticker] = exc.problem
            except (pl.exceptions.PolarsError, OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
                failures[ticker] = f"unreadable file: {exc}"
        frame = pl.concat(parts, how="vertical")
        return PriceFetch(clip_to_starts(frame, starts), failures)

    def _read_ticker(self, ticker: str, hist: list[Path], down: list[Path], tz: str | None) -> list[pl.DataFrame]:
        """All rows of one ticker, whole history, in file order."""
        hist_parts: list[pl.DataFrame] = []
        folded = False  # a history file with dividends folded into Close (no Adj Close)
        for path in hist:
            frame = pl.read_csv(path, infer_schema=False)
            name = path.relative_to(self.replay_dir).as_posix()
            hist_parts.append(normalize_history(ticker, frame, self.name, tz=tz, name=name))
            folded = folded or "Adj Close" not in frame.columns
        down_parts: list[pl.DataFrame] = []
        for path in down:
            name = path.relative_to(self.replay_dir).as_posix()
            long = read_download_csv(read_text(path), name=f"{ticker} ({name})")
            rows = normalize_download(long, self.name, name=name)
            down_parts.append(to_split_dividend_adjusted(rows) if folded else rows)
        return hist_parts + down_parts
