"""The warehouse: DuckDB I/O every asset shares (connect, transaction, upsert, publish, provenance).

Imported by the assets; it imports none of them. One way to write: a short-lived connection,
one transaction, and the source mode of the file checked before anything is written.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
from pydantic import Field

REPO = Path(__file__).resolve().parents[1]
SQL_DIR = REPO / "sql"
DEFAULT_DATA_DIR = "data"
MODES = ("live", "replay", "sample")


def repo_path(value: str) -> Path:
    """Resolve a relative setting against the repository root, so it works from any cwd."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else (REPO / path).resolve()


def default_warehouse(mode: str, data_dir: str = DEFAULT_DATA_DIR) -> Path:
    """One file per source mode (data/sample.duckdb, data/replay.duckdb, data/live.duckdb): modes never share."""
    return repo_path(data_dir) / f"{mode}.duckdb"


def new_load_id(asset: str) -> str:
    """Sortable, unique id for one load: UTC timestamp plus a random suffix."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{asset}-{uuid.uuid4().hex[:8]}"


class WarehouseLockedError(RuntimeError):
    """Another process held the DuckDB file for longer than the wait allows."""


def connect_waiting(file: Path, read_only: bool = False, wait_seconds: float = 120.0) -> duckdb.DuckDBPyConnection:
    """Open the file, waiting a bounded time while another process holds DuckDB's lock on it.

    DuckDB lets one process write (and no other open the file meanwhile). Writers here hold
    connections for seconds, so waiting is enough; past ``wait_seconds`` the error names the
    file and the process DuckDB says holds it.
    """
    deadline = time.monotonic() + wait_seconds
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(file), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                holder = re.search(r"\(PID (\d+)\)", str(exc))
                who = f"process {holder.group(1)}" if holder else "another process"
                raise WarehouseLockedError(
                    f"warehouse {file} is locked by {who} (a run writing it); waited {wait_seconds:.0f}s. "
                    "Readers should use the published snapshot; writers retry when that run ends."
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


class WarehouseModeError(RuntimeError):
    """The warehouse file holds data of another source mode: refuse before writing anything."""


def held_mode(con: duckdb.DuckDBPyConnection) -> str | None:
    """The source mode recorded in the file (None for a new, empty file)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'meta' AND table_name = 'warehouse'"
    ).fetchone()
    if not exists or not exists[0]:
        return None
    row = con.execute("SELECT source_mode FROM meta.warehouse").fetchone()
    return None if row is None else str(row[0])


def mode_mismatch_message(file: Path, held: str, wanted: str) -> str:
    return (
        f"warehouse {file} holds {held!r} data and this run's source is {wanted!r}: refusing to write, "
        "so the two never mix. Ways out: point CHINATECH_WAREHOUSE at another file (the default for "
        f"{wanted!r} is {default_warehouse(wanted).relative_to(REPO)}), or rebuild this file from scratch "
        f"with `make run REBUILD=1` (the old file is moved aside, not deleted)."
    )


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB file, holding data of exactly one source mode (recorded in meta.warehouse).

    DuckDB allows one writer process, so every asset opens a connection, writes in one
    transaction and closes it; the instance's concurrency pool keeps writers serial.
    """

    mode: str = Field(description="Source mode this run writes (live, replay, sample): the file must hold the same")
    path: str = Field(default="", description="DuckDB file; empty = <data_dir>/<mode>.duckdb")
    data_dir: str = Field(default=DEFAULT_DATA_DIR, description="Folder of the default warehouse files")
    lock_wait_seconds: float = Field(
        default=120.0, description="How long a step waits for another process's lock on the file before failing"
    )

    @property
    def file(self) -> Path:
        if self.path:
            return repo_path(self.path)
        if self.mode not in MODES:
            raise WarehouseModeError(f"source mode {self.mode!r}: expected one of {', '.join(MODES)}")
        return default_warehouse(self.mode, self.data_dir)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Refuse at run start, before any step fetches or writes, when the file holds another mode."""
        self.check_mode()

    def check_mode(self) -> None:
        if self.mode not in MODES:
            raise WarehouseModeError(f"source mode {self.mode!r}: expected one of {', '.join(MODES)}")
        if not self.file.exists():
            return
        try:
            con = duckdb.connect(str(self.file), read_only=True)
        except duckdb.IOException:
            return  # another process writes right now; every write checks again under its own lock
        try:
            held = held_mode(con)
        finally:
            con.close()
        if held is not None and held != self.mode:
            raise WarehouseModeError(mode_mismatch_message(self.file, held, self.mode))

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        if read_only and not self.file.exists():
            raise FileNotFoundError(f"warehouse {self.file} does not exist yet: run `make demo`")
        self.file.parent.mkdir(parents=True, exist_ok=True)
        con = connect_waiting(self.file, read_only=read_only, wait_seconds=self.lock_wait_seconds)
        try:
            if not read_only:
                held = held_mode(con)
                if held is not None and held != self.mode:
                    raise WarehouseModeError(mode_mismatch_message(self.file, held, self.mode))
                ensure_schema(con)
            yield con
        finally:
            con.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection inside BEGIN/COMMIT: an error (or a killed process) leaves no trace.

        The first committed write records the file's source mode in meta.warehouse.
        """
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(
                    "INSERT INTO meta.warehouse (source_mode, created_at, path) VALUES (?, ?, ?)"
                    " ON CONFLICT DO NOTHING",
                    [self.mode, datetime.now(UTC), str(self.file)],
                )
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def query(self, sql: str, params: Sequence[object] | None = None) -> pl.DataFrame:
        with self.connect() as con:
            return con.execute(sql, params or []).pl()


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table (sql/schema) and view (sql/views); all statements are idempotent."""
    for folder in ("schema", "views"):
        for file in sorted((SQL_DIR / folder).glob("*.sql")):
            con.execute(file.read_text())


def _insert(con: duckdb.DuckDBPyConnection, verb: str, table: str, frame: pl.DataFrame) -> int:
    if frame.is_empty():
        return 0
    con.register("_frame", frame.to_arrow())
    try:
        con.execute(f"{verb} INTO {table} BY NAME SELECT * FROM _frame")
    finally:
        con.unregister("_frame")
    return frame.height


def upsert(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> int:
    """Insert or replace ``frame`` into ``table`` by primary key, matching columns by name."""
    return _insert(con, "INSERT OR REPLACE", table, frame)


def replace_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    frame: pl.DataFrame,
    where: str,
    params: Sequence[object] = (),
) -> int:
    """Delete the rows matching ``where`` and insert ``frame``: a partition swap."""
    con.execute(f"DELETE FROM {table} WHERE {where}", list(params))
    return _insert(con, "INSERT", table, frame)


def table_summary(con: duckdb.DuckDBPyConnection, table: str, date_col: str | None) -> dict[str, object]:
    """Total rows and date range of a whole table (not just the last load), for asset metadata."""
    if date_col:
        rows, lo, hi = con.execute(f"SELECT count(*), min({date_col}), max({date_col}) FROM {table}").fetchone()  # type: ignore[misc]
        return {"table_rows": rows, "table_date_min": str(lo), "table_date_max": str(hi)}
    (rows,) = con.execute(f"SELECT count(*) FROM {table}").fetchone()  # type: ignore[misc]
    return {"table_rows": rows}


def change_counts(
    con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame, keys: list[str], columns: list[str]
) -> dict[str, int]:
    """How a write of ``frame`` will change ``table``: rows inserted, updated and unchanged (by key).

    Run inside the publishing transaction before the write, so the counts describe that write.
    """
    if frame.is_empty():
        return {"inserted": 0, "updated": 0, "unchanged": 0}
    con.register("_staged", frame.select(*keys, *columns).to_arrow())
    try:
        on = " AND ".join(f"s.{k} = t.{k}" for k in keys)
        differs = " OR ".join(f"s.{c} IS DISTINCT FROM t.{c}" for c in columns) or "false"
        inserted, updated, unchanged = con.execute(
            f"SELECT count(*) FILTER (WHERE t.{keys[0]} IS NULL),"
            f" count(*) FILTER (WHERE t.{keys[0]} IS NOT NULL AND ({differs})),"
            f" count(*) FILTER (WHERE t.{keys[0]} IS NOT NULL AND NOT ({differs}))"
            f" FROM _staged s LEFT JOIN {table} t ON {on}"
        ).fetchone()  # type: ignore[misc]
    finally:
        con.unregister("_staged")
    return {"inserted": inserted, "updated": updated, "unchanged": unchanged}
