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
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from assets.sources.base import PriceFetch, clip_to_starts
from assets.sources.errors import SourceConfigError, SourceError
from assets.transforms.prices import (
    empty_raw,
    exchange_tz,
    normalize_download,
    normalize_history,
    normalize_history_many,
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


def _ticker_of(path: Path) -> str:
    return path.name.removesuffix(".gz").removesuffix(".csv")


def file_index(replay_dir: Path) -> tuple[dict[str, list[Path]], dict[str, list[Path]]]:
    """Every price file by ticker, listed once (globbing per ticker is quadratic in the universe).

    Same files and order as ``history_files`` / ``download_files``: group folders first, then
    files at the top of yfinance-history/.
    """
    hist: dict[str, list[Path]] = {}
    base = replay_dir / "yfinance-history"
    for path in _find(base, "*/*.csv*") + _find(base, "*.csv*"):
        hist.setdefault(_ticker_of(path), []).append(path)
    down: dict[str, list[Path]] = {}
    for path in _find(replay_dir / "yfinance-download", "*.csv*"):
        down.setdefault(_ticker_of(path), []).append(path)
    return hist, down


def recent_lines(data: bytes, since: date) -> tuple[bytes, list[bytes]]:
    """The header and the lines of a CSV whose first ten bytes are a date on or after ``since``.

    Lines that do not start with a ``YYYY-MM-DD`` date are kept too, so a malformed row still
    reaches the parser and fails loudly. Vectorised over bytes: an incremental load reads a
    ten-year file without parsing its old rows.
    """
    arr = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(arr == 10)
    if ends.size == 0 or ends[-1] != len(data) - 1:
        ends = np.append(ends, len(data))
    starts = np.concatenate(([0], ends[:-1] + 1))
    head = data[: ends[0]].rstrip(b"\r")
    starts, ends = starts[1:], ends[1:]
    full = (ends - starts) >= 10
    offsets = np.where(full, starts, 0)[:, None] + np.arange(10)
    prefix = arr[np.minimum(offsets, len(arr) - 1)]
    digits = (prefix >= 48) & (prefix <= 57)
    dashes = prefix == 45
    dated = full & digits[:, [0, 1, 2, 3, 5, 6, 8, 9]].all(axis=1) & dashes[:, [4, 7]].all(axis=1)
    stamp = np.frombuffer(since.isoformat().encode(), dtype=np.uint8)
    # lexicographic compare of the ten bytes = date compare
    diff = prefix.astype(np.int16) - stamp
    first = np.argmax(diff != 0, axis=1)
    newer = (diff[np.arange(len(diff)), first] >= 0) if len(diff) else np.zeros(0, dtype=bool)
    keep = (~dated | newer) & ((ends - starts) > 0)
    return head, [data[a:b].rstrip(b"\r") for a, b in zip(starts[keep], ends[keep], strict=True)]


def header(path: Path) -> str:
    """The first line of a (gzipped) CSV, read without decompressing the rest."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:  # type: ignore[operator]
        return fh.readline().strip()


def read_text(path: Path) -> str:
    """The file's text, gunzipped when .gz; a UTF-8 byte-order mark is not part of the text."""
    data = path.read_bytes()
    return (gzip.decompress(data) if path.suffix == ".gz" else data).decode("utf-8-sig")


@contextmanager
def _reading(ticker: str, name: str) -> Iterator[None]:
    """Whatever goes wrong reading one file fails that ticker with a message naming the file."""
    try:
        yield
    except SourceError as exc:
        if name in exc.problem:
            raise
        raise SourceError(ticker, f"{name}: {exc.problem}") from exc
    except (pl.exceptions.PolarsError, OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        problem = f"{name}: unreadable (truncated, not gzip or not CSV): {type(exc).__name__}: {exc}"
        raise SourceError(ticker, problem) from exc


class ReplayPrices:
    """Reads the recorded files; a ticker without any file, or whose files hold no rows, is a
    reported failure, not fatal (like Yahoo's empty answer for one ticker in live mode)."""

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
        hist_index, down_index = file_index(self.replay_dir)
        single: list[tuple[str, Path, str | None]] = []  # one history file, no download: read in bulk
        for ticker in instruments["ticker"].to_list():
            hist, down = hist_index.get(ticker, []), down_index.get(ticker, [])
            if not hist and not down:
                failures[ticker] = f"no recorded price file under {self.replay_dir}"
                continue
            try:
                tz = exchange_tz(calendars.get(ticker))
            except ValueError as exc:
                failures[ticker] = str(exc)
                continue
            if len(hist) == 1 and not down:
                single.append((ticker, hist[0], tz))
                continue
            try:
                parts.extend(self._read_ticker(ticker, hist, down, tz))
            except SourceError as exc:
                failures[ticker] = exc.problem
        bulk, fallback = self._read_bulk(single, starts)
        parts.extend(bulk)
        for ticker, path, tz in fallback:  # whatever the bulk read could not take: one by one, errors named
            try:
                parts.extend(self._read_ticker(ticker, [path], [], tz))
            except SourceError as exc:
                failures[ticker] = exc.problem
        frame = pl.concat(parts, how="vertical")
        return PriceFetch(clip_to_starts(frame, starts), failures)

    def _read_bulk(
        self, files: list[tuple[str, Path, str | None]], starts: dict[str, date | None]
    ) -> tuple[list[pl.DataFrame], list[tuple[str, Path, str | None]]]:
        """History files sharing a header and a time zone, parsed in one multi-file scan.

        The same parser (``normalize_history``) runs once over all of them, with a ticker
        column from the file name. Files it cannot take (another header, a bad date, a corrupt
        gzip) are returned for the one-by-one path, which names the ticker and the problem.
        """
        groups: dict[tuple[str, str | None], list[tuple[str, Path, str | None]]] = {}
        fallback: list[tuple[str, Path, str | None]] = []
        for item in files:
            try:
                groups.setdefault((header(item[1]), item[2]), []).append(item)
            except (OSError, EOFError, zlib.error, UnicodeDecodeError):
                fallback.append(item)
        out: list[pl.DataFrame] = []
        for (_, tz), items in groups.items():
            if len(items) < 2:
                fallback.extend(items)
                continue
            ticker_by_path = {str(path): ticker for ticker, path, _ in items}
            try:
                if all(starts.get(t) is not None for t, _, _ in items):
                    frame, empty = self._recent_rows(items, starts)
                else:
                    frame = pl.read_csv(
                        [path for _, path, _ in items], infer_schema=False, include_file_paths="_path"
                    ).with_columns(pl.col("_path").replace_strict(ticker_by_path).alias("ticker"))
                    frame = frame.drop("_path")
                    empty = set(ticker_by_path.values()) - set(frame["ticker"].unique().to_list())
                if empty:  # a file with a header and no rows: the per-file path reports it
                    fallback.extend(item for item in items if item[0] in empty)
                    frame = frame.filter(~pl.col("ticker").is_in(sorted(empty)))
                # rows before a ticker's load window are never needed: drop them before parsing
                out.append(normalize_history_many(frame, self.name, tz=tz, starts=starts))
            except (SourceError, pl.exceptions.PolarsError, OSError, EOFError, zlib.error, UnicodeDecodeError):
                fallback.extend(items)
        return out, fallback

    def _recent_rows(
        self, items: list[tuple[str, Path, str | None]], starts: dict[str, date | None]
    ) -> tuple[pl.DataFrame, set[str]]:
        """Incremental loads: only the lines from a day before each ticker's window, as text with a
        ticker column; and the tickers whose file has no rows at all."""

        def one(item: tuple[str, Path, str | None]) -> tuple[bytes, list[bytes], bool]:
            ticker, path, _ = item
            since = starts[ticker] - timedelta(days=1)  # type: ignore[operator]
            data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            head, lines = recent_lines(data, since)
            newline = data.find(b"\n")
            has_rows = newline >= 0 and bool(data[newline + 1 :].strip())
            prefix = ticker.encode() + b","
            return head, [prefix + line for line in lines], has_rows

        with ThreadPoolExecutor(max_workers=2) as pool:  # zlib releases the GIL
            parts = list(pool.map(one, items))
        heads = {head for head, _, _ in parts}
        if len(heads) != 1:
            raise SourceError("(bulk)", "files of one group disagree on their header")
        empty = {item[0] for item, (_, _, has_rows) in zip(items, parts, strict=True) if not has_rows}
        blob = b"ticker," + heads.pop() + b"\n" + b"\n".join(line for _, lines, _ in parts for line in lines)
        return pl.read_csv(blob, infer_schema=False), empty

    def _read_ticker(self, ticker: str, hist: list[Path], down: list[Path], tz: str | None) -> list[pl.DataFrame]:
        """All rows of one ticker, whole history, in file order."""
        hist_parts: list[pl.DataFrame] = []
        folded = False  # a history file with dividends folded into Close (no Adj Close)
        for path in hist:
            name = path.relative_to(self.replay_dir).as_posix()
            with _reading(ticker, name):
                frame = pl.read_csv(path, infer_schema=False)
                hist_parts.append(normalize_history(ticker, frame, self.name, tz=tz, name=name))
            folded = folded or "Adj Close" not in frame.columns
        down_parts: list[pl.DataFrame] = []
        for path in down:
            name = path.relative_to(self.replay_dir).as_posix()
            with _reading(ticker, name):
                long = read_download_csv(read_text(path), name=name)
                rows = normalize_download(long, self.name, name=name)
            down_parts.append(to_split_dividend_adjusted(rows) if folded else rows)
        if not any(part.height for part in hist_parts + down_parts):
            # a header and nothing else: what a recorder writes when Yahoo answered an empty frame
            names = ", ".join(p.relative_to(self.replay_dir).as_posix() for p in hist + down)
            raise SourceError(ticker, f"{names}: no rows (an empty frame was recorded)")
        return hist_parts + down_parts
