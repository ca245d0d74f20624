"""The fault matrix (issue 9): every fault a test, through the real asset path, compared by content.

Each case snapshots the tables it can touch, applies the fault, runs the real assets (or the
CLI, as a process) and compares table contents after: unchanged, or exactly the expected update;
no row lost, none duplicated. The replay cases copy one clean warehouse, built once from three
recorded files (the 9888.HK and 9618.HK histories and the ^NDX download), and break 9888.HK or
^NDX; the others must come out as a clean load leaves them. README "Fault matrix" has the table.

Case -> what it yields -> test (in this module unless a path is given):

- network down -> the step fails at once ("unreachable"), nothing written -> test_live_network_down
- timeout -> retried with backoff, then that ticker fails, named; the others load
  -> test_live_timeout_fails_one_ticker
- HTTP 429 -> retried with backoff; the load ends as a clean one -> test_live_rate_limit_is_retried;
  a 429 that never ends fails the step (and its retries), nothing written -> test_live_rate_limit_without_end
- empty frame for one ticker -> that ticker fails, named; the others load
  -> test_live_empty_frame_for_one_ticker, test_bad_file_fails_only_its_ticker[empty_frame]
- renamed or missing column -> schema drift: that ticker fails naming file and column
  -> test_bad_file_fails_only_its_ticker[renamed_column, missing_column, download_missing_column]
- truncated or non-gzip file -> that ticker fails naming the file
  -> test_bad_file_fails_only_its_ticker[truncated_gzip, not_gzip]
- BOM, CRLF line ends -> loaded exactly like the clean file, both shapes -> test_bom_and_crlf_load_like_the_clean_file
- 100x unit error or switch, unreported split, split not back-adjusted -> stored as given, flagged
  on its date -> test_bad_rows_in_one_file[unit_error_100x, unit_switch_100x, unreported_split, ...]
- duplicate rows -> an exact copy vanishes; of two versions the later is kept, the other rejected
  and the day flagged -> test_bad_rows_in_one_file[duplicate_exact, duplicate_conflicting]
- NaN price -> rejected with the reason, the good value held is kept -> test_bad_rows_in_one_file[nan_close]
- dates shifted by a time zone -> converted to the exchange's day: the same rows
  -> test_bad_rows_in_one_file[time_zone_shift]
- truncated SEC file -> that filer fails naming the file; its facts and all capex unchanged
  -> test_truncated_sec_file_fails_only_its_filer
- SEC capex in TWD (ISO, no FX series) -> stored in TWD, capex_usd NULL, usd_converted names
  ticker, years, currency -> test_sec_capex_in_a_currency_without_fx
- SEC capex in a unit that is no ISO code (RMB, cny) -> refused, every year listed
  (unknown_currency, check currency_known) -> test_sec_capex_in_a_unit_that_is_no_currency
- DuckDB file locked past the wait -> the step fails (not retried) naming the file and the
  holder's PID, nothing written -> test_locked_warehouse_fails_naming_the_holder; released within the wait
  -> the load completes -> test_lock_released_within_the_wait
- read-only file or folder -> refused at run start naming the file, nothing written
  -> test_read_only_warehouse_is_refused_at_start
- SIGKILL mid-write -> the write rolled back: the warehouse as before but for steps finished
  before the kill; the next run frees the dead run's pool slot, marks it failed, completes
  -> test_sigkill_mid_write_then_the_next_run_completes;
  a slot held by a live run is named and waited for with a bound -> tests/unit/test_runs.py
- the same load twice -> identical tables, one more load logged per asset -> test_same_load_twice
- unknown ticker, SQL in a ticker -> refused naming it (CLI: before a run; run scope: at run start), nothing written
  -> test_unknown_ticker_is_refused_by_the_cli, test_unknown_ticker_in_run_config;
  no SQL text is built from a ticker -> test_no_ticker_is_formatted_into_sql

Also at unit level: tests/unit/test_yahoo_retry.py (429 and timeout counts, backoff),
tests/unit/test_sec.py (SEC 429, timeouts, connection errors), tests/unit/test_anomalies.py
(every anomaly rule); through the asset path elsewhere: test_faults.py (a failed write rolls
back), test_trust.py (blocking checks), test_sample_graph.py (whole graph run twice).
"""

from __future__ import annotations

import ast
import copy
import gzip
import hashlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl
import pytest
import requests
import responses
from polars.testing import assert_frame_equal

from assets.prices import raw_prices_daily
from assets.sources.resource import SourceResource
from assets.sources.yahoo import YahooPrices
from assets.warehouse import PAUSE_AFTER_WRITE
from tests.integration._graph import (
    CAPEX,
    CORE_PRICES,
    FX_DAILY,
    PRICE_ANOMALIES,
    RAW_PRICES,
    RAW_SEC_FACTS,
    copy_warehouse,
    failure_messages,
    materialize,
    replay_source,
)
from tests.yahoo_http import TOO_MANY, Yahoo, forget_cookie, recorded_chart, set_cached_timezone

pytestmark = pytest.mark.replay

REPO = Path(__file__).resolve().parents[2]
HIST = "yfinance-history/HangSengTech/{}.csv.gz"
FILES = {"9888.HK": HIST.format("9888.HK"), "9618.HK": HIST.format("9618.HK"), "^NDX": "yfinance-download/^NDX.csv.gz"}
TICKERS = list(FILES)
FAULTY = "9888.HK"
PRICES = [RAW_PRICES, CORE_PRICES, PRICE_ANOMALIES]
# per-ticker tables of the price path, and the bookkeeping a failed run must not touch either
PRICE_TABLES = ["raw.prices_daily", "core.prices_daily", "dq.price_anomalies", "dq.rejected_prices"]
BOOK_TABLES = ["raw.loads", "dq.check_results", "meta.warehouse", "raw.replay_files"]
SEC_TABLES = ["raw.sec_facts", "core.capex", "dq.capex_issues", "raw.loads", "dq.check_results"]
# when and by which load a row was written: differs between two correct loads of the same data
VOLATILE = {"load_id", "fetched_at", "loaded_at", "detected_at", "rejected_at", "created_at", "path"}
SQL_TICKER = "9888.HK'; DROP TABLE core.prices_daily; --"
RAW_PRICES_OP = raw_prices_daily.op

Tables = dict[str, pl.DataFrame]


# ---------------------------------------------------------------- comparing warehouses


def snapshot(warehouse: Path, names: list[str]) -> Tables:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").pl() for t in names}


def stable(frame: pl.DataFrame) -> pl.DataFrame:
    """The row as data: without when and by which load it was written."""
    return frame.drop([c for c in frame.columns if c in VOLATILE])


def of(frame: pl.DataFrame, tickers: list[str], key: str = "ticker") -> pl.DataFrame:
    return frame.filter(pl.col(key).is_in(tickers))


def same(got: pl.DataFrame, want: pl.DataFrame, what: str) -> None:
    """Equal content, exactly (row order fixed by ORDER BY ALL; NaN equals NaN)."""
    try:
        assert_frame_equal(got, want, check_exact=True)
    except AssertionError as exc:
        raise AssertionError(f"{what}: {exc}") from None


def assert_unchanged(before: Tables, after: Tables) -> None:
    """A refused or failed run: every table exactly as it was, row for row, load ids included."""
    for table, frame in before.items():
        same(after[table], frame, f"{table} (must be unchanged)")


def new_loads(before: Tables, after: Tables) -> pl.DataFrame:
    return after["raw.loads"].join(before["raw.loads"], on=["load_id", "asset"], how="anti")


def assert_updated_like_a_clean_run(
    before: Tables, after: Tables, tickers: list[str], also_differs: tuple[str, ...] = ()
) -> None:
    """``tickers`` were loaded again: their rows hold the same data as a clean load leaves."""
    for table in PRICE_TABLES:
        got, want = stable(of(after[table], tickers)), stable(of(before[table], tickers))
        drop = [c for c in also_differs if c in got.columns]
        same(got.drop(drop), want.drop(drop), f"{table} {tickers}")
    load = new_loads(before, after).filter(pl.col("asset") == "raw.prices_daily")
    assert load.height == 1
    assert set(tickers) <= set(load["tickers"][0])
    reloaded = of(after["raw.prices_daily"], tickers).filter(pl.col("load_id") == load["load_id"][0])
    # a replay file unchanged since the load that read it has nothing new: in the load, no rows (docs/performance.md)
    marks = ["ticker", "path", "size", "digest"]
    unread = set(
        of(after["raw.replay_files"], tickers)
        .select(marks)
        .join(before["raw.replay_files"].select(marks), on=marks, how="semi")["ticker"]
        if "raw.replay_files" in after
        else []
    )
    assert set(reloaded["ticker"]) | unread == set(tickers)  # really fetched again, not merely left alone


def assert_untouched(before: Tables, after: Tables, tickers: list[str]) -> None:
    """``tickers`` failed: their rows are exactly what readers had, load ids included."""
    for table in PRICE_TABLES:
        same(of(after[table], tickers), of(before[table], tickers), f"{table} {tickers} (must be untouched)")


def fetch_failures(result: dg.ExecuteInProcessResult, asset: dg.AssetKey = RAW_PRICES) -> dict[str, str]:
    check = next(
        e for e in result.get_asset_check_evaluations() if e.asset_key == asset and e.check_name == "fetch_failures"
    )
    return check.metadata["failures"].value  # type: ignore[return-value]


def all_errors(result: dg.ExecuteInProcessResult) -> str:
    """Every error message of the run with its causes: step failures and failures before any step."""
    parts = []
    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None)
        while error is not None:
            parts.append(error.message.strip())
            error = error.cause
    return "\n".join(parts)


def check_rows(result: dg.ExecuteInProcessResult, asset: dg.AssetKey, name: str) -> dg.AssetCheckEvaluation:
    return next(e for e in result.get_asset_check_evaluations() if e.asset_key == asset and e.check_name == name)


# ---------------------------------------------------------------- files


def read_text(path: Path) -> str:
    data = path.read_bytes()
    return gzip.decompress(data).decode() if path.suffix == ".gz" else data.decode()


def write_text(path: Path, text: str) -> None:
    path.write_bytes(gzip.compress(text.encode()) if path.suffix == ".gz" else text.encode())


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    lines = read_text(path).splitlines()
    return lines[0].split(","), [line.split(",") for line in lines[1:] if line]


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> None:
    write_text(path, "\n".join([",".join(header), *(",".join(r) for r in rows)]) + "\n")


def copy_files(src: Path, dest: Path, rels: list[str]) -> None:
    for rel in rels:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src / rel, dest / rel)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- the clean warehouse


def prices_run(
    warehouse: Path, folder: Path, tmp: Path, tickers: list[str] = TICKERS, selection: list[Any] = PRICES, **kwargs: Any
) -> dg.ExecuteInProcessResult:
    return materialize(warehouse, replay_source(folder, tmp), selection=selection, tickers=tickers, **kwargs)


@dataclass
class Clean:
    folder: Path  # the three recorded files, never modified
    warehouse: Path  # after one clean load: tests copy it, never write it
    before: Tables
    rerun: Tables  # the same load run a second time on a copy


@pytest.fixture(scope="module")
def clean(replay_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Clean:
    tmp = tmp_path_factory.mktemp("matrix")
    folder = tmp / "replay"
    copy_files(replay_dir, folder, list(FILES.values()))
    warehouse = tmp / "clean.duckdb"
    first = prices_run(warehouse, folder, tmp)
    assert first.success, failure_messages(first)
    again = copy_warehouse(warehouse, tmp / "rerun")
    second = prices_run(again, folder, tmp)
    assert second.success, failure_messages(second)
    names = PRICE_TABLES + BOOK_TABLES
    return Clean(folder, warehouse, snapshot(warehouse, names), snapshot(again, names))


@dataclass
class Case:
    """A private copy of the clean folder and warehouse for one fault."""

    folder: Path
    warehouse: Path
    before: Tables
    tmp: Path

    def file(self, ticker: str) -> Path:
        return self.folder / FILES[ticker]

    def run(self, **kwargs: Any) -> dg.ExecuteInProcessResult:
        return prices_run(self.warehouse, self.folder, self.tmp, **kwargs)

    def after(self) -> Tables:
        return snapshot(self.warehouse, list(self.before))


@pytest.fixture()
def case(clean: Clean, tmp_path: Path) -> Case:
    folder = tmp_path / "replay"
    shutil.copytree(clean.folder, folder)
    return Case(folder, copy_warehouse(clean.warehouse, tmp_path / "wh"), clean.before, tmp_path)


def test_same_load_twice(clean):
    """Run twice on unchanged files: every table holds the same rows; each asset logged one more load."""
    for table in [*PRICE_TABLES, "meta.warehouse"]:
        same(stable(clean.rerun[table]), stable(clean.before[table]), table)
    loads = new_loads(clean.before, clean.rerun)
    assert sorted(loads["asset"]) == ["core.prices_daily", "raw.prices_daily"]
    assert clean.rerun["raw.loads"].height == 2 * clean.before["raw.loads"].height
    # the same checks were recorded again for the second load (outcomes judge each load's own rows)
    checks = ["asset", "check_name", "severity"]
    first = clean.before["dq.check_results"].select(checks).sort(checks)
    both = clean.rerun["dq.check_results"].select(checks).sort(checks)
    same(both, pl.concat([first, first]).sort(checks), "dq.check_results")


# ---------------------------------------------------------------- live: Yahoo over HTTP


def bidu_chart(baba: dict) -> dict:
    """BIDU's answer: BABA's recorded chart under another symbol, at other prices."""
    body = copy.deepcopy(baba)
    result = body["chart"]["result"][0]
    result["meta"]["symbol"] = "BIDU"
    quote = result["indicators"]["quote"][0]
    for col in ("open", "high", "low", "close"):
        quote[col] = [v / 2 for v in quote[col]]
    adj = result["indicators"]["adjclose"][0]
    adj["adjclose"] = [v / 2 for v in adj["adjclose"]]
    return body


LIVE = ["BABA", "BIDU"]


@dataclass
class Live:
    yahoo: Yahoo
    warehouse: Path
    tmp: Path
    before: Tables = field(default_factory=dict)
    slept: list[float] = field(default_factory=list)

    def run(self) -> dg.ExecuteInProcessResult:
        source = SourceResource(source="live", sec_user_agent="ct test@example.com", cache_dir=str(self.tmp / "cache"))
        return materialize(self.warehouse, source, selection=[RAW_PRICES, CORE_PRICES], tickers=LIVE)


@pytest.fixture()
def live(yf_state, replay_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Live]:
    """A live warehouse after one clean load of BABA and BIDU from the recorded Yahoo server.

    The adapter is the production one (own requests.Session, 4 attempts, 2 s backoff) except
    that it records its sleeps instead of sleeping.
    """
    baba = recorded_chart(replay_dir, "BABA")
    charts = {"BABA": baba, "BIDU": bidu_chart(baba)}
    for symbol in charts:
        set_cached_timezone(symbol, "America/New_York")
    forget_cookie()
    state = Live(yahoo=None, warehouse=tmp_path / "live.duckdb", tmp=tmp_path)  # type: ignore[arg-type]
    init = YahooPrices.__init__

    def recording(self: YahooPrices, requests_per_second: float = 2.0, **_: object) -> None:
        init(self, requests_per_second=10_000, sleep=state.slept.append)

    monkeypatch.setattr(YahooPrices, "__init__", recording)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        state.yahoo = Yahoo(rsps, charts)
        first = state.run()
        assert first.success, failure_messages(first)
        state.before = snapshot(state.warehouse, PRICE_TABLES + BOOK_TABLES)
        state.slept.clear()
        yield state
    forget_cookie()
    for symbol in charts:
        set_cached_timezone(symbol, None)


def test_live_network_down(live):
    """Every request refused: the step fails within seconds saying Yahoo is unreachable."""
    live.yahoo.rsps.reset()  # nothing registered: every request is refused, as by a dead network
    started = time.monotonic()
    result = live.run()
    assert not result.success
    assert time.monotonic() - started < 30
    message = failure_messages(result)["raw__prices_daily"]
    assert "unreachable" in message and "BABA" in message and "BIDU" in message
    assert live.slept == []
    assert_unchanged(live.before, snapshot(live.warehouse, list(live.before)))


def test_live_timeout_fails_one_ticker(live):
    set_cached_timezone("BIDU", None)  # the first lookup hides errors in yfinance: the hardest path
    live.yahoo.script["BIDU"] = itertools.repeat(requests.exceptions.ReadTimeout("read timed out (10 s)"))
    result = live.run()
    assert result.success, failure_messages(result)
    failures = fetch_failures(result)
    assert list(failures) == ["BIDU"] and "timed out" in failures["BIDU"]
    assert len(live.slept) == 3  # 4 attempts, backoff between them
    after = snapshot(live.warehouse, list(live.before))
    assert_updated_like_a_clean_run(live.before, after, ["BABA"])
    assert_untouched(live.before, after, ["BIDU"])


def test_live_rate_limit_is_retried(live):
    live.yahoo.script["BIDU"] = iter([TOO_MANY] * 6)  # the batch's 2, then 2 failed tries of 2
    result = live.run()
    assert result.success, failure_messages(result)
    assert fetch_failures(result) == {}
    assert len(live.slept) == 2 and 2 <= live.slept[0] <= 2.5 and 4 <= live.slept[1] <= 5
    # raw.source_date is the stamp as yfinance wrote it: Ticker.history (the retry path) writes
    # "2020-01-02 00:00:00-05:00" where the batch wrote "2020-01-02"; the bar is the same
    after = snapshot(live.warehouse, list(live.before))
    assert_updated_like_a_clean_run(live.before, after, LIVE, also_differs=("source_date",))


def test_live_rate_limit_without_end(live, monkeypatch):
    """Yahoo refusing for longer than the adapter's retries: the step fails, and its retry policy
    (2 more tries, 30 s and 60 s later; shortened here) fails the same way; nothing is written."""
    monkeypatch.setattr(RAW_PRICES_OP, "_retry_policy", dg.RetryPolicy(max_retries=2, delay=0.1))
    live.yahoo.script["BIDU"] = itertools.repeat(TOO_MANY)
    result = live.run()
    assert not result.success
    message = failure_messages(result)["raw__prices_daily"]
    assert "rate-limiting" in message and "BIDU" in message
    retried = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retried) == 2
    assert_unchanged(live.before, snapshot(live.warehouse, list(live.before)))


def test_live_empty_frame_for_one_ticker(live):
    empty = copy.deepcopy(live.yahoo.charts["BIDU"])
    result = empty["chart"]["result"][0]
    del result["timestamp"]
    result["indicators"] = {"quote": [{}], "adjclose": [{}]}
    live.yahoo.charts["BIDU"] = empty
    run = live.run()
    assert run.success, failure_messages(run)
    assert list(fetch_failures(run)) == ["BIDU"]
    after = snapshot(live.warehouse, list(live.before))
    assert_updated_like_a_clean_run(live.before, after, ["BABA"])
    assert_untouched(live.before, after, ["BIDU"])


# ---------------------------------------------------------------- replay: a bad file


def _drop(name: str) -> Callable[[bytes], bytes]:
    """Drop a column (history) or a field (download: the first header row names them) from a gzipped CSV."""

    def drop(data: bytes) -> bytes:
        lines = gzip.decompress(data).decode().splitlines()
        i = lines[0].split(",").index(name)
        kept = [",".join(v for j, v in enumerate(line.split(",")) if j != i) for line in lines]
        return gzip.compress(("\n".join(kept) + "\n").encode())

    return drop


def _gz_edit(edit: Callable[[str], str]) -> Callable[[bytes], bytes]:
    return lambda data: gzip.compress(edit(gzip.decompress(data).decode()).encode())


# fault -> (ticker, bytes of the broken file from the clean one's, words the failure must contain)
FILE_FAULTS: dict[str, tuple[str, Callable[[bytes], bytes], list[str]]] = {
    "renamed_column": (FAULTY, _gz_edit(lambda t: t.replace("Volume", "volume", 1)), ["'volume' for 'Volume'"]),
    "missing_column": (FAULTY, _drop("Close"), ["schema drift", "missing column Close"]),
    "download_missing_column": ("^NDX", _drop("Volume"), ["schema drift", "missing column Volume"]),
    "truncated_gzip": (FAULTY, lambda data: data[: len(data) // 2], ["unreadable", "truncated"]),
    "not_gzip": (FAULTY, lambda data: b"\x00\xffnot gzip, not csv\x9c" * 50, []),  # read as text: no Date
    "empty_frame": (FAULTY, _gz_edit(lambda t: t.splitlines()[0] + "\n"), ["no rows"]),
}


@pytest.mark.parametrize("fault", list(FILE_FAULTS))
def test_bad_file_fails_only_its_ticker(case, fault):
    """The broken file's ticker fails, named with its file; its rows stay exactly as held; the others load."""
    ticker, breaks, words = FILE_FAULTS[fault]
    path = case.file(ticker)
    path.write_bytes(breaks(path.read_bytes()))
    result = case.run()
    assert result.success, failure_messages(result)
    failures = fetch_failures(result)
    assert list(failures) == [ticker]
    assert FILES[ticker] in failures[ticker] and all(w in failures[ticker] for w in words), failures
    after = case.after()
    others = [t for t in TICKERS if t != ticker]
    assert_updated_like_a_clean_run(case.before, after, others)
    assert_untouched(case.before, after, [ticker])
    (load,) = new_loads(case.before, after).filter(pl.col("asset") == "raw.prices_daily").iter_rows(named=True)
    assert json.loads(load["failures"]) == failures and sorted(load["tickers"]) == sorted(others)


@pytest.mark.parametrize("shape", ["history", "download", "history_plain_csv"])
def test_bom_and_crlf_load_like_the_clean_file(case, shape):
    """Excel's "CSV UTF-8" (byte-order mark) and Windows line ends: every row loads as from the clean file."""
    ticker = "^NDX" if shape == "download" else FAULTY
    path = case.file(ticker)
    text = "\ufeff" + read_text(path).replace("\n", "\r\n")
    if shape == "history_plain_csv":
        path.unlink()
        path = path.with_suffix("")  # 9888.HK.csv
    write_text(path, text)
    result = case.run(full_refresh=True)  # every row read again, not just the last week
    assert result.success, failure_messages(result)
    assert fetch_failures(result) == {}
    after = case.after()
    for table in PRICE_TABLES:
        same(stable(after[table]), stable(case.before[table]), table)
    assert not after["raw.prices_daily"]["source_date"].str.contains("\r|\ufeff").any()


# ---------------------------------------------------------------- replay: bad rows


@dataclass
class Expect:
    """What a fault in some rows of 9888.HK must do to its stored rows."""

    scaled: dict[str, float] = field(default_factory=dict)  # date -> factor on open/high/low/close
    close: dict[str, float] = field(default_factory=dict)  # date -> the close core must now hold
    split: dict[str, float] = field(default_factory=dict)  # date -> split_ratio core must now hold
    flags: set[tuple[str, str]] = field(default_factory=set)  # (date, kind) new in dq.price_anomalies
    rejected: set[tuple[str, str]] = field(default_factory=set)  # (date, reason) new in dq.rejected_prices
    raw_written: set[str] = field(default_factory=set)  # dates whose raw row holds the bad value as given


def _scale(header: list[str], row: list[str], factor: float) -> list[str]:
    row = list(row)
    for col in ("Open", "High", "Low", "Close"):
        i = header.index(col)
        row[i] = repr(float(row[i]) * factor)
    return row


def _day(row: list[str]) -> str:
    return row[0][:10]


def duplicate_exact(h: list[str], rows: list[list[str]]) -> tuple[list[list[str]], Expect]:
    return [*rows, rows[-3]], Expect()


def duplicate_conflicting(h: list[str], rows: list[list[str]]) -> tuple[list[list[str]], Expect]:
    later = list(rows[-3])
    later[h.index("Close")] = later[h.index("Open")]  # another close, still within high/low
    day = _day(later)
    expect = Expect(
        close={day: float(later[h.index("Close")])},
        flags={(day, "conflicting_duplicate")},
        rejected={(day, "conflicting_duplicate")},
        raw_written={day},
    )
    return [*rows, later], expect


def nan_close(h: list[str], rows: list[list[str]]) -> tuple[list[list[str]], Expect]:
    rows = [list(r) for r in rows]
    rows[-2][h.index("Close")] = "nan"
    day = _day(rows[-2])
    return rows, Expect(rejected={(day, "non_finite_price")}, raw_written={day})


def time_zone_shift(h: list[str], rows: list[list[str]]) -> tuple[list[list[str]], Expect]:
    """The same instant written in New York time: 00:00+08:00 is 12:00-04:00 the day before."""
    rows = [list(r) for r in rows]
    hk = pl.Series([rows[-2][0]]).str.to_datetime("%Y-%m-%d %H:%M:%S%z")
    rows[-2][0] = hk.dt.convert_time_zone("America/New_York").dt.strftime("%Y-%m-%d %H:%M:%S%:z")[0]
    assert rows[-2][0][:10] < hk.dt.convert_time_zone("Asia/Hong_Kong").dt.date()[0].isoformat()
    return rows, Expect()


def unit_error_100x(h: list[str], rows: list[list[str]]) -> tuple[list[list[str]], Expect]:
    """Two bars in cents among bars in dollars: it reverts, a unit error."""
    rows = [list(r) for r in rows]
    days = [_day(rows[-4]), _day(rows[-3])]
    rows[-4], rows[-3] = _scale(h, rows[-4], 100), _scale(h, rows[-3], 100)
    return rows, Expect(
        scaled=dict.fromkeys(days, 100.0), flags={(d, "unit_error") for d in days}, raw_written=set(days)
    )


def unit_switch_100x(h: list[str], rows: list[list[str]]) -> tuple[list[list[str]], Expect]:
    """The last three bars in cents: the scale changes and stays, a unit switch."""
    rows = [list(r) for r in rows]
    days = [_day(r) for r in rows[-3:]]
    rows[-3:] = [_scale(h, r, 100) for r in rows[-3:]]
    return rows, Expect(scaled=dict.fromkeys(days, 100.0), flags={(days[0], "unit_switch")}, raw_written=set(days))


def unreported_split(h: list[str], rows: list[list[str]]) -> tuple[list[list[str]], Expect]:
    """A 2-for-1 nobody announced: the last two bars halve, no split action. (Not the last three:
    9888.HK really fell 11% on 2026-08-19, which would blur the ratio beyond the rule's 3%.)"""
    rows = [list(r) for r in rows]
    days = [_day(r) for r in rows[-2:]]
    rows[-2:] = [_scale(h, r, 0.5) for r in rows[-2:]]
    return rows, Expect(scaled=dict.fromkeys(days, 0.5), flags={(days[0], "unreported_split")}, raw_written=set(days))


def split_not_back_adjusted(h: list[str], rows: list[list[str]]) -> tuple[list[list[str]], Expect]:
    """A 2-for-1 with its action recorded, but the history before it not adjusted."""
    rows = [list(r) for r in rows]
    days = [_day(r) for r in rows[-3:]]
    rows[-3:] = [_scale(h, r, 0.5) for r in rows[-3:]]
    rows[-3][h.index("Stock Splits")] = "2.0"
    expect = Expect(
        scaled=dict.fromkeys(days, 0.5),
        split={days[0]: 2.0},
        flags={(days[0], "split_not_back_adjusted")},
        raw_written=set(days),
    )
    return rows, expect


ROW_FAULTS = {
    f.__name__: f
    for f in (
        duplicate_exact,
        duplicate_conflicting,
        nan_close,
        time_zone_shift,
        unit_error_100x,
        unit_switch_100x,
        unreported_split,
        split_not_back_adjusted,
    )
}


def expected_core(before: pl.DataFrame, expect: Expect) -> pl.DataFrame:
    day = pl.col("trade_date").cast(pl.String)
    factor = day.replace_strict(expect.scaled, default=1.0, return_dtype=pl.Float64)
    out = before.with_columns(
        [(pl.col(c) * factor).alias(c) for c in ("open", "high", "low", "close", "adj_close")]
        + [
            pl.when(day.is_in(list(expect.split)))
            .then(day.replace_strict(expect.split, default=None))
            .otherwise(pl.col("split_ratio"))
            .alias("split_ratio")
        ]
    )
    if expect.close:
        new = day.replace_strict(expect.close, default=None, return_dtype=pl.Float64)
        out = out.with_columns(
            pl.coalesce(new, pl.col("close")).alias("close"), pl.coalesce(new, pl.col("adj_close")).alias("adj_close")
        )
    return out


def _pairs(frame: pl.DataFrame, col: str) -> set[tuple[str, str]]:
    return {(str(d), k) for d, k in frame.select("trade_date", col).rows()}


@pytest.mark.parametrize("fault", list(ROW_FAULTS))
def test_bad_rows_in_one_file(case, fault):
    """Bad rows in the last week of 9888.HK, read by an ordinary incremental load: stored, rejected
    or flagged exactly as the rules say; nothing else of 9888.HK and nothing of the others changes."""
    path = case.file(FAULTY)
    header, rows = read_rows(path)
    broken, expect = ROW_FAULTS[fault](header, rows)
    write_rows(path, header, broken)
    result = case.run()
    assert result.success, failure_messages(result)
    assert fetch_failures(result) == {}
    after = case.after()
    before = case.before

    core = stable(of(after["core.prices_daily"], [FAULTY]))
    same(core, stable(expected_core(of(before["core.prices_daily"], [FAULTY]), expect)), "core.prices_daily 9888.HK")
    if fault == "nan_close":  # the good close held before is not even rewritten
        day = next(iter(expect.rejected))[0]
        held = of(before["core.prices_daily"], [FAULTY]).filter(pl.col("trade_date").cast(pl.String) == day)
        same(of(after["core.prices_daily"], [FAULTY]).filter(pl.col("trade_date").cast(pl.String) == day), held, day)

    flags_before = _pairs(of(before["dq.price_anomalies"], [FAULTY]), "kind")
    flags_after = _pairs(of(after["dq.price_anomalies"], [FAULTY]), "kind")
    assert flags_after - flags_before == expect.flags and flags_before <= flags_after
    rejected_before = _pairs(of(before["dq.rejected_prices"], [FAULTY]), "reason")
    rejected_after = _pairs(of(after["dq.rejected_prices"], [FAULTY]), "reason")
    assert rejected_after - rejected_before == expect.rejected and rejected_before <= rejected_after

    raw_days = pl.col("trade_date").cast(pl.String).is_in(sorted(expect.raw_written))
    raw_cols = [c for c in after["raw.prices_daily"].columns if c not in VOLATILE | {"source_date"}]
    raw_after = of(after["raw.prices_daily"], [FAULTY]).filter(~raw_days).select(raw_cols)
    same(raw_after, of(before["raw.prices_daily"], [FAULTY]).filter(~raw_days).select(raw_cols), "raw 9888.HK")
    assert of(after["raw.prices_daily"], [FAULTY]).height == of(before["raw.prices_daily"], [FAULTY]).height

    others = [t for t in TICKERS if t != FAULTY]
    assert_updated_like_a_clean_run(before, after, others)


# ---------------------------------------------------------------- SEC company facts

SEC_FILES = {"AAPL": "sec-companyfacts/CIK0000320193.json.gz", "BILI": "sec-companyfacts/CIK0001723690.json.gz"}
CNY_HISTORY = "yfinance-history/FX/CNY=X.csv.gz"


def sec_run(warehouse: Path, folder: Path, tmp: Path) -> dg.ExecuteInProcessResult:
    return materialize(warehouse, replay_source(folder, tmp), selection=[RAW_SEC_FACTS, CAPEX], tickers=list(SEC_FILES))


@pytest.fixture(scope="module")
def sec_clean(replay_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Clean:
    """Apple and Bilibili filings and USD/CNY rates (so CNY capex converts), loaded once."""
    tmp = tmp_path_factory.mktemp("sec")
    folder = tmp / "replay"
    copy_files(replay_dir, folder, [*SEC_FILES.values(), CNY_HISTORY])
    warehouse = tmp / "clean.duckdb"
    fx = prices_run(warehouse, folder, tmp, tickers=["CNY=X"], selection=[RAW_PRICES, CORE_PRICES, FX_DAILY])
    assert fx.success, failure_messages(fx)
    first = sec_run(warehouse, folder, tmp)
    assert first.success, failure_messages(first)
    before = snapshot(warehouse, SEC_TABLES)
    assert set(before["core.capex"].filter(pl.col("source") == "sec")["ticker"]) == {"AAPL", "BILI"}
    return Clean(folder, warehouse, before, {})


@pytest.fixture()
def sec_case(sec_clean: Clean, tmp_path: Path) -> Case:
    folder = tmp_path / "replay"
    shutil.copytree(sec_clean.folder, folder)
    return Case(folder, copy_warehouse(sec_clean.warehouse, tmp_path / "wh"), sec_clean.before, tmp_path)


def _capex(tables: Tables, ticker: str) -> pl.DataFrame:
    return stable(of(tables["core.capex"], [ticker]))


def _swap_units(path: Path, old: str, new: str) -> None:
    doc = json.loads(gzip.decompress(path.read_bytes()))
    for concepts in doc["facts"].values():
        for body in concepts.values():
            if old in body["units"]:
                body["units"][new] = body["units"].pop(old)
    path.write_bytes(gzip.compress(json.dumps(doc).encode()))


def test_truncated_sec_file_fails_only_its_filer(sec_case):
    path = sec_case.folder / SEC_FILES["AAPL"]
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 3])
    result = sec_run(sec_case.warehouse, sec_case.folder, sec_case.tmp)
    assert result.success, failure_messages(result)
    ((key, problem),) = fetch_failures(result, RAW_SEC_FACTS).items()
    assert "CIK0000320193" in key and "AAPL" in key and "CIK0000320193.json.gz" in problem
    after = snapshot(sec_case.warehouse, SEC_TABLES)
    before = sec_case.before
    same(of(after["raw.sec_facts"], [320193], "cik"), of(before["raw.sec_facts"], [320193], "cik"), "AAPL facts")
    bili = [1723690]
    same(stable(of(after["raw.sec_facts"], bili, "cik")), stable(of(before["raw.sec_facts"], bili, "cik")), "BILI")
    for table in ("core.capex", "dq.capex_issues"):
        same(stable(after[table]), stable(before[table]), table)


def test_sec_capex_in_a_currency_without_fx(sec_case):
    """A filer reporting in TWD (an ISO currency with no FX series here): stored in TWD, not
    converted, and the usd_converted warning names the ticker, the years and the currency."""
    _swap_units(sec_case.folder / SEC_FILES["BILI"], "CNY", "TWD")
    result = sec_run(sec_case.warehouse, sec_case.folder, sec_case.tmp)
    assert result.success, failure_messages(result)
    after = snapshot(sec_case.warehouse, SEC_TABLES)
    was = _capex(sec_case.before, "BILI")
    assert set(was["currency"]) == {"CNY"} and was["capex_usd"].null_count() == 0
    want = was.with_columns(pl.lit("TWD").alias("currency"), pl.lit(None, dtype=pl.Float64).alias("capex_usd"))
    same(_capex(after, "BILI"), want, "BILI capex")
    same(_capex(after, "AAPL"), _capex(sec_case.before, "AAPL"), "AAPL capex")
    check = check_rows(result, CAPEX, "usd_converted")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    examples = check.metadata["examples"].value
    assert "BILI" in examples and "TWD" in examples and "2020" in examples


@pytest.mark.parametrize("unit", ["RMB", "cny"])
def test_sec_capex_in_a_unit_that_is_no_currency(sec_case, unit):
    """Units that are no ISO code: refused, each year listed; never stored as a currency, and
    never replaced by the filer's USD convenience translation (the only ISO unit left)."""
    _swap_units(sec_case.folder / SEC_FILES["BILI"], "CNY", unit)
    result = sec_run(sec_case.warehouse, sec_case.folder, sec_case.tmp)
    assert result.success, failure_messages(result)
    after = snapshot(sec_case.warehouse, SEC_TABLES)
    assert _capex(after, "BILI").is_empty()
    same(_capex(after, "AAPL"), _capex(sec_case.before, "AAPL"), "AAPL capex")
    # raw keeps the facts as given
    assert unit in set(of(after["raw.sec_facts"], [1723690], "cik")["unit"])
    years = set(_capex(sec_case.before, "BILI").filter(pl.col("duration") == "annual")["fiscal_year"])
    issues = of(after["dq.capex_issues"], ["BILI"]).filter(pl.col("kind") == "unknown_currency")
    assert set(issues["fiscal_year"]) == years
    assert all(f"'{unit}'" in d for d in issues["detail"])
    assert of(after["dq.capex_issues"], ["BILI"]).filter(pl.col("kind") == "missing_standard_capex").is_empty()
    check = check_rows(result, CAPEX, "currency_known")
    assert not check.passed and "BILI" in check.metadata["rows"].value


# ---------------------------------------------------------------- the warehouse file


def hold_lock(warehouse: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holding a write connection on the file for ``seconds``, then exiting."""
    code = (
        "import duckdb, sys, time\n"
        f"con = duckdb.connect({str(warehouse)!r})\n"
        "print('holding', flush=True)\n"
        f"time.sleep({seconds})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    return proc


def test_locked_warehouse_fails_naming_the_holder(case):
    holder = hold_lock(case.warehouse, 60)
    try:
        started = time.monotonic()
        result = case.run(lock_wait_seconds=1)
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert not result.success
    message = failure_messages(result)["raw__prices_daily"]
    assert str(case.warehouse) in message and f"process {holder.pid}" in message and "waited 1s" in message
    assert waited < 30
    assert_unchanged(case.before, case.after())


def test_lock_released_within_the_wait(case):
    holder = hold_lock(case.warehouse, 2)
    result = case.run(lock_wait_seconds=30)
    holder.wait()
    assert result.success, failure_messages(result)
    after = case.after()
    assert_updated_like_a_clean_run(case.before, after, TICKERS)


def cli_env(home: Path, replay: Path, warehouse: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHINATECH_")}
    env.update(
        DAGSTER_HOME=str(home),
        HOME=str(home),
        CHINATECH_SOURCE="replay",
        CHINATECH_REPLAY_DIR=str(replay),
        CHINATECH_WAREHOUSE=str(warehouse),
        CHINATECH_CACHE_DIR=str(home / "cache"),
        PYTHONPATH=str(REPO),
        PYTHONWARNINGS="ignore",
        **extra,
    )
    return env


def cli(args: list[str], env: dict[str, str], prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "orchestration.run", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def unprivileged() -> tuple[str, ...]:
    """How to run a command as a user that file modes apply to: as is, or (as root) through setpriv
    as nobody (root writes read-only files anyway)."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot run the CLI as an unprivileged user")
    return ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")


@pytest.fixture()
def shared_tmp() -> Iterator[Path]:
    """A folder another user can enter (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="chinatech-matrix-"))
    path.chmod(0o755)
    yield path
    for sub in path.rglob("*"):
        if sub.is_dir():
            sub.chmod(0o755)
    shutil.rmtree(path)


@pytest.mark.parametrize("read_only", ["file", "folder"])
def test_read_only_warehouse_is_refused_at_start(clean, shared_tmp, read_only):
    """chmod 0444 on the file, or 0555 on its folder (DuckDB writes <file>.wal there): refused at run
    start naming the file, before anything is fetched; the file is byte for byte as it was.

    Root writes read-only files anyway, so as root the CLI runs as the user nobody.
    """
    home, replay, folder = shared_tmp / "home", shared_tmp / "replay", shared_tmp / "wh"
    home.mkdir()
    shutil.copytree(clean.folder, replay)
    warehouse = copy_warehouse(clean.warehouse, folder)
    for path in (home, replay, *replay.rglob("*")):
        path.chmod(0o777 if path == home else (0o755 if path.is_dir() else 0o644))
    if read_only == "file":
        warehouse.chmod(0o444)
        folder.chmod(0o777)
    else:
        warehouse.chmod(0o666)
        folder.chmod(0o555)
    digest = sha(warehouse)
    run = cli(["--tickers", ",".join(TICKERS)], cli_env(home, replay, warehouse), unprivileged())
    output = run.stdout + run.stderr
    assert run.returncode == 1, output[-3000:]
    assert f"warehouse {warehouse} cannot be written by this process" in output
    assert ("the file is read-only" if read_only == "file" else f"its folder {folder} is read-only") in output
    assert "Nothing was written" in output
    assert sha(warehouse) == digest
    assert not warehouse.with_name(warehouse.name + ".wal").exists()
    assert_unchanged(clean.before, snapshot(warehouse, list(clean.before)))


def test_sigkill_mid_write_then_the_next_run_completes(clean, dagster_home, tmp_path, monkeypatch):
    """``python -m orchestration.run`` killed with SIGKILL (its whole process group) while its
    transaction has written raw.prices_daily (every row: a full refresh) and not committed.
    DuckDB rolls it back: the warehouse is exactly as before the run, but for what steps that
    had finished before the kill committed (here the check results of raw/fundamentals_info,
    which runs first). The next run on the same DAGSTER_HOME frees the dead run's pool slot,
    marks it failed and completes."""
    replay = tmp_path / "replay"
    shutil.copytree(clean.folder, replay)
    warehouse = copy_warehouse(clean.warehouse, tmp_path / "wh")
    env = cli_env(dagster_home, replay, warehouse)
    log_path = tmp_path / "killed.log"
    with log_path.open("w") as log:
        killed = subprocess.Popen(
            [sys.executable, "-m", "orchestration.run", "--tickers", ",".join(TICKERS), "--full-refresh"],
            cwd=REPO,
            env={**env, PAUSE_AFTER_WRITE: "raw.prices_daily:300"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 180
        while PAUSE_AFTER_WRITE not in log_path.read_text():
            assert killed.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.1)
        os.killpg(killed.pid, signal.SIGKILL)
        assert killed.wait(timeout=30) == -signal.SIGKILL
    marker = next(line for line in log_path.read_text().splitlines() if PAUSE_AFTER_WRITE in line)
    assert f"process {killed.pid} wrote" in marker and "rows to raw.prices_daily, not committed" in marker

    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))  # the project's storage config reads its home from it
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        (dead,) = instance.get_runs()
        assert dead.status == dg.DagsterRunStatus.STARTED  # nobody told the instance
        assert instance.event_log_storage.get_concurrency_info("duckdb").claimed_slots  # and the slot is held
        events = [e.dagster_event for e in instance.all_logs(dead.run_id) if e.dagster_event]
    finished = {e.step_key.replace("__", ".", 1) for e in events if e.event_type_value == "STEP_SUCCESS"}
    assert "raw.prices_daily" not in finished
    after = snapshot(warehouse, list(clean.before))
    for table in [*PRICE_TABLES, "raw.loads", "meta.warehouse"]:
        same(after[table], clean.before[table], f"{table} (must be as before the killed run)")
    checks = after["dq.check_results"]
    same(
        checks.join(clean.before["dq.check_results"], on=list(checks.columns), how="semi"),
        clean.before["dq.check_results"],
        "dq.check_results held before",
    )
    committed = checks.join(clean.before["dq.check_results"], on=list(checks.columns), how="anti")
    assert set(committed["run_id"]) <= {dead.run_id} and set(committed["asset"]) <= finished

    nxt = cli(["--tickers", "9618.HK"], env)  # one ticker: the point is that it runs at all
    assert nxt.returncode == 0, (nxt.stdout + nxt.stderr)[-3000:]
    assert f"run {dead.run_id} (process {killed.pid}) is gone: marked failed" in nxt.stdout
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
        assert instance.event_log_storage.get_concurrency_info("duckdb").claimed_slots == []
    after = snapshot(warehouse, PRICE_TABLES)
    for table in PRICE_TABLES:
        same(stable(after[table]), stable(clean.before[table]), table)


# ---------------------------------------------------------------- tickers


@pytest.mark.parametrize("ticker", ["NOPE", SQL_TICKER])
def test_unknown_ticker_is_refused_by_the_cli(clean, tmp_path, ticker):
    """``make run TICKERS=...``: refused before any run starts, naming the ticker; the file untouched."""
    warehouse = copy_warehouse(clean.warehouse, tmp_path / "wh")
    digest = sha(warehouse)
    home = tmp_path / "home"
    run = cli(["--tickers", f"9618.HK,{ticker}"], cli_env(home, clean.folder, warehouse))
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"tickers not in the universe: [{ticker!r}]" in run.stderr
    assert sha(warehouse) == digest
    assert not (home / "history").exists()  # no run was even recorded


@pytest.mark.parametrize("ticker", ["NOPE", SQL_TICKER])
def test_unknown_ticker_in_run_config(case, ticker):
    """The same ticker in the run scope (the UI's launchpad): refused at run start, before any step
    runs (or is retried); every table intact."""
    result = case.run(tickers=["9618.HK", ticker])
    assert not result.success
    assert f"tickers not in the universe: [{ticker!r}]" in all_errors(result)
    assert not [e for e in result.all_events if e.event_type_value == "STEP_START"]
    assert_unchanged(case.before, case.after())


# where SQL text may be built from variables: helpers that get table names and WHERE clauses as
# literals from their callers (checked below), the schema files, the read-only query CLI, and the
# snapshot and backup code, which interpolates only catalog names and file paths quoted by
# ident() / literal()
SQL_BUILDERS = {
    ("assets/warehouse.py", "ensure_schema"),
    ("assets/warehouse.py", "_insert"),
    ("assets/warehouse.py", "replace_rows"),
    ("assets/warehouse.py", "table_summary"),
    ("assets/warehouse.py", "_stats_range"),
    ("assets/warehouse.py", "change_counts"),
    ("assets/warehouse.py", "_is_empty"),
    ("assets/warehouse.py", "query"),
    # perf: DuckLake attach (extension and catalog paths), constraint-free DDL and the key/CHECK
    # checks from sql/schema, staged Parquet file paths; never a ticker
    ("assets/warehouse.py", "_open"),
    ("assets/warehouse.py", "_reference"),
    ("assets/warehouse.py", "_enforce"),
    ("assets/warehouse.py", "_register"),
    ("assets/warehouse.py", "_unregister"),
    ("assets/warehouse.py", "upsert"),
    ("assets/prices.py", "rows_removed"),
    ("assets/quality/record.py", "replace_anomalies"),
    ("assets/backup.py", "backup_warehouse"),
    ("assets/publish.py", "_fingerprints"),
    ("assets/publish.py", "_write_partitions"),
    ("assets/publish.py", "_view_sql"),
    ("assets/publish.py", "_build_reader"),
    ("assets/publish.py", "publish_snapshot"),
    ("orchestration/query.py", "main"),
    ("orchestration/run.py", "main"),
    ("orchestration/run.py", "show_example"),
    # marts: SQL read from the files in sql/marts, table and column names declared in code, the
    # README cookbook's recipes; run-time values (dates, tickers) go in as named parameters
    ("assets/mart_sql.py", "run_sql"),
    ("assets/mart_sql.py", "run"),
    ("assets/marts.py", "publish_mart"),
    ("assets/marts.py", "_publish"),
    ("assets/marts.py", "hstech_basket"),
    ("assets/report.py", "_inputs"),
    ("orchestration/cookbook.py", "run"),
    # the batched price write path: column-name constants and the staged Parquet files it wrote
    # itself; tickers go in as parameters ($1/$2 ranges, list_contains(?))
    ("assets/prices.py", "price_anomalies"),
    ("assets/prices.py", "prices_daily"),
    ("assets/prices.py", "raw_batches"),
    ("assets/prices.py", "rows_removed"),
    ("assets/prices.py", "staged_returns"),
    ("assets/warehouse.py", "_enforce"),
    ("assets/warehouse.py", "_open"),
    ("assets/warehouse.py", "_reference"),
    ("assets/warehouse.py", "_register"),
    ("assets/warehouse.py", "_unregister"),
    ("assets/warehouse.py", "upsert"),
}
SQL_CALLS = {"execute", "executemany", "sql", "query"}
HELPER_LITERALS = {"upsert": (1,), "replace_rows": (1, 3), "table_summary": (1, 2)}


def _literal(node: ast.AST, func: ast.FunctionDef | None = None) -> bool:
    """A string literal, a sum of them, or a local name only ever assigned literals."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.BinOp):
        return _literal(node.left, func) and _literal(node.right, func)
    if isinstance(node, ast.Name) and func is not None:
        values = list(_assigned(func, node.id))
        return bool(values) and all(_literal(v) for v in values)
    return False


def _assigned(func: ast.FunctionDef, name: str) -> Iterator[ast.AST]:
    """Every value assigned to ``name`` in ``func``, through tuple unpacking and conditional tuples."""
    for node in ast.walk(func):
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            if isinstance(target, ast.Name) and target.id == name:
                yield node.value
            elif isinstance(target, ast.Tuple):
                slots = [i for i, t in enumerate(target.elts) if isinstance(t, ast.Name) and t.id == name]
                options = [node.value.body, node.value.orelse] if isinstance(node.value, ast.IfExp) else [node.value]
                for i in slots:
                    for option in options:
                        yield option.elts[i] if isinstance(option, ast.Tuple) else option


def test_no_ticker_is_formatted_into_sql():
    """Every SQL text is a literal (values go in as parameters), except in the few builders above,
    whose table names and WHERE clauses are literals at every call site."""
    offenders = []
    for path in sorted([*REPO.joinpath("assets").rglob("*.py"), *REPO.joinpath("orchestration").rglob("*.py")]):
        rel = path.relative_to(REPO).as_posix()
        tree = ast.parse(path.read_text())
        for func in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
            for call in [n for n in ast.walk(func) if isinstance(n, ast.Call)]:
                name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
                built = name in SQL_CALLS and call.args and not _literal(call.args[0])
                if built and (rel, func.name) not in SQL_BUILDERS:
                    offenders.append(f"{rel}:{call.lineno} {ast.unparse(call.args[0])[:60]}")
                for i in HELPER_LITERALS.get(name, ()):
                    builder = rel == "assets/warehouse.py" or (rel, func.name) in SQL_BUILDERS
                    if i < len(call.args) and not _literal(call.args[i], func) and not builder:
                        offenders.append(f"{rel}:{call.lineno} {name} argument {i}: {ast.unparse(call.args[i])[:60]}")
    assert offenders == []
