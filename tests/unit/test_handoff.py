"""Raw hands its staged Parquet to core (assets/handoff.py): whole or not at all, one reader, swept."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest

from assets.handoff import Handoff, handoff_root
from assets.loads import record_load, run_load, superseded
from assets.warehouse import LEFTOVER_AGE_S, Staging, ensure_schema


@pytest.fixture(autouse=True)
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Staging and hand-offs under this test's folder (one file system, as under the real temp folder)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def _frame(tickers: list[str]) -> pl.DataFrame:
    return pl.DataFrame({"ticker": tickers, "close": [float(i) for i in range(len(tickers))]})


def _given(handoff: Handoff, load_id: str, batches: list[list[str]]) -> int:
    with Staging() as staging:
        for batch in batches:
            staging.add("raw", _frame(batch))
        staged = staging.get("raw")
        assert handoff.give(staged, load_id)
        assert not any(f.exists() for f in staged.files)  # moved, not copied
    return staged.height


def test_given_files_are_taken_once_in_order_and_deleted_after(private_tmp):
    handoff = Handoff("/w/a.duckdb")
    rows = _given(handoff, "load-1", [["A", "B"], ["C"]])
    with handoff.taken("load-1", rows) as claimed:
        assert claimed is not None
        frames = [pl.read_parquet(f) for f in claimed.files]
        assert [f["ticker"].to_list() for f in frames] == [["A", "B"], ["C"]]
        assert handoff.take("load-1", rows) is None  # one reader only
        folder = claimed.folder
    assert not folder.exists()
    assert list(handoff.root.iterdir()) == []


def test_a_hand_off_of_another_size_load_or_warehouse_is_not_used(private_tmp):
    handoff = Handoff("/w/a.duckdb")
    rows = _given(handoff, "load-1", [["A", "B"]])
    assert Handoff("/w/other.duckdb").take("load-1", rows) is None
    assert handoff.take("load-2", rows) is None
    assert handoff.take("load-1", rows + 1) is None  # not what the load recorded: deleted, not used
    assert list(handoff.root.iterdir()) == []


def test_a_hand_off_missing_a_file_is_not_used(private_tmp):
    handoff = Handoff("/w/a.duckdb")
    rows = _given(handoff, "load-1", [["A"], ["B"]])
    (handoff.root / "load-1" / "part-00001.parquet").unlink()
    assert handoff.take("load-1", rows) is None


def test_the_block_deletes_the_claim_when_it_fails(private_tmp):
    handoff = Handoff("/w/a.duckdb")
    rows = _given(handoff, "load-1", [["A"]])
    with pytest.raises(RuntimeError), handoff.taken("load-1", rows) as claimed:
        assert claimed is not None
        raise RuntimeError("core failed")
    assert list(handoff.root.iterdir()) == []


def test_a_new_load_sweeps_unclaimed_and_stale_hand_offs(private_tmp):
    a, b = Handoff("/w/a.duckdb"), Handoff("/w/b.duckdb")
    _given(a, "load-1", [["A"]])
    rows2 = _given(a, "load-2", [["A"]])  # load-1 was never claimed: superseded
    assert sorted(p.name for p in a.root.iterdir()) == ["load-2"]
    claimed = a.take("load-2", rows2)
    assert claimed is not None
    _given(b, "load-x", [["B"]])  # another warehouse's load leaves a's claim alone
    assert claimed.folder.exists()
    old = time.time() - LEFTOVER_AGE_S - 60
    os.utime(claimed.folder, (old, old))  # a reader that died a day ago
    _given(b, "load-y", [["B"]])
    assert not claimed.folder.exists()
    assert sorted(p.name for p in handoff_root().glob("*/*")) == ["load-y"]
    assert list(handoff_root().iterdir()) == [b.root]  # a's folder, empty now, is gone too


def test_nothing_staged_gives_nothing(private_tmp):
    handoff = Handoff("/w/a.duckdb")
    with Staging() as staging:
        assert not handoff.give(staging.get("raw"), "load-1")
    assert handoff.take("load-1", 0) is None


def test_a_later_load_supersedes_an_earlier_one():
    con = duckdb.connect()
    ensure_schema(con)
    for n in (1, 2):
        record_load(
            con, load_id=f"load-{n}", asset="raw.prices_daily", source="replay", tickers=[], row_count=1, run_id=f"r{n}"
        )
        time.sleep(0.01)
    record_load(con, load_id="core-2", asset="core.prices_daily", source="replay", tickers=["A"], row_count=1)
    first, second = run_load(con, "raw.prices_daily", "r1"), run_load(con, "raw.prices_daily", "r2")
    assert first is not None and first["load_id"] == "load-1"
    assert second is not None and second["load_id"] == "load-2"
    assert superseded(con, first)
    assert not superseded(con, second)  # core's load is another asset's


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_a_claim_whose_reader_was_killed_is_swept_by_the_next_load(private_tmp):
    a, b = Handoff("/w/a.duckdb"), Handoff("/w/b.duckdb")
    rows = _given(a, "load-1", [["A"]])
    mine = a.take("load-1", rows)  # this process: alive
    assert mine is not None
    host = socket.gethostname()
    killed = a.root / f"load-0.taken-{_dead_pid()}@{host}@0000abcd"  # what a reader killed mid-read leaves
    elsewhere = a.root / f"load-2.taken-{_dead_pid()}@another-host@0000abcd"  # a shared temp folder
    for folder in (killed, elsewhere):
        folder.mkdir()
    _given(b, "load-x", [["B"]])
    assert not killed.exists()
    assert mine.folder.exists() and elsewhere.exists()  # alive, or not this host's to judge: the age decides


def test_an_unclaimed_hand_off_of_a_deleted_warehouse_is_swept(private_tmp):
    warehouse = private_tmp / "w.duckdb"
    warehouse.write_bytes(b"")
    gone, other = Handoff(str(warehouse)), Handoff("/w/b.duckdb")
    _given(gone, "load-1", [["A"]])
    _given(other, "load-x", [["B"]])
    assert (gone.root / "load-1").exists()  # its warehouse may still build core from it
    warehouse.unlink()  # a test's or a user's warehouse removed: no core will ever claim it
    _given(other, "load-y", [["B"]])
    assert not gone.root.exists()
