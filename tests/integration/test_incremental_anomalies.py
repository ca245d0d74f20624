"""After an incremental price load, dq.price_anomalies holds what the whole-history rules give.

The dq asset judges tickers that only got new dates from a window of their recent rows; these
tests load the recorded data cut a few days short, then the full files (one incremental load),
and compare the anomalies on record with ``detect_anomalies`` over everything core holds. Some
files are edited first so the window edge meets each rule (a unit switch starting in the new
days, a unit error reverting in them, a stale run and a gap across the edge, a split not
back-adjusted on a new day).
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import polars as pl
import pytest

from assets.sources.resource import SourceResource
from assets.transforms.anomalies import KINDS, detect_anomalies
from assets.universe import load_universe
from tests.integration._graph import (
    CORE_PRICES,
    PRICE_ANOMALIES,
    RAW_PRICES,
    failure_messages,
    materialize,
    query,
    replay_source,
    scalar,
)

pytestmark = pytest.mark.replay

CUT = 5  # data lines the first load does not see: the incremental load brings them
SELECTION = [RAW_PRICES, CORE_PRICES, PRICE_ANOMALIES]
ANOMALIES = "SELECT ticker, trade_date, kind, detail FROM dq.price_anomalies WHERE list_contains(?, kind)"
KEY = ["ticker", "trade_date", "kind", "detail"]


def _read(path: Path) -> list[str]:
    with gzip.open(path, "rt") as fh:
        return fh.read().splitlines()


def _write(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")


def _scale(line: str, factor: float, columns: range = range(1, 5)) -> str:
    """A ``history()`` CSV line with Open/High/Low/Close multiplied by ``factor``."""
    cells = line.split(",")
    for i in columns:
        cells[i] = repr(float(cells[i]) * factor)
    return ",".join(cells)


def _flat(line: str, close: float) -> str:
    cells = line.split(",")
    cells[1:5] = [repr(close)] * 4
    return ",".join(cells)


def _edits(rel: str, lines: list[str]) -> list[str]:
    """The edge cases, written into whole files (the first load sees the same old rows)."""
    head, body = lines[:1], lines[1:]
    if rel.endswith("/0700.HK.csv.gz"):  # a unit switch starting in the new days
        body = body[:-CUT] + [_scale(x, 100.0) for x in body[-CUT:]]
    elif rel.endswith("/1024.HK.csv.gz"):  # two old rows at 1/100 that revert in the new ones
        body = body[: -CUT - 2] + [_scale(x, 0.01) for x in body[-CUT - 2 : -CUT]] + body[-CUT:]
    elif rel.endswith("/0981.HK.csv.gz"):  # a stale run of 9 old rows going on into the new ones
        close = float(body[-CUT - 10].split(",")[4])
        body = body[: -CUT - 9] + [_flat(x, close) for x in body[-CUT - 9 :]]
    elif rel.endswith("/1810.HK.csv.gz"):  # three sessions missing just before the new days
        body = body[: -CUT - 3] + body[-CUT:]
    elif rel.endswith("/9988.HK.csv.gz"):  # a 2-for-1 on the third new day, earlier prices not adjusted
        cells = body[-3].split(",")
        cells[7] = "2.0"
        body = body[:-3] + [_scale(",".join(cells), 0.5)] + [_scale(x, 0.5) for x in body[-2:]]
    return head + body


def _folders(replay_dir: Path, tmp: Path) -> tuple[Path, Path]:
    """(cut, full): the recorded history files, edited, without and with their last CUT lines."""
    cut, full = tmp / "cut", tmp / "full"
    for path in sorted((replay_dir / "yfinance-history").glob("*/*.csv.gz")):
        rel = str(path.relative_to(replay_dir))
        lines = _edits(rel, _read(path))
        _write(full / rel, lines)
        _write(cut / rel, lines[:-CUT])
    for path in sorted((replay_dir / "yfinance-download").glob("*.csv.gz")):
        rel = str(path.relative_to(replay_dir))
        (full / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, full / rel)
        _write(cut / rel, _read(path)[:-CUT])
    return cut, full


def _judged_recent(result) -> int:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key == PRICE_ANOMALIES]
    return int(events[-1].materialization.metadata["tickers_judged_recent"].value)


def _whole_history(warehouse: Path) -> pl.DataFrame:
    prices = query(warehouse, "SELECT ticker, trade_date, close, split_ratio FROM core.prices_daily")
    return detect_anomalies(prices, load_universe()).select(KEY).sort(KEY, nulls_last=False)


def test_incremental_anomalies_equal_the_whole_history_rerun(replay_dir, tmp_path):
    cut, full = _folders(replay_dir, tmp_path)
    warehouse = tmp_path / "warehouse.duckdb"
    first = materialize(warehouse, replay_source(cut, tmp_path), selection=SELECTION)
    assert first.success, failure_messages(first)
    assert _judged_recent(first) == 0  # a first load: every ticker's whole history
    before = query(warehouse, ANOMALIES, [list(KINDS)]).sort(KEY, nulls_last=False)
    assert before.equals(_whole_history(warehouse))

    second = materialize(warehouse, replay_source(full, tmp_path), selection=SELECTION)
    assert second.success, failure_messages(second)
    after = query(warehouse, ANOMALIES, [list(KINDS)]).sort(KEY, nulls_last=False)
    expected = _whole_history(warehouse)
    assert after.to_dicts() == expected.to_dicts()
    # most tickers were judged from their recent rows; the edited ones show what they should
    assert _judged_recent(second) >= 30
    kinds = {(t, k) for t, _, k, _ in after.rows()}
    assert {
        ("0700.HK", "unit_switch"),
        ("1024.HK", "unit_error"),
        ("0981.HK", "stale_series"),
        ("1810.HK", "gap"),
        ("9988.HK", "split_not_back_adjusted"),
    } <= kinds
    assert ("1024.HK", "unit_switch") in {(t, k) for t, _, k, _ in before.rows()}
    # and the incremental run changed what it had to
    assert not after.equals(before)


def test_a_core_load_whose_dq_step_was_skipped_is_judged_by_the_next_run(replay_dir, tmp_path):
    """dq.anomaly_marks: the next run re-judges every row loaded since the last judgement, not just its own."""
    cut, full = _folders(replay_dir, tmp_path)
    mid = tmp_path / "mid"  # full files but the last line: the load whose dq step never ran
    for path in sorted(full.rglob("*.csv.gz")):
        _write(mid / path.relative_to(full), _read(path)[:-1])
    warehouse = tmp_path / "warehouse.duckdb"
    first = materialize(warehouse, replay_source(cut, tmp_path), selection=SELECTION)
    assert first.success, failure_messages(first)
    marks = query(warehouse, "SELECT ticker, judged_through FROM dq.anomaly_marks")
    held = scalar(warehouse, "SELECT count(DISTINCT ticker) FROM core.prices_daily")
    assert marks.height == held

    # core takes the new days, dq does not run (a failed or deselected step)
    skipped = materialize(warehouse, replay_source(mid, tmp_path), selection=[RAW_PRICES, CORE_PRICES])
    assert skipped.success, failure_messages(skipped)
    assert query(warehouse, "SELECT ticker, judged_through FROM dq.anomaly_marks").equals(marks)

    # the next run loads only the last day (no overlap), yet judges the skipped load's days too
    source = SourceResource(source="replay", replay_dir=str(full), cache_dir=str(tmp_path / "cache"), overlap_days=0)
    last = materialize(warehouse, source, selection=SELECTION)
    assert last.success, failure_messages(last)
    assert _judged_recent(last) >= 30
    after = query(warehouse, ANOMALIES, [list(KINDS)]).sort(KEY, nulls_last=False)
    assert after.to_dicts() == _whole_history(warehouse).to_dicts()
    assert ("1810.HK", "gap") in {(t, k) for t, _, k, _ in after.rows()}  # the gap ended in the skipped load
    newer = query(
        warehouse,
        "SELECT count(*) AS n FROM dq.anomaly_marks AS m JOIN core.prices_daily AS p USING (ticker)"
        " WHERE p.loaded_at > m.judged_through",
    )
    assert newer["n"][0] == 0  # every row core holds is judged
