"""Backups of the warehouse and their restore.

A backup is a complete DuckDB file (``COPY FROM DATABASE`` into a new file while this process
holds the warehouse, so no run writes meanwhile): open it like the warehouse, or restore it.
A restore refuses a backup of another source mode (``meta.warehouse``), so modes never mix.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from assets.publish import ident, literal
from assets.warehouse import connect_waiting, held_mode


class RestoreRefusedError(RuntimeError):
    """The backup cannot replace this warehouse (another source mode, or not a warehouse)."""


def backup_warehouse(warehouse: Path, backup_dir: Path, *, wait_seconds: float = 120.0) -> Path:
    """Write ``<backup_dir>/<warehouse stem>-<UTC time>.duckdb``, a consistent copy of the warehouse.

    Holds a normal connection on the warehouse for the copy (waiting for a running write to
    end), so the copy is one committed state; written under a temporary name, then renamed.
    """
    warehouse = Path(warehouse).resolve()
    if not warehouse.exists():
        raise FileNotFoundError(f"warehouse {warehouse} does not exist: nothing to back up")
    backup_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    dest = backup_dir / f"{warehouse.name.removesuffix('.duckdb')}-{stamp}.duckdb"
    if dest.exists():
        dest = dest.with_name(f"{dest.stem}-{uuid.uuid4().hex[:6]}.duckdb")
    tmp = dest.with_name(f"{dest.name}.tmp-{uuid.uuid4().hex[:8]}")
    alias = f"_backup_{uuid.uuid4().hex[:8]}"
    con = connect_waiting(warehouse, read_only=False, wait_seconds=wait_seconds)
    try:
        if held_mode(con) is None:
            raise RestoreRefusedError(f"{warehouse} holds no data yet (no meta.warehouse row): nothing to back up")
        source = str(con.execute("SELECT current_database()").fetchone()[0])  # type: ignore[index]
        con.execute(f"ATTACH {literal(tmp)} AS {ident(alias)}")
        try:
            con.execute(f"COPY FROM DATABASE {ident(source)} TO {ident(alias)}")
        finally:
            con.execute(f"DETACH {ident(alias)}")
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        con.close()
    return dest


def backup_mode(backup: Path) -> str:
    """The source mode a backup holds (meta.warehouse); refuses a file that is not a warehouse."""
    if not backup.exists():
        raise FileNotFoundError(f"backup {backup} does not exist")
    try:
        con = duckdb.connect(str(backup), read_only=True)
    except duckdb.Error as exc:
        raise RestoreRefusedError(f"{backup} is not a DuckDB file: {str(exc).splitlines()[0]}") from exc
    try:
        mode = held_mode(con)
    finally:
        con.close()
    if mode is None:
        raise RestoreRefusedError(f"{backup} has no meta.warehouse row: not a warehouse backup")
    return mode


def restore_warehouse(
    backup: Path, warehouse: Path, *, expected_mode: str | None = None, wait_seconds: float = 120.0
) -> Path | None:
    """Replace the warehouse with a backup; returns where the replaced file was kept (None if none).

    Refuses a backup whose mode differs from ``expected_mode`` (CHINATECH_SOURCE) or from the
    mode the existing warehouse holds. The swap is one rename while this process holds the
    warehouse (no run writes meanwhile); the old file stays as ``<file>.replaced-<time>``.
    """
    backup, warehouse = Path(backup).resolve(), Path(warehouse).resolve()
    mode = backup_mode(backup)
    if expected_mode is not None and expected_mode != mode:
        raise RestoreRefusedError(
            f"backup {backup} holds {mode!r} data and the source mode is {expected_mode!r}: refusing to restore, "
            "so modes never mix (unset CHINATECH_SOURCE or set it to the backup's mode)"
        )
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    tmp = warehouse.with_name(f"{warehouse.name}.restore-{uuid.uuid4().hex[:8]}")
    shutil.copyfile(backup, tmp)
    if not warehouse.exists():
        os.replace(tmp, warehouse)
        return None
    aside = warehouse.with_name(f"{warehouse.name}.replaced-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
    try:
        con = connect_waiting(warehouse, read_only=False, wait_seconds=wait_seconds)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        held = held_mode(con)
        if held is not None and held != mode:
            raise RestoreRefusedError(
                f"backup {backup} holds {mode!r} data and warehouse {warehouse} holds {held!r}: refusing to restore; "
                f"restore it into the {mode!r} warehouse (CHINATECH_SOURCE={mode}) instead"
            )
        con.execute("CHECKPOINT")  # everything in the main file: the aside copy is complete without its WAL
        try:
            os.link(warehouse, aside)
        except OSError:
            shutil.copy2(warehouse, aside)
        os.replace(tmp, warehouse)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        with contextlib.suppress(duckdb.Error):
            con.close()
    return aside
