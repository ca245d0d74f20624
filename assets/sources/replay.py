"""Replay: recorded yfinance price files in the layout of ``../shared/data``.

``yfinance-history/<group>/<TICKER>.csv(.gz)`` is the ``Ticker.history().to_csv()`` shape and
``yfinance-download/<TICKER>.csv(.gz)`` the ``yfinance.download().to_csv()`` shape. Both go
through the same parsers as live data. Stamps are converted to the exchange time zone of the
instrument's ``calendar`` (when ``instruments`` has that column).

A history file without Adj Close was written with dividends folded into Close; that
ticker's download rows are put on the same basis here, before clipping to the load window,
so the basis of a date never depends on which other dates a load contains.

Recorders append: a day is added to a file as a new gzip member (concatenated members are one
valid gzip stream) or, uncompressed, as new lines. An incremental load is given ``marks``, what
the warehouse has read of each file before (its size then and a digest of those bytes), so a
file that only grew is read from its old end and a file unchanged is not parsed at all; a file
rewritten, shrunk or whose old bytes differ is read whole, as without marks (docs/performance.md).
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from assets.sources.base import FILE_MARKS_SCHEMA, FileMark, PriceFetch, clip_to_starts
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


FileIndex = tuple[dict[str, list[Path]], dict[str, list[Path]]]  # history files, download files by ticker


def file_index(replay_dir: Path) -> FileIndex:
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


def _hasher() -> hashlib._Hash:
    """SHA-1 as a change detector (not for security): twice BLAKE2b's speed here, and every byte counts."""
    return hashlib.sha1(usedforsecurity=False)


def file_mark(path: Path) -> FileMark:
    data = path.read_bytes()
    hasher = _hasher()
    hasher.update(data)
    return FileMark(len(data), hasher.hexdigest())


def appended_bytes(data: bytes, mark: FileMark | None, gzipped: bool) -> bytes | None:
    """The text appended to ``data`` since ``mark`` (b"" when unchanged), or None when the file must be
    read whole: no mark, shrunk, the old bytes differ, or what follows them is not whole gzip members
    (or, uncompressed, the old bytes did not end a line)."""
    if mark is None or len(data) < mark.size:
        return None
    hasher = _hasher()
    hasher.update(memoryview(data)[: mark.size])
    if hasher.hexdigest() != mark.digest:
        return None
    if len(data) == mark.size:
        return b""
    tail = data[mark.size :]
    if not gzipped:
        return tail if data[mark.size - 1 : mark.size] == b"\n" else None
    try:
        return gzip.decompress(tail)
    except (OSError, EOFError, zlib.error):
        return None


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


HEAD_BYTES = 1 << 14  # a header line is far shorter; a longer one is read the slow way


def header(path: Path) -> str:
    """The first line of a (gzipped) CSV, read without decompressing the rest.

    One read of the file's first block and one inflate call (no text wrapper, no gzip reader:
    2,000 files in a load); a line longer than that block is read through ``gzip.open``.
    """
    with path.open("rb") as fh:
        block = fh.read(HEAD_BYTES)
    if path.suffix == ".gz":
        block = zlib.decompressobj(wbits=31).decompress(block, HEAD_BYTES)
    line, newline, _ = block.partition(b"\n")
    if newline:
        return line.decode("utf-8").strip()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as text:  # type: ignore[operator]
        return text.readline().strip()


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
        self._index: tuple[tuple[tuple[str, int], ...], FileIndex] | None = None

    def _file_index(self) -> FileIndex:
        """``file_index``, listed again only when a price folder changed (a load fetches in many chunks)."""
        folders = [self.replay_dir / "yfinance-history", self.replay_dir / "yfinance-download"]
        folders += [p for p in sorted(folders[0].glob("*")) if p.is_dir()]
        key = tuple((str(f), f.stat().st_mtime_ns) for f in folders if f.is_dir())
        if self._index is None or self._index[0] != key:
            self._index = (key, file_index(self.replay_dir))
        return self._index[1]

    def rel(self, path: Path) -> str:
        """A file's name in marks: its path under the replay folder."""
        return path.relative_to(self.replay_dir).as_posix()

    def fetch_prices(
        self,
        instruments: pl.DataFrame,
        starts: dict[str, date | None],
        marks: dict[str, FileMark] | None = None,
    ) -> PriceFetch:
        """Rows from ``starts`` per ticker. ``marks`` (by ``rel`` path): what was read of each file
        before, used for tickers with a start; the result's ``files`` are the new marks and
        ``unchanged`` the tickers whose only file had not changed."""
        marks = marks or {}
        parts: list[pl.DataFrame] = [empty_raw()]
        failures: dict[str, str] = {}
        calendars: dict[str, str | None] = (
            dict(instruments.select("ticker", "calendar").iter_rows()) if "calendar" in instruments.columns else {}
        )
        hist_index, down_index = self._file_index()
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
        read: dict[str, tuple[str, FileMark]] = {}  # ticker -> (file, mark) of single-file tickers read
        unchanged: set[str] = set()
        bulk, fallback = self._read_bulk(single, starts, marks, read, unchanged)
        parts.extend(bulk)
        for ticker, path, tz in fallback:  # whatever the bulk read could not take: one by one, errors named
            try:
                mark = file_mark(path)  # before parsing: a line appended meanwhile is read again next time
                parts.extend(self._read_ticker(ticker, [path], [], tz))
                read[ticker] = (self.rel(path), mark)
            except SourceError as exc:
                failures[ticker] = exc.problem
            except OSError as exc:
                failures[ticker] = f"{self.rel(path)}: unreadable: {exc}"
        frame = pl.concat(parts, how="vertical")
        files = pl.DataFrame(
            [(t, f, m.size, m.digest) for t, (f, m) in sorted(read.items()) if t not in failures],
            schema=FILE_MARKS_SCHEMA,
            orient="row",
        )
        return PriceFetch(clip_to_starts(frame, starts), failures, files=files, unchanged=sorted(unchanged))

    def _read_bulk(
        self,
        files: list[tuple[str, Path, str | None]],
        starts: dict[str, date | None],
        marks: dict[str, FileMark],
        read: dict[str, tuple[str, FileMark]],
        unchanged: set[str],
    ) -> tuple[list[pl.DataFrame], list[tuple[str, Path, str | None]]]:
        """History files sharing a header and a time zone, parsed in one multi-file scan.

        The same parser (``normalize_history``) runs once over all of them, with a ticker
        column from the file name. Files it cannot take (another header, a bad date, a corrupt
        gzip) are returned for the one-by-one path, which names the ticker and the problem.
        """
        groups: dict[tuple[str, str | None], list[tuple[str, Path, str | None]]] = {}
        fallback: list[tuple[str, Path, str | None]] = []

        def head(path: Path) -> str | None:
            try:
                return header(path)
            except (OSError, EOFError, zlib.error, UnicodeDecodeError):
                return None  # the per-file path names the problem

        with ThreadPoolExecutor(max_workers=2) as pool:  # file reads and zlib release the GIL
            heads = list(pool.map(head, [path for _, path, _ in files]))
        for item, head_line in zip(files, heads, strict=True):
            if head_line is None:
                fallback.append(item)
            else:
                groups.setdefault((head_line, item[2]), []).append(item)
        out: list[pl.DataFrame] = []
        for (head, tz), items in groups.items():
            if len(items) < 2:
                fallback.extend(items)
                continue
            ticker_by_path = {str(path): ticker for ticker, path, _ in items}
            try:
                if all(starts.get(t) is not None for t, _, _ in items):
                    frame, empty, found = self._recent_rows(items, starts, head, marks)
                    unchanged.update(t for t, (_, _, same) in found.items() if same and t not in empty)
                    group_marks = {t: (f, m) for t, (f, m, _) in found.items()}
                else:
                    # marks before parsing: a line appended meanwhile is read again next time
                    with ThreadPoolExecutor(max_workers=2) as pool:
                        got = list(pool.map(file_mark, [path for _, path, _ in items]))
                    group_marks = {t: (self.rel(p), m) for (t, p, _), m in zip(items, got, strict=True)}
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
                read.update({t: fm for t, fm in group_marks.items() if t not in empty})
            except (SourceError, pl.exceptions.PolarsError, OSError, EOFError, zlib.error, UnicodeDecodeError):
                fallback.extend(items)
                unchanged.difference_update(t for t, _, _ in items)
        return out, fallback

    def _recent_rows(
        self,
        items: list[tuple[str, Path, str | None]],
        starts: dict[str, date | None],
        header_line: str,
        marks: dict[str, FileMark],
    ) -> tuple[pl.DataFrame, set[str], dict[str, tuple[str, FileMark, bool]]]:
        """Incremental loads: only the lines from a day before each ticker's window, as text with a
        ticker column; the tickers whose file has no rows at all; per ticker its file, new mark and
        whether the file was unchanged since its mark.

        A file that only grew since its mark is read from the old end (the lines appended); one
        unchanged gives no lines; any other is decompressed whole and scanned (``recent_lines``).
        """
        group_head = header_line.encode()

        def one(item: tuple[str, Path, str | None]) -> tuple[bytes, list[bytes], bool, FileMark, bool]:
            ticker, path, _ = item
            since = starts[ticker] - timedelta(days=1)  # type: ignore[operator]
            stored = path.read_bytes()
            hasher = _hasher()
            hasher.update(stored)
            mark = FileMark(len(stored), hasher.hexdigest())
            gzipped = path.suffix == ".gz"
            appended = appended_bytes(stored, marks.get(self.rel(path)), gzipped)
            if appended is not None:  # rows were read before: only what was appended is new
                lines = recent_lines(group_head + b"\n" + appended, since)[1] if appended else []
                head, has_rows = group_head, True
            else:
                data = gzip.decompress(stored) if gzipped else stored
                head, lines = recent_lines(data, since)
                newline = data.find(b"\n")
                has_rows = newline >= 0 and bool(data[newline + 1 :].strip())
            prefix = ticker.encode() + b","
            return head, [prefix + line for line in lines], has_rows, mark, appended == b""

        with ThreadPoolExecutor(max_workers=2) as pool:  # zlib and hashlib release the GIL
            parts = list(pool.map(one, items))
        heads = {head for head, _, _, _, _ in parts}
        if len(heads) != 1:
            raise SourceError("(bulk)", "files of one group disagree on their header")
        empty = {item[0] for item, part in zip(items, parts, strict=True) if not part[2]}
        found = {t: (self.rel(p), part[3], part[4]) for (t, p, _), part in zip(items, parts, strict=True)}
        blob = b"ticker," + heads.pop() + b"\n" + b"\n".join(line for part in parts for line in part[1])
        return pl.read_csv(blob, infer_schema=False), empty, found

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
