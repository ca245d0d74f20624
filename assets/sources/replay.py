"""Replay: recorded yfinance price files in the layout of ``../shared/data``.

``yfinance-history/<group>/<TICKER>.csv(.gz)`` is the ``Ticker.history().to_csv()`` shape and
``yfinance-download/<TICKER>.csv(.gz)`` the ``yfinance.download().to_csv()`` shape. Both go
through the same parsers as live data.
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
    normalize_download,
    normalize_history,
    read_download_csv,
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
        for ticker in instruments["ticker"].to_list():
            hist, down = history_files(self.replay_dir, ticker), download_files(self.replay_dir, ticker)
            if not hist and not down:
                failures[ticker] = f"no recorded price file under {self.replay_dir}"
                continue
            try:
                for path in hist:
                    frame = pl.read_csv(path, infer_schema=False)
                    parts.append(normalize_history(ticker, frame, self.name))
                for path in down:
                    long = read_download_csv(read_text(path), name=f"{ticker} ({path.name})")
                    parts.append(normalize_download(long, self.name))
            except SourceError as exc:
                failures[ticker] = exc.problem
            except (pl.exceptions.PolarsError, OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
                failures[ticker] = f"unreadable file: {exc}"
        frame = pl.concat(parts, how="vertical")
        return PriceFetch(clip_to_starts(frame, starts), failures)
