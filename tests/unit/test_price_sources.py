"""Price adapters: ReplayPrices (temp files and the recorded data), SamplePrices, and YahooPrices
driven through yfinance's real code with recorded chart responses served by ``responses``."""

from __future__ import annotations

import copy
import gzip
import json
import time
import zlib
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
import requests
import responses

from assets.sources.base import FileMark, PriceFetch
from assets.sources.errors import SourceConfigError, SourceUnavailable
from assets.sources.replay import HEAD_BYTES, ReplayPrices, header, read_text
from assets.sources.sample import SAMPLE_END, SAMPLE_START, SamplePrices, ticker_seed
from assets.sources.yahoo import PROBE_URL, YahooPrices, is_unreachable
from assets.transforms.prices import (
    RAW_PRICES_SCHEMA,
    REJECTED_SCHEMA,
    SPLIT_ADJUSTED,
    SPLIT_DIVIDEND_ADJUSTED,
    build_core,
)
from assets.universe import load_universe
from tests.yahoo_http import Yahoo, forget_cookie, recorded_chart

HISTORY_HEADER = "Date,Open,High,Low,Close,Volume,Dividends,Stock Splits"
DOWNLOAD_HEADER = "Price,Adj Close,Close,High,Low,Open,Volume\nTicker,{t},{t},{t},{t},{t},{t}\nDate,,,,,,\n"


def tickers_frame(*tickers: str) -> pl.DataFrame:
    return pl.DataFrame({"ticker": list(tickers)}, schema={"ticker": pl.String})


# ---------------------------------------------------------------- ReplayPrices on a temp folder


@pytest.fixture()
def replay_tmp(tmp_path: Path) -> Path:
    hist = tmp_path / "yfinance-history"
    (hist / "GroupA").mkdir(parents=True)
    (hist / "GroupB").mkdir()
    (tmp_path / "yfinance-download").mkdir()
    (hist / "GroupA" / "AAA.csv").write_text(
        HISTORY_HEADER
        + "\n2024-01-03 00:00:00+08:00,11,12,10,11.5,100,0.0,0.0"
        + "\n2024-01-02 00:00:00+08:00,10,11,9,10.5,100,0.0,0.0"
        + "\n2024-01-04 00:00:00+08:00,12,13,11,12.5,100,0.5,0.0\n"
    )
    (hist / "GroupB" / "BBB.csv.gz").write_bytes(
        gzip.compress(
            (
                HISTORY_HEADER + "\n2024-03-29 00:00:00+00:00,7.1,7.2,7.0,7.15,0,0.0,0.0"
                "\n2024-03-31 00:00:00+01:00,7.2,7.3,7.1,7.25,0,0.0,0.0\n"
            ).encode()
        )
    )
    (tmp_path / "yfinance-download" / "BBB.csv.gz").write_bytes(
        gzip.compress((DOWNLOAD_HEADER.format(t="BBB") + "2024-04-01,7.3,7.3,7.4,7.2,7.25,0\n").encode())
    )
    (tmp_path / "yfinance-download" / "CCC.csv").write_text(
        DOWNLOAD_HEADER.format(t="CCC") + "2024-05-02,50,50,51,49,49.5,10\n2024-05-03,51,51,52,50,50.5,20\n"
    )
    truncated = gzip.compress((HISTORY_HEADER + "\n2024-01-02 00:00:00+08:00,1,1,1,1,1,0,0" * 2000).encode())
    (hist / "GroupA" / "BAD.csv.gz").write_bytes(truncated[: len(truncated) // 2])  # a cut-off download
    (tmp_path / "yfinance-download" / "BAD2.csv").write_text("Date,Close\n2024-01-02,5\n")  # wrong shape
    (hist / "GroupA" / "NODATE.csv").write_text("When,Open,High,Low,Close\n2024-01-02,1,1,1,1\n")
    return tmp_path


def test_replay_reads_both_shapes_plain_and_gzipped(replay_tmp: Path) -> None:
    got = ReplayPrices(replay_tmp).fetch_prices(tickers_frame("AAA", "BBB", "CCC"), {})

    assert isinstance(got, PriceFetch)
    assert got.failures == {}
    assert got.frame.schema == pl.Schema(RAW_PRICES_SCHEMA)
    counts = got.frame.group_by("ticker", "shape").len().sort("ticker", "shape").rows()
    assert counts == [("AAA", "history", 3), ("BBB", "download", 1), ("BBB", "history", 2), ("CCC", "download", 2)]
    aaa = got.frame.filter(pl.col("ticker") == "AAA")
    assert aaa["trade_date"].to_list() == [date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4)]
    assert aaa["close"].to_list() == [10.5, 11.5, 12.5]
    assert aaa["dividends"].to_list() == [0.0, 0.0, 0.5]
    bbb_hist = got.frame.filter((pl.col("ticker") == "BBB") & (pl.col("shape") == "history"))
    assert bbb_hist["trade_date"].to_list() == [date(2024, 3, 29), date(2024, 3, 31)]  # BST bar keeps its date
    ccc = got.frame.filter(pl.col("ticker") == "CCC")
    assert ccc["adj_close"].to_list() == [50.0, 51.0]
    assert ccc["close"].to_list() == [50.0, 51.0]
    assert set(got.frame["source"]) == {"replay"}


def test_replay_missing_and_unreadable_files_are_failures_not_errors(replay_tmp: Path) -> None:
    got = ReplayPrices(replay_tmp).fetch_prices(tickers_frame("AAA", "BAD", "BAD2", "NODATE", "NONE"), {})

    assert set(got.failures) == {"BAD", "BAD2", "NODATE", "NONE"}
    assert "no recorded price file" in got.failures["NONE"]
    assert "unreadable" in got.failures["BAD"]
    assert "Price/Ticker/Date" in got.failures["BAD2"]
    # each names its file
    assert "yfinance-history/GroupA/BAD.csv.gz" in got.failures["BAD"]
    assert "yfinance-download/BAD2.csv" in got.failures["BAD2"]
    assert "Date" in got.failures["NODATE"]
    assert set(got.frame["ticker"]) == {"AAA"}
    assert got.frame.height == 3


def test_replay_truncated_download_gzip_is_a_failure(replay_tmp: Path) -> None:
    whole = gzip.compress((DOWNLOAD_HEADER.format(t="CUT") + "2024-05-02,50,50,51,49,49.5,10\n" * 2000).encode())
    (replay_tmp / "yfinance-download" / "CUT.csv.gz").write_bytes(whole[: len(whole) // 2])

    got = ReplayPrices(replay_tmp).fetch_prices(tickers_frame("AAA", "CUT"), {})

    assert list(got.failures) == ["CUT"]
    assert set(got.frame["ticker"]) == {"AAA"}


def test_replay_bom_and_crlf_files_read_like_plain_ones(replay_tmp: Path) -> None:
    """Excel's "CSV UTF-8" (a byte-order mark) and Windows line ends, in both shapes, plain and gzipped."""
    clean = ReplayPrices(replay_tmp).fetch_prices(tickers_frame("AAA", "BBB", "CCC"), {})
    files = [*replay_tmp.glob("yfinance-*/**/AAA.csv*"), *replay_tmp.glob("yfinance-*/**/BBB.csv*")]
    for path in [*files, replay_tmp / "yfinance-download" / "CCC.csv"]:
        text = read_text(path).replace("\n", "\r\n").encode()
        path.write_bytes(gzip.compress(b"\xef\xbb\xbf" + text) if path.suffix == ".gz" else b"\xef\xbb\xbf" + text)

    got = ReplayPrices(replay_tmp).fetch_prices(tickers_frame("AAA", "BBB", "CCC"), {})

    assert got.failures == {}
    assert got.frame.equals(clean.frame)


def test_replay_file_with_a_header_and_no_rows_is_a_named_failure(replay_tmp: Path) -> None:
    """An empty frame recorded for one ticker fails that ticker, named, like Yahoo's empty answer live."""
    (replay_tmp / "yfinance-history" / "GroupA" / "EMPTY.csv").write_text(HISTORY_HEADER + "\n")

    got = ReplayPrices(replay_tmp).fetch_prices(tickers_frame("AAA", "EMPTY"), {})

    assert list(got.failures) == ["EMPTY"]
    assert "EMPTY.csv" in got.failures["EMPTY"] and "no rows" in got.failures["EMPTY"]
    assert set(got.frame["ticker"]) == {"AAA"}


def test_replay_start_dates_clip_rows(replay_tmp: Path) -> None:
    starts = {"AAA": date(2024, 1, 3), "BBB": date(2024, 3, 31), "CCC": None}

    got = ReplayPrices(replay_tmp).fetch_prices(tickers_frame("AAA", "BBB", "CCC"), starts)

    dates = {t: sorted(g["trade_date"].to_list()) for (t,), g in got.frame.group_by("ticker")}
    assert dates["AAA"] == [date(2024, 1, 3), date(2024, 1, 4)]
    assert dates["BBB"] == [date(2024, 3, 31), date(2024, 4, 1)]
    assert dates["CCC"] == [date(2024, 5, 2), date(2024, 5, 3)]


# ---------------------------------------------------------------- ReplayPrices: reading what was appended


def _day(d: date, close: float) -> str:
    return f"{d.isoformat()} 00:00:00-04:00,{close},{close + 1},{close - 1},{close},100,0.0,0.0\n"


@pytest.fixture()
def growing(tmp_path: Path) -> Path:
    """Two history files (the bulk reader needs two of a header) of ten days each, gzipped."""
    folder = tmp_path / "yfinance-history" / "G"
    folder.mkdir(parents=True)
    for i, ticker in enumerate(("AAA", "BBB")):
        days = "".join(_day(date(2024, 6, 3) + timedelta(days=k), 10.0 + i + k) for k in range(10))
        (folder / f"{ticker}.csv.gz").write_bytes(gzip.compress((HISTORY_HEADER + "\n" + days).encode()))
    return tmp_path


def _marks(fetch: PriceFetch) -> dict[str, FileMark]:
    return {path: FileMark(size, digest) for _, path, size, digest in fetch.files.iter_rows()}


NY = pl.DataFrame({"ticker": ["AAA", "BBB"], "calendar": ["XNYS", "XNYS"]})
WINDOW = {"AAA": date(2024, 6, 9), "BBB": date(2024, 6, 9)}  # the last held day, 2024-06-12, minus a few


def test_replay_marks_every_file_it_reads(growing: Path) -> None:
    got = ReplayPrices(growing).fetch_prices(NY, {})

    sizes = {p.relative_to(growing).as_posix(): p.stat().st_size for p in growing.rglob("*.csv.gz")}
    assert {path: mark.size for path, mark in _marks(got).items()} == sizes
    assert sorted(got.files["ticker"].to_list()) == ["AAA", "BBB"]
    assert got.unchanged == []


def test_replay_grown_file_is_read_from_its_old_end(growing: Path) -> None:
    """A day appended as a gzip member: only the appended line is parsed, exactly as a whole read parses it."""
    replay = ReplayPrices(growing)
    marks = _marks(replay.fetch_prices(NY, {}))
    path = growing / "yfinance-history" / "G" / "AAA.csv.gz"
    path.write_bytes(path.read_bytes() + gzip.compress(_day(date(2024, 6, 13), 99.0).encode()))

    got = replay.fetch_prices(NY, WINDOW, marks)

    assert got.failures == {}
    assert got.frame["trade_date"].to_list() == [date(2024, 6, 13)]  # the window's old rows are not re-read
    assert got.frame["close"].to_list() == [99.0]
    assert got.unchanged == ["BBB"]
    assert _marks(got)["yfinance-history/G/AAA.csv.gz"].size == path.stat().st_size
    whole = replay.fetch_prices(NY, WINDOW)  # no marks: the file decompressed whole, clipped to the window
    assert got.frame.equals(whole.frame.filter(pl.col("trade_date") == date(2024, 6, 13)))


def test_replay_unchanged_file_gives_no_rows_and_keeps_its_mark(growing: Path) -> None:
    replay = ReplayPrices(growing)
    first = replay.fetch_prices(NY, {})

    got = replay.fetch_prices(NY, WINDOW, _marks(first))

    assert got.frame.is_empty()
    assert got.failures == {}
    assert got.unchanged == ["AAA", "BBB"]
    assert _marks(got) == _marks(first)


def test_replay_full_load_ignores_marks(growing: Path) -> None:
    replay = ReplayPrices(growing)
    marks = _marks(replay.fetch_prices(NY, {}))

    got = replay.fetch_prices(NY, {}, marks)

    assert got.frame.height == 20
    assert got.unchanged == []


@pytest.mark.parametrize(
    "change",
    ["rewritten", "truncated", "same_size_other_bytes", "shrunk_then_grown"],
)
def test_replay_file_changed_otherwise_is_read_whole(growing: Path, change: str) -> None:
    """A file whose old bytes are not intact is read whole from the ticker's start, as without a mark."""
    replay = ReplayPrices(growing)
    marks = _marks(replay.fetch_prices(NY, {}))
    path = growing / "yfinance-history" / "G" / "AAA.csv.gz"
    text = gzip.decompress(path.read_bytes()).decode()
    revised = text.replace(_day(date(2024, 6, 11), 18.0), _day(date(2024, 6, 11), 18.5))
    assert revised != text
    if change == "rewritten":  # a recorder that rewrites the file: one revised day, one new day
        path.write_bytes(gzip.compress((revised + _day(date(2024, 6, 13), 99.0)).encode()))
    elif change == "truncated":  # the last two days cut off
        path.write_bytes(gzip.compress("".join(text.splitlines(keepends=True)[:-2]).encode()))
    elif change == "same_size_other_bytes":
        data = bytearray(path.read_bytes())
        data[4:8] = b"\x01\x02\x03\x04"  # the gzip header's time stamp: same size and rows, other bytes
        path.write_bytes(bytes(data))
    else:  # cut, then appended to past the old size: the old bytes are not what was read
        lines = text.splitlines(keepends=True)
        tail = gzip.compress(("".join(lines[-1:]) * 40).encode())
        path.write_bytes(gzip.compress("".join(lines[:-1]).encode()) + tail)
    assert path.stat().st_size != marks["yfinance-history/G/AAA.csv.gz"].size or change == "same_size_other_bytes"

    got = replay.fetch_prices(NY, WINDOW, marks)
    whole = replay.fetch_prices(NY, WINDOW)

    aaa = got.frame.filter(pl.col("ticker") == "AAA")
    assert aaa.height > 0 and aaa.equals(whole.frame.filter(pl.col("ticker") == "AAA"))
    assert got.unchanged == ["BBB"]
    if change == "rewritten":
        assert aaa.filter(pl.col("trade_date") == date(2024, 6, 11))["close"].to_list() == [18.5]


def test_replay_garbage_appended_is_a_named_failure(growing: Path) -> None:
    replay = ReplayPrices(growing)
    marks = _marks(replay.fetch_prices(NY, {}))
    path = growing / "yfinance-history" / "G" / "AAA.csv.gz"
    path.write_bytes(path.read_bytes() + b"not gzip at all")

    got = replay.fetch_prices(NY, WINDOW, marks)

    assert list(got.failures) == ["AAA"]
    assert "yfinance-history/G/AAA.csv.gz" in got.failures["AAA"]
    assert "AAA" not in got.files["ticker"].to_list()


def test_replay_plain_csv_grown_by_lines(growing: Path) -> None:
    """Uncompressed files grow by lines: read from the old end too."""
    for path in (growing / "yfinance-history" / "G").glob("*.csv.gz"):
        path.with_suffix("").write_bytes(gzip.decompress(path.read_bytes()))
        path.unlink()
    replay = ReplayPrices(growing)
    marks = _marks(replay.fetch_prices(NY, {}))
    path = growing / "yfinance-history" / "G" / "BBB.csv"
    path.write_text(path.read_text() + _day(date(2024, 6, 13), 77.0))

    got = replay.fetch_prices(NY, WINDOW, marks)

    assert got.frame.select("ticker", "trade_date", "close").rows() == [("BBB", date(2024, 6, 13), 77.0)]
    assert got.unchanged == ["AAA"]


def test_replay_dir_must_exist(tmp_path: Path) -> None:
    with pytest.raises(SourceConfigError, match="CHINATECH_REPLAY_DIR"):
        ReplayPrices(tmp_path / "absent")


def instruments(*rows: tuple[str, str]) -> pl.DataFrame:
    """Instrument rows as the assets pass them: ticker and exchange calendar."""
    return pl.DataFrame({"ticker": [t for t, _ in rows], "calendar": [c for _, c in rows]})


def test_replay_converts_stamps_to_the_exchange_time_zone(replay_tmp: Path) -> None:
    """A Hong Kong row written in New York time lands on its Hong Kong day, not a day early."""
    (replay_tmp / "yfinance-history" / "GroupA" / "HKX.csv").write_text(
        HISTORY_HEADER
        + "\n2025-09-16 00:00:00+08:00,112.4,114.4,111.7,113.2,20445842,0.0,0.0"
        + "\n2025-09-16T11:00:00-05:00,121.0,135.4,120.2,131.0,68712957,0.0,0.0\n"
    )
    got = ReplayPrices(replay_tmp).fetch_prices(instruments(("HKX", "XHKG"), ("BBB", "24/5")), {})

    assert got.failures == {} and got.conflicts.is_empty()
    hk = got.frame.filter(pl.col("ticker") == "HKX")
    assert hk.select("trade_date", "close").rows() == [(date(2025, 9, 16), 113.2), (date(2025, 9, 17), 131.0)]
    # FX: no exchange, Yahoo's own London stamp keeps its date (the BST bar of 2024-03-31)
    fx = got.frame.filter((pl.col("ticker") == "BBB") & (pl.col("shape") == "history"))
    assert fx["trade_date"].to_list() == [date(2024, 3, 29), date(2024, 3, 31)]


def test_replay_unknown_calendar_is_a_named_failure(replay_tmp: Path) -> None:
    got = ReplayPrices(replay_tmp).fetch_prices(instruments(("AAA", "XHKG"), ("CCC", "NOPE")), {})
    assert list(got.failures) == ["CCC"] and "NOPE" in got.failures["CCC"]
    assert set(got.frame["ticker"]) == {"AAA"}


def test_replay_conflicting_duplicate_is_reported(replay_tmp: Path) -> None:
    (replay_tmp / "yfinance-history" / "GroupA" / "DUP.csv").write_text(
        HISTORY_HEADER
        + "\n2024-01-02 00:00:00+08:00,10,11,9,10.5,100,0.0,0.0"
        + "\n2024-01-03 00:00:00+08:00,11,12,10,11.5,100,0.0,0.0"
        + "\n2024-01-02 00:00:00+08:00,10,11,9,10.5,100,0.0,0.0"  # exact copy: silent
        + "\n2024-01-03 00:00:00+08:00,11,12,10,11.9,120,0.0,0.0\n"  # revision: kept, old one reported
    )
    got = ReplayPrices(replay_tmp).fetch_prices(instruments(("DUP", "XHKG"), ("AAA", "XHKG")), {})

    dup = got.frame.filter(pl.col("ticker") == "DUP")
    assert dup.select("trade_date", "close").rows() == [(date(2024, 1, 2), 10.5), (date(2024, 1, 3), 11.9)]
    assert got.conflicts.schema == pl.Schema(REJECTED_SCHEMA)
    assert got.conflicts.select("ticker", "trade_date", "source", "shape", "reason").rows() == [
        ("DUP", date(2024, 1, 3), "replay", "history", "conflicting_duplicate")
    ]
    assert json.loads(got.conflicts["row_json"][0])["close"] == 11.5
    # outside the load window the conflict is not this load's business
    later = ReplayPrices(replay_tmp).fetch_prices(instruments(("DUP", "XHKG")), {"DUP": date(2024, 1, 4)})
    assert later.conflicts.is_empty()


def test_replay_schema_drift_fails_that_ticker_only(replay_tmp: Path) -> None:
    (replay_tmp / "yfinance-history" / "GroupA" / "NOVOL.csv").write_text(
        "Date,Open,High,Low,Close,Dividends,Stock Splits\n2024-01-02 00:00:00+08:00,10,11,9,10.5,0.0,0.0\n"
    )
    got = ReplayPrices(replay_tmp).fetch_prices(instruments(("NOVOL", "XHKG"), ("AAA", "XHKG")), {})

    assert got.failures == {
        "NOVOL": "yfinance-history/GroupA/NOVOL.csv: schema drift: missing column Volume; columns are "
        "['Date', 'Open', 'High', 'Low', 'Close', 'Dividends', 'Stock Splits']"
    }
    assert set(got.frame["ticker"]) == {"AAA"}


def test_replay_download_basis_follows_history_file_whatever_the_window(replay_tmp: Path) -> None:
    """BBB's history has no Adj Close: its download rows go onto split_dividend_adjusted, even
    in a load window holding no history row (this used to depend on the window)."""
    (replay_tmp / "yfinance-download" / "BBB.csv.gz").write_bytes(
        gzip.compress((DOWNLOAD_HEADER.format(t="BBB") + "2024-04-01,7.0,7.3,7.4,7.2,7.25,0\n").encode())
    )
    universe = load_universe().filter(pl.col("ticker") == "CNY=X").with_columns(pl.lit("BBB").alias("ticker"))
    source = ReplayPrices(replay_tmp)
    whole = source.fetch_prices(instruments(("BBB", "24/5")), {})
    window = source.fetch_prices(instruments(("BBB", "24/5")), {"BBB": date(2024, 4, 1)})

    down = whole.frame.filter(pl.col("shape") == "download").row(0, named=True)
    assert down["close"] == pytest.approx(7.0) and down["adj_close"] is None
    assert down["open"] == pytest.approx(7.25 * 7.0 / 7.3)
    core_whole, _, _ = build_core(whole.frame, universe, today=date(2026, 8, 21))
    core_window, _, _ = build_core(window.frame, universe, today=date(2026, 8, 21))
    assert set(core_whole["price_basis"]) == {SPLIT_DIVIDEND_ADJUSTED}
    assert core_window.equals(core_whole.filter(pl.col("trade_date") >= date(2024, 4, 1)))
    # a ticker with only a download file keeps its Adj Close and split_adjusted basis
    ccc = source.fetch_prices(instruments(("CCC", "XNYS")), {}).frame
    assert ccc["adj_close"].to_list() == [50.0, 51.0]


# ---------------------------------------------------------------- ReplayPrices on the recorded data


def data_lines(path: Path, header_rows: int) -> int:
    return sum(1 for line in read_text(path).splitlines()[header_rows:] if line.strip())


@pytest.fixture(scope="module")
def recorded_fetch(request: pytest.FixtureRequest) -> tuple[Path, PriceFetch]:
    replay_dir: Path = request.getfixturevalue("replay_dir")
    files = sorted((replay_dir / "yfinance-history").glob("*/*.csv*")) + sorted(
        (replay_dir / "yfinance-download").glob("*.csv*")
    )
    tickers = sorted({p.name.removesuffix(".gz").removesuffix(".csv") for p in files})
    return replay_dir, ReplayPrices(replay_dir).fetch_prices(
        load_universe().filter(pl.col("ticker").is_in(tickers)), {}
    )


@pytest.mark.replay
def test_recorded_files_load_row_for_row(recorded_fetch: tuple[Path, PriceFetch]) -> None:
    replay_dir, got = recorded_fetch
    assert got.failures == {}
    counts = {(t, s): n for t, s, n in got.frame.group_by("ticker", "shape").len().rows()}
    expected = {}
    for path in sorted((replay_dir / "yfinance-history").glob("*/*.csv*")):
        expected[(path.name.removesuffix(".gz").removesuffix(".csv"), "history")] = data_lines(path, 1)
    for path in sorted((replay_dir / "yfinance-download").glob("*.csv*")):
        expected[(path.name.removesuffix(".gz").removesuffix(".csv"), "download")] = data_lines(path, 3)
    assert len(expected) >= 40
    assert counts == expected  # no duplicate dates in the recordings, so nothing dropped
    assert got.conflicts.is_empty()
    assert got.frame["close"].null_count() == 0


@pytest.mark.replay
def test_recorded_known_values(recorded_fetch: tuple[Path, PriceFetch]) -> None:
    _, got = recorded_fetch
    frame = got.frame

    def close(ticker: str, shape: str, day: date) -> float:
        hit = frame.filter((pl.col("ticker") == ticker) & (pl.col("shape") == shape) & (pl.col("trade_date") == day))
        assert hit.height == 1, (ticker, shape, day)
        return hit["close"][0]

    assert close("9888.HK", "history", date(2025, 9, 16)) == pytest.approx(113.2)
    assert close("9888.HK", "history", date(2025, 9, 17)) == pytest.approx(131.0)
    assert close("^NDX", "download", date(2025, 9, 17)) == pytest.approx(24223.69, abs=0.01)
    assert close("^NDX", "download", date(2024, 12, 31)) == pytest.approx(21012.17, abs=0.01)
    assert set(frame.filter(pl.col("ticker") == "CNY=X")["shape"]) == {"history", "download"}
    # history shape carries no Adj Close; the download shape does, unless the ticker's history
    # file has dividends folded in (CNY=X): then its download rows are put on that basis
    assert frame.filter(pl.col("ticker") == "9888.HK")["adj_close"].is_null().all()
    assert frame.filter(pl.col("ticker") == "^NDX")["adj_close"].null_count() == 0
    assert frame.filter(pl.col("ticker") == "CNY=X")["adj_close"].is_null().all()


@pytest.mark.replay
def test_recorded_trade_dates_are_exchange_sessions(recorded_fetch: tuple[Path, PriceFetch]) -> None:
    """Measured: no recorded row moves date in its exchange time zone, no weekend bar on an
    exchange; 211 weekday bars on closed days (210 flat zero-volume Hong Kong fillers, ^VIX on
    Memorial Day 2026) are kept and flagged; the two FX Saturday bars are rejected."""
    _, got = recorded_fetch
    assert (got.frame["trade_date"] == got.frame["source_date"].str.slice(0, 10).str.to_date()).all()
    core, rejected, anomalies = build_core(got.frame, load_universe(), today=date(2026, 8, 21))
    assert rejected.select("ticker", "reason").rows() == [("CNY=X", "weekend_fx_bar"), ("HKD=X", "weekend_fx_bar")]
    flags = anomalies.filter(pl.col("kind") == "non_session_day")
    assert flags.height == 211
    assert flags.filter(pl.col("detail").str.contains("filler")).height == 210
    assert core.height == got.frame.select("ticker", "trade_date").unique().height - 2


@pytest.mark.replay
def test_recorded_cny_basis_and_values_do_not_depend_on_the_window(replay_dir: Path) -> None:
    universe = load_universe()
    cny = universe.filter(pl.col("ticker") == "CNY=X")
    source = ReplayPrices(replay_dir)
    today = date(2026, 8, 21)
    whole, _, _ = build_core(source.fetch_prices(cny, {}).frame, universe, today=today)
    for start in (date(2024, 12, 1), date(2025, 1, 1), date(2026, 2, 1)):
        part, _, _ = build_core(source.fetch_prices(cny, {"CNY=X": start}).frame, universe, today=today)
        assert part.equals(whole.filter(pl.col("trade_date") >= start)), start
    assert set(whole["price_basis"]) == {SPLIT_DIVIDEND_ADJUSTED}
    ndx, _, _ = build_core(source.fetch_prices(universe.filter(pl.col("ticker") == "^NDX"), {}).frame, universe)
    assert set(ndx["price_basis"]) == {SPLIT_ADJUSTED}


@pytest.mark.replay
def test_recorded_replay_with_start_clips(replay_dir: Path) -> None:
    start = date(2025, 9, 17)
    got = ReplayPrices(replay_dir).fetch_prices(tickers_frame("9888.HK", "^NDX"), {"9888.HK": start, "^NDX": None})
    hk = got.frame.filter(pl.col("ticker") == "9888.HK")
    assert hk["trade_date"].min() == start
    assert got.frame.filter(pl.col("ticker") == "^NDX")["trade_date"].min() < date(1990, 1, 1)


# ---------------------------------------------------------------- SamplePrices


@pytest.fixture(scope="module")
def universe() -> pl.DataFrame:
    return load_universe()


@pytest.fixture(scope="module")
def sample(universe: pl.DataFrame) -> pl.DataFrame:
    return SamplePrices().fetch_prices(universe, {}).frame


def test_sample_is_deterministic(universe: pl.DataFrame, sample: pl.DataFrame) -> None:
    few = universe.filter(pl.col("ticker").is_in(["0700.HK", "AAPL", "CNY=X"]))
    again = SamplePrices().fetch_prices(few, {})
    assert again.failures == {}
    assert again.frame.equals(sample.filter(pl.col("ticker").is_in(["0700.HK", "AAPL", "CNY=X"])))
    assert SamplePrices().fetch_prices(few, {}).frame.equals(again.frame)


def test_sample_rows_and_schema(universe: pl.DataFrame, sample: pl.DataFrame) -> None:
    assert sample.schema == pl.Schema(RAW_PRICES_SCHEMA)
    assert set(sample["source"]) == {"sample"}
    assert set(sample["ticker"]) == set(universe["ticker"])
    assert sample.select("ticker", "trade_date").is_duplicated().sum() == 0
    assert sample["trade_date"].min() >= SAMPLE_START and sample["trade_date"].max() <= SAMPLE_END
    assert (sample["close"] > 0).all() and (sample["low"] > 0).all()
    assert (sample["high"] >= sample["close"]).all() and (sample["low"] <= sample["open"]).all()


def test_sample_follows_exchange_calendars(universe: pl.DataFrame, sample: pl.DataFrame) -> None:
    cal = dict(universe.select("ticker", "calendar").rows())
    exchange = sample.filter(pl.col("ticker").replace_strict(cal, default=None).is_in(["XHKG", "XNYS"]))
    assert exchange.height > 0
    assert exchange.filter(pl.col("trade_date").dt.weekday() >= 6).is_empty()
    hk = sample.filter(pl.col("ticker") == "0700.HK")["trade_date"].to_list()
    assert date(2024, 2, 12) not in hk and date(2024, 2, 13) not in hk  # Lunar New Year
    assert date(2024, 2, 9) in hk and date(2024, 2, 14) in hk
    us = sample.filter(pl.col("ticker") == "AAPL")["trade_date"].to_list()
    assert date(2024, 7, 4) not in us and date(2024, 12, 25) not in us
    assert date(2024, 2, 12) in us  # a normal Monday in New York
    # one row per session: HK and US calendars differ
    assert len(hk) != len(us)
    assert len(hk) == len(set(hk))


def test_sample_split_day_has_the_action_but_no_jump(universe: pl.DataFrame, sample: pl.DataFrame) -> None:
    # Yahoo serves OHLC split-adjusted in both modes: the split day only carries the action
    splits = sample.filter(pl.col("stock_splits") > 0)
    assert splits.height >= 1
    expected_split = {
        t
        for t, g in universe.select("ticker", "group").rows()
        if g in ("hstech", "adr", "us_bigtech") and ticker_seed(t) % 5 == 0
    }
    assert set(splits["ticker"]) == expected_split
    assert set(splits["stock_splits"]) <= {2.0, 4.0, 10.0}
    for ticker, day, ratio in splits.select("ticker", "trade_date", "stock_splits").rows():
        rows = sample.filter(pl.col("ticker") == ticker).sort("trade_date")
        i = rows["trade_date"].to_list().index(day)
        prev, cur = rows.row(i - 1, named=True), rows.row(i, named=True)
        close_move = cur["close"] / prev["close"]
        adj_move = cur["adj_close"] / prev["adj_close"]
        # an ordinary day for both closes, nowhere near 1/ratio
        assert close_move == pytest.approx(adj_move, rel=1e-9), ticker
        assert 0.8 < close_move < 1.25, ticker
        assert abs(close_move * ratio - 1) > 0.5, ticker
        for col in ("open", "high", "low"):
            assert 0.7 < cur[col] / prev[col] < 1.4, (ticker, col)


def test_sample_trips_no_split_or_unit_anomaly(sample: pl.DataFrame) -> None:
    # the anomaly rules expect every series split-adjusted; the sample must look like one
    from assets.transforms.anomalies import split_not_back_adjusted, unit_error, unit_switch, unreported_split

    core = sample.select(
        "ticker",
        "trade_date",
        "close",
        pl.when(pl.col("stock_splits") > 0).then(pl.col("stock_splits")).alias("split_ratio"),
    )
    assert core["split_ratio"].drop_nulls().len() >= 1
    for rule in (unit_error, unit_switch, unreported_split, split_not_back_adjusted):
        assert rule(core).is_empty(), rule.__name__


def test_sample_dividends_for_some_tickers(sample: pl.DataFrame) -> None:
    payers = sample.filter(pl.col("dividends") > 0)
    assert 0 < payers["ticker"].n_unique() < sample["ticker"].n_unique()
    assert payers.group_by("ticker").len()["len"].max() <= 7
    fx = sample.filter(pl.col("ticker").str.ends_with("=X"))
    assert (fx["dividends"] == 0).all() and (fx["stock_splits"] == 0).all()
    # no dividends: Adj Close is the close
    others = sample.filter(~pl.col("ticker").is_in(payers["ticker"].unique().implode()))
    assert (others["adj_close"] == others["close"]).all()


def test_sample_adj_close_takes_out_dividends_before_each_ex_date(sample: pl.DataFrame) -> None:
    payers = sample.filter(pl.col("dividends") > 0)["ticker"].unique().sort()
    for ticker in payers.head(3):
        rows = sample.filter(pl.col("ticker") == ticker).sort("trade_date")
        ex = rows.with_row_index("i").filter(pl.col("dividends") > 0)
        first, last = ex["trade_date"].min(), ex["trade_date"].max()
        before = rows.filter(pl.col("trade_date") < last)
        assert (before["adj_close"] < before["close"]).all(), ticker
        after = rows.filter(pl.col("trade_date") >= last)
        assert after["adj_close"].to_list() == pytest.approx(after["close"].to_list(), rel=1e-12), ticker
        # the adjustment is largest before the first ex-date: one factor per later dividend
        ratio = rows.select((pl.col("adj_close") / pl.col("close")).alias("r"), "trade_date")
        assert (
            ratio.filter(pl.col("trade_date") < first)["r"].max()
            < ratio.filter(pl.col("trade_date") >= first)["r"].min()
        ), ticker
        # Yahoo's factor: on the ex-date Adj Close moves by close / (previous close - dividend)
        for i, div in ex.select("i", "dividends").rows():
            prev, cur = rows.row(i - 1, named=True), rows.row(i, named=True)
            assert cur["adj_close"] / prev["adj_close"] == pytest.approx(
                cur["close"] / (prev["close"] - div), rel=1e-9
            ), ticker


def test_sample_clips_to_starts(universe: pl.DataFrame) -> None:
    few = universe.filter(pl.col("ticker").is_in(["0700.HK", "AAPL"]))
    got = SamplePrices().fetch_prices(few, {"0700.HK": date(2026, 8, 1), "AAPL": None}).frame
    assert got.filter(pl.col("ticker") == "0700.HK")["trade_date"].min() >= date(2026, 8, 1)
    assert got.filter(pl.col("ticker") == "AAPL")["trade_date"].min() == date(2019, 1, 2)


# ---------------------------------------------------------------- YahooPrices through yfinance's code


@pytest.fixture()
def fake_chart(yf_state, replay_dir: Path):
    """Recorded BABA and EURUSD=X charts through yfinance's own HTTP code; other symbols get a 404."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield Yahoo(rsps, {symbol: recorded_chart(replay_dir, symbol) for symbol in ("BABA", "EURUSD=X")})
    forget_cookie()  # yfinance keeps the served A3 cookie process-wide: later tests expect a first run


def yahoo() -> YahooPrices:
    """The production adapter as built by default (its own requests.Session), minus the waiting."""
    return YahooPrices(requests_per_second=10_000, sleep=lambda s: None, attempts=2)


START = date(2020, 1, 1)
EUR_CLOSES = [1.1220825910568237, 1.1220825910568237, 1.1171437501907349]


@pytest.mark.replay
def test_yahoo_batch_download_parses_recorded_charts(fake_chart: Yahoo) -> None:
    got = yahoo().fetch_prices(tickers_frame("BABA", "EURUSD=X"), {"BABA": START, "EURUSD=X": START})

    assert got.failures == {}
    assert got.frame.schema == pl.Schema(RAW_PRICES_SCHEMA)
    baba = got.frame.filter(pl.col("ticker") == "BABA")
    assert baba["trade_date"].to_list() == [date(2020, 1, 2)]
    assert baba["close"].to_list() == pytest.approx([219.77000427246094])
    assert baba["adj_close"].to_list() == pytest.approx([212.24212646484375])  # raw + adjusted (auto_adjust=False)
    assert baba["open"].to_list() == pytest.approx([216.60000610351562])
    assert baba["volume"].to_list() == [15873500.0]
    assert baba["dividends"].to_list() == [0.0] and baba["stock_splits"].to_list() == [0.0]
    eur = got.frame.filter(pl.col("ticker") == "EURUSD=X")
    # FX bars at 00:00 London: 2020-01-01..03 as Yahoo stamped them
    assert eur["trade_date"].to_list() == [date(2020, 1, 1), date(2020, 1, 2), date(2020, 1, 3)]
    assert eur["close"].to_list() == pytest.approx(EUR_CLOSES)
    assert set(got.frame["source"]) == {"live"} and set(got.frame["shape"]) == {"history"}
    assert {"BABA", "EURUSD=X"} <= {symbol for symbol, _, _ in fake_chart.hits}


@pytest.mark.replay
def test_yahoo_single_ticker_whole_history(fake_chart: Yahoo) -> None:
    got = yahoo().fetch_prices(tickers_frame("EURUSD=X"), {"EURUSD=X": None})
    assert got.failures == {}
    assert got.frame["close"].to_list() == pytest.approx(EUR_CLOSES)
    periods = [c.request.url for c in fake_chart.rsps.calls if "/chart/EURUSD" in c.request.url]
    assert any("period1=" in u and "range=1d" not in u for u in periods)


@pytest.mark.replay
def test_yahoo_ticker_history_keeps_exchange_offset(fake_chart: Yahoo) -> None:
    """Ticker.history (the one-by-one path) keeps tz-aware stamps; the date stays as written."""
    src = yahoo()
    baba = src._history("BABA", START)
    eur = src._history("EURUSD=X", START)

    assert baba["source_date"].to_list() == ["2020-01-02 00:00:00-05:00"]
    assert baba["trade_date"].to_list() == [date(2020, 1, 2)]
    assert baba["close"].to_list() == pytest.approx([219.77000427246094])
    assert eur["source_date"][0] == "2020-01-01 00:00:00+00:00"
    assert eur["close"].to_list() == pytest.approx(EUR_CLOSES)


@pytest.mark.replay
def test_yahoo_empty_chart_for_one_ticker_is_a_named_failure(fake_chart: Yahoo) -> None:
    empty = copy.deepcopy(fake_chart.charts["BABA"])
    result = empty["chart"]["result"][0]
    result["meta"]["symbol"] = "GONE"
    del result["timestamp"]
    result["indicators"] = {"quote": [{}], "adjclose": [{}]}
    fake_chart.charts["GONE"] = empty

    got = yahoo().fetch_prices(tickers_frame("BABA", "GONE"), {"BABA": START, "GONE": START})

    assert set(got.frame["ticker"]) == {"BABA"}
    assert got.frame["close"].to_list() == pytest.approx([219.77000427246094])
    assert list(got.failures) == ["GONE"]
    assert "GONE" in got.failures["GONE"] or "no price data" in got.failures["GONE"]


@pytest.mark.replay
def test_yahoo_404_ticker_is_a_named_failure(fake_chart: Yahoo) -> None:
    got = yahoo().fetch_prices(tickers_frame("BABA", "NOPE"), {"BABA": START, "NOPE": START})

    assert set(got.frame["ticker"]) == {"BABA"}
    assert list(got.failures) == ["NOPE"]


def test_http_errors_are_not_connection_errors() -> None:
    response = requests.Response()
    response.status_code = 404
    assert not is_unreachable(requests.exceptions.HTTPError("404 Client Error", response=response))


def test_connection_errors_are_connection_errors() -> None:
    assert is_unreachable(requests.exceptions.ConnectionError("refused"))
    assert is_unreachable(ConnectionRefusedError())
    assert not is_unreachable(ValueError("bad"))


def test_yahoo_network_down_is_source_unavailable_quickly(yf_state) -> None:
    slept: list[float] = []
    src = YahooPrices(requests_per_second=10_000, sleep=slept.append)
    started = time.monotonic()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        # nothing registered: every request is refused like a dead network
        with pytest.raises(SourceUnavailable) as err:
            src.fetch_prices(tickers_frame("BABA", "0700.HK"), {"BABA": None, "0700.HK": None})
        urls = [c.request.url for c in rsps.calls]
    assert time.monotonic() - started < 10
    assert "BABA" in str(err.value) and "0700.HK" in str(err.value)
    assert "replay" in str(err.value)  # says how to run offline
    assert PROBE_URL in urls
    assert slept == []


def test_yahoo_buckets_by_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """One download per start-date bucket; a new ticker takes the whole history (period=max)."""
    import pandas as pd
    import yfinance as yf

    calls: list[tuple[list[str], dict]] = []

    def fake_download(tickers: list[str], **kwargs: object) -> pd.DataFrame:
        calls.append((list(tickers), kwargs))
        idx = pd.DatetimeIndex(["2024-01-02"], name="Date")
        cols = pd.MultiIndex.from_product([tickers, ["Open", "High", "Low", "Close", "Adj Close", "Volume"]])
        return pd.DataFrame([[1.0, 2.0, 0.5, 1.5, 1.4, 10.0] * len(tickers)], index=idx, columns=cols)

    monkeypatch.setattr(yf, "download", fake_download)
    start = date.today() - timedelta(days=5)
    got = yahoo().fetch_prices(tickers_frame("A", "B", "C"), {"A": start, "B": None, "C": start})

    assert got.failures == {}
    assert sorted(got.frame["ticker"].to_list()) == ["A", "B", "C"]
    by_batch = {tuple(t): kw for t, kw in calls}
    assert by_batch[("A", "C")]["start"] == start.isoformat() and "end" in by_batch[("A", "C")]
    assert by_batch[("B",)]["period"] == "max" and "end" not in by_batch[("B",)]
    assert all(kw["auto_adjust"] is False and kw["actions"] is True for kw in by_batch.values())


@pytest.mark.parametrize("gzipped", [True, False])
@pytest.mark.parametrize("width", [40, HEAD_BYTES + 500])  # a usual header; one longer than the first block
def test_header_is_the_first_line_of_the_file(tmp_path: Path, gzipped: bool, width: int) -> None:
    head = "Date," + ",".join(f"c{i}" for i in range(width))[: width - 5]
    text = f"{head}\n2024-01-02 00:00:00-05:00,1.0\n".encode()
    path = tmp_path / ("p.csv.gz" if gzipped else "p.csv")
    path.write_bytes(gzip.compress(text) if gzipped else text)
    assert header(path) == head
    opener = gzip.open if gzipped else open
    with opener(path, "rt") as fh:
        assert header(path) == fh.readline().strip()  # what the per-file reader sees


def test_header_of_a_file_that_is_not_gzip_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "p.csv.gz"
    path.write_bytes(b"Date,Close\n2024-01-02,1.0\n")
    with pytest.raises((OSError, zlib.error)):
        header(path)
