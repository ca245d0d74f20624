"""Backups: a consistent copy of the warehouse; a restore brings every table back and never mixes modes."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import duckdb
import pytest

from assets.backup import RestoreRefusedError, backup_warehouse, restore_warehouse
from assets.publish import reader_file
from assets.warehouse import WarehouseResource
from tests.integration._graph import copy_warehouse
from tests.integration._snapshot import base_tables, sha256, table_differences

REPO = Path(__file__).resolve().parents[2]
CONSTRAINTS = (
    "SELECT schema_name, table_name, constraint_type, constraint_text FROM duckdb_constraints()"
    " WHERE database_name = current_database() ORDER BY ALL"
)


def _constraints(file: Path) -> list[tuple]:
    with duckdb.connect(str(file), read_only=True) as con:
        return con.execute(CONSTRAINTS).fetchall()


def test_backup_then_restore_equals_the_original(sample_copy, tmp_path):
    original = copy_warehouse(sample_copy, tmp_path / "original")
    backup = backup_warehouse(sample_copy, tmp_path / "backups")
    assert re.fullmatch(r"warehouse-\d{8}T\d{6}Z\.duckdb", backup.name)
    assert not list(backup.parent.glob("*.tmp-*"))

    # the run after the backup goes wrong; the restore brings back every table as it was
    with duckdb.connect(str(sample_copy)) as con:
        con.execute("DELETE FROM core.prices_daily WHERE ticker = '9888.HK'")
        con.execute("CREATE SCHEMA IF NOT EXISTS marts")
        con.execute("CREATE TABLE marts.later AS SELECT 1 AS x")
    assert table_differences(original, sample_copy)
    aside = restore_warehouse(backup, sample_copy, expected_mode="sample")

    assert table_differences(original, sample_copy) == {}
    assert base_tables(sample_copy) == base_tables(original)
    assert _constraints(sample_copy) == _constraints(original)  # keys and checks come back too
    with duckdb.connect(str(sample_copy), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM core.prices_daily_flagged").fetchone()[0] > 0  # views
        assert con.execute("SELECT core.to_usd(1, 'USD', DATE '2024-01-01')").fetchone()[0] == 1  # macros
    assert aside is not None and ("marts", "later") in base_tables(aside)  # the replaced file is kept

    # into a new file too
    fresh = tmp_path / "fresh" / "sample.duckdb"
    assert restore_warehouse(backup, fresh) is None
    assert table_differences(original, fresh) == {}


def test_restore_refuses_a_backup_of_another_source_mode(sample_copy, tmp_path):
    backup = backup_warehouse(sample_copy, tmp_path / "backups")
    replay = tmp_path / "replay.duckdb"
    with WarehouseResource(mode="replay", path=str(replay)).transaction():
        pass  # an empty replay warehouse: meta.warehouse says replay
    before = sha256(replay)
    with pytest.raises(RestoreRefusedError, match=r"'sample'.*'replay'"):
        restore_warehouse(backup, replay)
    with pytest.raises(RestoreRefusedError, match="source mode is 'replay'"):
        restore_warehouse(backup, tmp_path / "new.duckdb", expected_mode="replay")
    assert sha256(replay) == before
    assert not (tmp_path / "new.duckdb").exists()
    assert not list(tmp_path.glob("*.restore-*"))


@pytest.mark.slow
def test_make_backup_and_make_restore(sample_copy, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHINATECH_")}
    env.update(
        CHINATECH_WAREHOUSE=str(sample_copy),
        CHINATECH_BACKUP_DIR=str(tmp_path / "backups"),
        PYTHONWARNINGS="ignore",
    )
    original = copy_warehouse(sample_copy, tmp_path / "original")

    def make(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["make", "--no-print-directory", *args],
            cwd=REPO,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=120,
        )

    made = make("backup")
    assert made.returncode == 0, made.stdout + made.stderr
    backup = next((tmp_path / "backups").glob("warehouse-*.duckdb"))
    with duckdb.connect(str(sample_copy)) as con:
        con.execute("DELETE FROM raw.loads")
    refused = make("restore", f"FILE={backup}", CHINATECH_SOURCE="replay")
    assert refused.returncode != 0 and "refusing" in refused.stderr
    restored = make("restore", f"FILE={backup}")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert table_differences(original, sample_copy) == {}
    assert table_differences(original, reader_file(sample_copy)) == {}  # readers see the restored state
