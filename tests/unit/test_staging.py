"""Staged Parquet is inserted into DuckDB as whole row groups (assets/warehouse.py, ``Staging``).

DuckDB's ordered bulk insert flushes its buffer at a size set by the memory limit; when the
staged Parquet row groups are not DuckDB's own, every flush leaves a short row group, and the
checkpoints after the load merge them a few at a time by rewriting the table around them (5 to
9 s per checkpoint after a 12.6 M-row core load, docs/performance.md).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from assets.warehouse import DUCKDB_ROW_GROUP, LEFTOVER_AGE_S, Staging

ROWS = 300_000  # per staged batch: two whole row groups and a tail


def _batch(seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame({f"c{j}": rng.random(ROWS) for j in range(8)})


def _row_groups(con: duckdb.DuckDBPyConnection, table: str) -> list[int]:
    return [
        n
        for (n,) in con.execute(
            "SELECT sum(count) FROM pragma_storage_info(?) WHERE column_id = 0 AND segment_type <> 'VALIDITY'"
            " GROUP BY row_group_id ORDER BY row_group_id",
            [table],
        ).fetchall()
    ]


def test_staged_batches_insert_as_whole_row_groups(tmp_path: Path) -> None:
    with Staging() as staging:
        for seed in range(3):
            staging.add("t", _batch(seed))
        files = [str(f) for f in staging.get("t").files]
        tail = ROWS - 2 * DUCKDB_ROW_GROUP
        for file in files:
            meta = pq.ParquetFile(file).metadata
            assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [
                DUCKDB_ROW_GROUP,
                DUCKDB_ROW_GROUP,
                tail,
            ]
        # a small memory limit makes DuckDB flush often, as 512MB does with 12.6 M wide rows
        con = duckdb.connect(str(tmp_path / "w.duckdb"), config={"memory_limit": "64MB"})
        try:
            con.execute("CREATE TABLE t AS SELECT * FROM read_parquet(?) LIMIT 0", [files])
            con.execute("INSERT INTO t SELECT * FROM read_parquet(?)", [files])
            sizes = _row_groups(con, "t")
        finally:
            con.close()
    assert sum(sizes) == 3 * ROWS
    assert sorted(sizes) == [tail] * 3 + [DUCKDB_ROW_GROUP] * 6  # one short row group per batch, its tail


def test_a_staging_folder_left_a_day_ago_is_swept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    old, recent = tmp_path / f"{Staging.PREFIX}killed", tmp_path / f"{Staging.PREFIX}running"
    for folder in (old, recent):
        folder.mkdir()
        (folder / "raw-00000.parquet").write_bytes(b"x")
    then = time.time() - LEFTOVER_AGE_S - 60
    os.utime(old, (then, then))
    with Staging() as staging:
        assert staging.dir.exists()
        assert not old.exists()
        assert recent.exists()  # another step may be writing it right now
    assert not staging.dir.exists()


def test_a_staging_folder_of_a_killed_process_is_swept_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()
    killed = tmp_path / f"{Staging.PREFIX}{int(dead.stdout)}@{host}@abcd1234"
    elsewhere = tmp_path / f"{Staging.PREFIX}{int(dead.stdout)}@another-host@abcd1234"
    alive = tmp_path / f"{Staging.PREFIX}{os.getpid()}@{host}@abcd1234"
    for folder in (killed, elsewhere, alive):
        folder.mkdir()
    with Staging() as staging:
        assert staging.dir.name.startswith(f"{Staging.PREFIX}{os.getpid()}@{host}@")
        assert not killed.exists()
        assert elsewhere.exists() and alive.exists()  # another host's, or running: the age decides
