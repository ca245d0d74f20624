"""The warehouse: DuckDB I/O every asset shares (connect, transaction, upsert, publish, provenance).

Imported by the assets; it imports none of them. One way to write: a short-lived connection,
one transaction, and the source mode of the file checked before anything is written.

The location is one DuckDB file, or a DuckLake catalog (``ducklake:<catalog file>``, data as
Parquet files under ``lake_data``): attached and ``USE``d, so the same SQL runs on both.
DuckLake has no PRIMARY KEY / UNIQUE / CHECK constraints and no ``INSERT OR REPLACE``, so
on a lake the tables are created without them and every ``upsert`` / ``replace_rows`` checks
the same constraints (read from sql/schema) on the staged rows before writing: DELETE of
the matching keys, then INSERT (docs/scaling.md).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
from pydantic import Field

from assets.transforms.order import in_strict_order

REPO = Path(__file__).resolve().parents[1]
SQL_DIR = REPO / "sql"
DEFAULT_DATA_DIR = "data"
MODES = ("live", "replay", "sample")
LAKE_PREFIX = "ducklake:"
LAKE_ALIAS = "wh"
# DuckDB must never fetch an extension over the network: DuckLake is loaded by file path from
# the duckdb-extension-ducklake wheel (same version as duckdb).
NO_AUTOLOAD = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


def is_lake(location: str | Path) -> bool:
    return str(location).startswith(LAKE_PREFIX)


@lru_cache(maxsize=4)
def extension_file(name: str) -> Path:
    """The ``.duckdb_extension`` file shipped by the PyPI package ``duckdb-extension-<name>``."""
    import importlib

    package = f"duckdb_extension_{name}"
    try:
        module = importlib.import_module(package)
    except ImportError as exc:
        raise RuntimeError(
            f"DuckDB extension {name!r} is not installed: pip install duckdb-extension-{name}=={duckdb.__version__}"
        ) from exc
    found = sorted(Path(module.__file__).parent.rglob(f"{name}.duckdb_extension"))  # type: ignore[arg-type]
    if not found:
        raise RuntimeError(f"{package} holds no {name}.duckdb_extension file")
    return found[0]


def lake_catalog(location: str | Path) -> tuple[str, Path]:
    """``ducklake:<file>`` or ``ducklake:sqlite:<file>`` -> (catalog kind, catalog file resolved)."""
    spec = str(location)[len(LAKE_PREFIX) :]
    kind = "duckdb"
    if spec.startswith("sqlite:"):
        kind, spec = "sqlite", spec[len("sqlite:") :]
    return kind, repo_path(spec)


def default_lake_data(catalog: Path) -> Path:
    return catalog.with_name(catalog.name + ".files")


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


class WarehouseLockedError(dg.Failure):
    """Another process held the DuckDB file for longer than the wait allows.

    A Dagster failure that is not retried: the wait is the retry, and its bound is the setting
    (a step retry policy on top would silently multiply it).
    """

    def __init__(self, message: str) -> None:
        super().__init__(description=message, allow_retries=False)


def duckdb_config() -> dict[str, str]:
    """DuckDB's memory limit (``CHINATECH_DUCKDB_MEMORY``, default 512MB): past it, joins and key checks spill to disk.

    DuckDB's own default is 80% of RAM, which lets one large load take most of the machine.
    """
    return {"memory_limit": os.environ.get("CHINATECH_DUCKDB_MEMORY", "512MB")}


def _open(location: str | Path, lake_data: str, read_only: bool) -> duckdb.DuckDBPyConnection:
    if not is_lake(location):
        return duckdb.connect(str(location), read_only=read_only, config=duckdb_config())
    kind, catalog = lake_catalog(location)
    con = duckdb.connect(config={**NO_AUTOLOAD, **duckdb_config()})
    try:
        con.execute(f"LOAD '{extension_file('ducklake')}'")
        if kind == "sqlite":
            con.execute(f"LOAD '{extension_file('sqlite_scanner')}'")
        data = repo_path(lake_data) if lake_data else default_lake_data(catalog)
        options = [f"DATA_PATH '{data}/'"] + (["READ_ONLY"] if read_only else [])
        target = f"ducklake:{'sqlite:' if kind == 'sqlite' else ''}{catalog}"
        con.execute(f"ATTACH '{target}' AS {LAKE_ALIAS} ({', '.join(options)})")
        con.execute(f"USE {LAKE_ALIAS}")
    except BaseException:
        con.close()
        raise
    return con


def connect_waiting(
    file: Path | str, read_only: bool = False, wait_seconds: float = 120.0, lake_data: str = ""
) -> duckdb.DuckDBPyConnection:
    """Open the file (or attach the DuckLake catalog), waiting a bounded time while another process holds its lock.

    DuckDB lets one process write (and no other open the file meanwhile). Writers here hold
    connections for seconds, so waiting is enough; past ``wait_seconds`` the error names the
    file and the process DuckDB says holds it.
    """
    deadline = time.monotonic() + wait_seconds
    delay = 0.05
    while True:
        try:
            return _open(file, lake_data, read_only)
        except (duckdb.IOException, duckdb.BinderException) as exc:
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


class WarehouseNotWritableError(dg.Failure):
    """The warehouse file, or the folder DuckDB writes its .wal in, is read-only for this process
    (not retried: permissions do not change by waiting)."""

    def __init__(self, message: str) -> None:
        super().__init__(description=message, allow_retries=False)


def not_writable_reason(file: Path) -> str | None:
    """Why this process cannot write ``file`` with DuckDB, or None when it can.

    DuckDB opens the file for writing and creates ``<file>.wal`` beside it on the first
    commit, so both the file and its folder must be writable (the nearest existing folder when
    the file is new). Checked before anything is fetched, so the failure is one clear message
    rather than a "Permission denied" from the first commit.
    """
    if file.exists() and not os.access(file, os.W_OK):
        return f"the file is read-only (mode {file.stat().st_mode & 0o777:o})"
    folder = file.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        mode = folder.stat().st_mode & 0o777
        return f"its folder {folder} is read-only (mode {mode:o}; DuckDB writes {file.name}.wal there)"
    return None


class WarehouseModeError(RuntimeError):
    """The warehouse file holds data of another source mode: refuse before writing anything."""


def held_mode(con: duckdb.DuckDBPyConnection) -> str | None:
    """The source mode recorded in the file (None for a new, empty file)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database()"
        " AND table_schema = 'meta' AND table_name = 'warehouse'"
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
    path: str = Field(
        default="",
        description="DuckDB file, or a DuckLake catalog as ducklake:<catalog file> (ducklake:sqlite:<file> for a"
        " SQLite catalog); empty = <data_dir>/<mode>.duckdb",
    )
    lake_data: str = Field(
        default="", description="DuckLake only: folder of the Parquet data files; empty = <catalog file>.files"
    )
    data_dir: str = Field(default=DEFAULT_DATA_DIR, description="Folder of the default warehouse files")
    lock_wait_seconds: float = Field(
        default=120.0, description="How long a step waits for another process's lock on the file before failing"
    )

    @property
    def lake(self) -> bool:
        return is_lake(self.path)

    @property
    def location(self) -> str:
        """What ``connect_waiting`` opens: the file, or ``ducklake:...`` with the catalog resolved."""
        if self.lake:
            kind, catalog = lake_catalog(self.path)
            return f"{LAKE_PREFIX}{'sqlite:' if kind == 'sqlite' else ''}{catalog}"
        return str(self.file)

    @property
    def file(self) -> Path:
        """The DuckDB file, or the catalog file of a DuckLake."""
        if self.lake:
            return lake_catalog(self.path)[1]
        if self.path:
            return repo_path(self.path)
        if self.mode not in MODES:
            raise WarehouseModeError(f"source mode {self.mode!r}: expected one of {', '.join(MODES)}")
        return default_warehouse(self.mode, self.data_dir)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Refuse at run start, before any step fetches or writes: another mode's file, or one this
        process cannot write."""
        self.check_mode()
        self.check_writable()

    def check_writable(self) -> None:
        reason = not_writable_reason(self.file)
        if reason:
            raise WarehouseNotWritableError(
                f"warehouse {self.file} cannot be written by this process (uid {os.getuid()}): {reason}. "
                "Nothing was written. Make it writable, or point CHINATECH_WAREHOUSE at a writable file."
            )

    def check_mode(self) -> None:
        if self.mode not in MODES:
            raise WarehouseModeError(f"source mode {self.mode!r}: expected one of {', '.join(MODES)}")
        if not self.file.exists():
            return
        try:
            con = _open(self.location, self.lake_data, read_only=True)
        except (duckdb.IOException, duckdb.BinderException):
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
        if not read_only:
            self.check_writable()
        self.file.parent.mkdir(parents=True, exist_ok=True)
        con = connect_waiting(
            self.location, read_only=read_only, wait_seconds=self.lock_wait_seconds, lake_data=self.lake_data
        )
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
                    "INSERT INTO meta.warehouse (source_mode, created_at, path) SELECT ?, ?, ?"
                    " WHERE NOT EXISTS (SELECT 1 FROM meta.warehouse)",
                    [self.mode, datetime.now(UTC), self.location],
                )
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def query(self, sql: str, params: Sequence[object] | None = None) -> pl.DataFrame:
        with self.connect() as con:
            return con.execute(sql, params or []).pl()


@dataclass(frozen=True)
class TableRules:
    """A table's key and CHECK expressions as sql/schema declares them (DuckLake enforces neither)."""

    key: tuple[str, ...]
    checks: tuple[str, ...]


def _sql_files(folder: str) -> list[Path]:
    return sorted((SQL_DIR / folder).glob("*.sql"))


def _key_markers(sql: str) -> dict[str, tuple[str, ...]]:
    """Keys declared as ``-- key: a, b`` inside a CREATE TABLE (large tables: unique by the write path)."""
    out: dict[str, tuple[str, ...]] = {}
    for table, body in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+\.\w+) \((.*?)\n\);", sql, flags=re.S):
        found = re.search(r"--\s*key:\s*([\w ,]+?)\s*(?:\(|$)", body, flags=re.M)
        if found:
            out[table] = tuple(c.strip() for c in found.group(1).split(",") if c.strip())
    return out


@lru_cache(maxsize=1)
def _reference() -> tuple[dict[str, TableRules], tuple[str, ...]]:
    """Build sql/schema in memory once: per table its rules, and constraint-free DDL for a lake."""
    con = duckdb.connect()
    try:
        markers: dict[str, tuple[str, ...]] = {}
        for file in _sql_files("schema"):
            text = file.read_text()
            con.execute(text)
            markers.update(_key_markers(text))
        rules: dict[str, TableRules] = {}
        tables = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database()"
            " ORDER BY schema_name, table_name"
        ).fetchall()
        ddl = [
            f"CREATE SCHEMA IF NOT EXISTS {s}"
            for (s,) in con.execute(
                "SELECT schema_name FROM duckdb_schemas() WHERE database_name = current_database() AND NOT internal"
                " ORDER BY schema_name"
            ).fetchall()
        ]
        for schema, table in tables:
            cons = con.execute(
                "SELECT constraint_type, constraint_column_names, expression FROM duckdb_constraints()"
                " WHERE schema_name = ? AND table_name = ? ORDER BY constraint_index",
                [schema, table],
            ).fetchall()
            key = next((tuple(cols) for kind, cols, _ in cons if kind == "PRIMARY KEY"), ()) or markers.get(
                f"{schema}.{table}", ()
            )
            checks = tuple(expr for kind, _, expr in cons if kind == "CHECK")
            rules[f"{schema}.{table}"] = TableRules(key, checks)
            cols = con.execute(
                "SELECT column_name, data_type, is_nullable, column_default FROM duckdb_columns()"
                " WHERE schema_name = ? AND table_name = ? ORDER BY column_index",
                [schema, table],
            ).fetchall()
            parts = [
                f'"{name}" {dtype}' + ("" if nullable else " NOT NULL") + (f" DEFAULT {default}" if default else "")
                for name, dtype, nullable, default in cols
            ]
            ddl.append(f"CREATE TABLE IF NOT EXISTS {schema}.{table} ({', '.join(parts)})")
        return rules, tuple(ddl)
    finally:
        con.close()


def table_rules(table: str) -> TableRules:
    return _reference()[0].get(table, TableRules((), ()))


@lru_cache(maxsize=1)
def schema_hash() -> str:
    """A hash of every schema and view file: a connection skips the DDL when the file already has it."""
    digest = hashlib.sha256()
    for folder in ("schema", "views"):
        for file in _sql_files(folder):
            digest.update(file.name.encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]


def connection_is_lake(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute("SELECT type FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    return bool(row and row[0] == "ducklake")


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table (sql/schema) and view (sql/views); all statements are idempotent.

    Skipped when meta.schema_version already holds this code's version (on a DuckLake every
    CREATE OR REPLACE would otherwise be a new catalog snapshot per connection).
    """
    version = schema_hash()
    try:
        row = con.execute("SELECT 1 FROM meta.schema_version WHERE version = ?", [version]).fetchone()
        if row:
            return
    except (duckdb.CatalogException, duckdb.InvalidInputException):
        pass  # a new file, or one made before schema versions were recorded
    if connection_is_lake(con):
        for statement in _reference()[1]:
            con.execute(statement)
    else:
        for file in _sql_files("schema"):
            con.execute(file.read_text())
    for file in _sql_files("views"):
        con.execute(file.read_text())
    con.execute("CREATE TABLE IF NOT EXISTS meta.schema_version (version VARCHAR NOT NULL, applied_at TIMESTAMPTZ)")
    con.execute("INSERT INTO meta.schema_version VALUES (?, ?)", [version, datetime.now(UTC)])


# Tests only (the SIGKILL case of the fault matrix): "<table>:<seconds>" holds the transaction
# open that long right after it wrote <table>, so a test can kill the process mid-write.
PAUSE_AFTER_WRITE = "CHINATECH_TEST_PAUSE_AFTER_WRITE"


def _pause_for_tests(table: str, rows: int) -> None:
    target, _, seconds = os.environ.get(PAUSE_AFTER_WRITE, "").rpartition(":")
    if target == table:
        print(
            f"{PAUSE_AFTER_WRITE}: process {os.getpid()} wrote {rows} rows to {table}, not committed; "
            f"pausing {seconds}s",
            file=sys.stderr,
            flush=True,
        )
        time.sleep(float(seconds))


class ConstraintViolation(duckdb.ConstraintException):
    """A staged frame breaks a key or CHECK of sql/schema on a DuckLake (which enforces neither)."""


def has_primary_key(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether the table in this file has a PRIMARY KEY (files made before a key moved to the write path do)."""
    schema, name = table.split(".", 1)
    row = con.execute(
        "SELECT count(*) FROM duckdb_constraints() WHERE database_name = current_database()"
        " AND schema_name = ? AND table_name = ? AND constraint_type = 'PRIMARY KEY'",
        [schema, name],
    ).fetchone()
    return bool(row and row[0])


def _enforce(
    con: duckdb.DuckDBPyConnection,
    table: str,
    view: str,
    check_existing: bool,
    checks: bool = True,
    rows: Rows | None = None,
) -> None:
    """The table's key (and, where the database does not enforce them, its CHECKs) on the registered frame.

    ``rows`` (what ``view`` reads) lets the duplicate-key check be proven by order instead.
    """
    rules = table_rules(table)
    if checks and rules.checks:  # every CHECK in one scan of the staged rows
        counts = ", ".join(f"count(*) FILTER (WHERE NOT coalesce(({expr}), true))" for expr in rules.checks)
        bad = con.execute(f"SELECT {counts} FROM {view}").fetchone() or ()
        for expr, n in zip(rules.checks, bad, strict=True):
            if n:
                raise ConstraintViolation(f"{table}: {n} row(s) break CHECK({expr}); nothing written")
    if not rules.key:
        return
    key = ", ".join(f'"{c}"' for c in rules.key)
    if rows is not None and _keys_in_strict_order(rows, rules.key):
        dupes = 0  # proven without DuckDB's GROUP BY over every staged key
    else:
        (dupes,) = con.execute(  # type: ignore[misc]
            f"SELECT count(*) FROM (SELECT {key} FROM {view} GROUP BY ALL HAVING count(*) > 1)"
        ).fetchone()
    if dupes:
        raise ConstraintViolation(f"{table}: {dupes} duplicate key(s) ({key}) in the staged rows; nothing written")
    if check_existing:
        (clash,) = con.execute(  # type: ignore[misc]
            f"SELECT count(*) FROM (SELECT {key} FROM {view} INTERSECT SELECT {key} FROM {table})"
        ).fetchone()
        if clash:
            raise ConstraintViolation(f"{table}: {clash} staged key(s) ({key}) already held; nothing written")


def _keys_in_strict_order(rows: Rows, key: tuple[str, ...]) -> bool:
    """Whether every staged row's key is greater than the row before's (files in order): then
    no key occurs twice. Staged rows come sorted by ticker and date, and comparing neighbours
    on the key columns (a Polars scan) is ~4x cheaper than DuckDB grouping every key, which
    also spills at the memory limit. The ticker and date columns are compared first, then the
    rest of the key. False for a null that decides the order, a repeat, a step back, a missing column or other types:
    the caller groups as before, so a duplicate is still found and named the same way."""
    order = tuple(c for c in ("ticker", "trade_date") if c in key) + tuple(
        c for c in key if c not in ("ticker", "trade_date")
    )
    if isinstance(rows, Staged):
        return bool(rows.files) and in_strict_order(pl.scan_parquet(list(rows.files)), order)
    return in_strict_order(rows, order)


# DuckDB's row group (rows). Staged Parquet is written in row groups of this size: DuckDB's
# ordered bulk insert flushes its buffer (~50 MB at the 512MB limit) mid row group when the
# Parquet row groups do not line up with its own, leaving a short row group at every flush; the
# checkpoints after the load then merge those a few at a time, rewriting the table around
# them (12.6 M core rows: 175 row groups instead of 103-120, and 5 to 9 s of compaction in each
# of the next three checkpoints, the dq step's commit the first of them).
DUCKDB_ROW_GROUP = 122_880


LEFTOVER_AGE_S = 24 * 3600.0  # a temp folder untouched this long belongs to a process killed mid-step


def owner_tag() -> str:
    """``<pid>@<host>@``, put in the name of a temp folder this process owns (``left_over``)."""
    return f"{os.getpid()}@{socket.gethostname()}@"


def _owner_gone(name: str) -> bool:
    """Whether the folder's name (``...-<pid>@<host>@...``) names a process of this host that has exited."""
    parts = name.split("@")
    pid = parts[0].rsplit("-", 1)[-1]
    if len(parts) < 3 or not pid.isdigit() or parts[1] != socket.gethostname():
        return False  # another host's (a shared temp folder), or a name without an owner
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # alive, another user's
    return False


def left_over(folder: Path) -> bool:
    """Whether a temp folder was left by a killed process: its owner on this host has exited, or
    nobody touched it for ``LEFTOVER_AGE_S`` (an owner elsewhere, or a pid since reused)."""
    if _owner_gone(folder.name):
        return True
    try:
        return time.time() - folder.stat().st_mtime > LEFTOVER_AGE_S
    except OSError:
        return False  # gone meanwhile


class Staging:
    """Staged rows as Parquet files in a private temp folder, written batch by batch.

    A load of any size then needs memory for one batch, and is still published in one short
    transaction (``upsert`` / ``replace_rows`` take a ``Staged`` like a frame), so the warehouse
    lock is held for the publish only, never while fetching. Row groups are DuckDB's
    (``DUCKDB_ROW_GROUP``), so the insert leaves whole row groups and no compaction for later.
    """

    PREFIX = "chinatech-stage-"

    def __init__(self) -> None:
        self._sweep()
        self.dir = Path(tempfile.mkdtemp(prefix=self.PREFIX + owner_tag()))
        self._parts: dict[str, list[Path]] = {}
        self._rows: dict[str, int] = {}

    def _sweep(self) -> None:
        """Delete staging folders left by killed processes (a step that ends deletes its own)."""
        for folder in Path(tempfile.gettempdir()).glob(f"{self.PREFIX}*"):
            if left_over(folder):
                shutil.rmtree(folder, ignore_errors=True)

    def add(self, name: str, frame: pl.DataFrame) -> None:
        if frame.is_empty():
            return
        parts = self._parts.setdefault(name, [])
        path = self.dir / f"{name}-{len(parts):05d}.parquet"
        frame.write_parquet(path, compression="lz4", statistics=False, row_group_size=DUCKDB_ROW_GROUP)
        parts.append(path)
        self._rows[name] = self._rows.get(name, 0) + frame.height

    def get(self, name: str) -> Staged:
        return Staged(tuple(self._parts.get(name, ())), self._rows.get(name, 0))

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Staged:
    """The Parquet files of one staged table (``Staging.get``)."""

    files: tuple[Path, ...]
    height: int

    def is_empty(self) -> bool:
        return self.height == 0


Rows = pl.DataFrame | Staged


def _register(con: duckdb.DuckDBPyConnection, name: str, rows: Rows) -> None:
    if isinstance(rows, Staged):
        files = ", ".join(f"'{f}'" for f in rows.files)
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM read_parquet([{files}])")
    else:
        con.register(name, rows.to_arrow())


def _unregister(con: duckdb.DuckDBPyConnection, name: str, rows: Rows) -> None:
    if isinstance(rows, Staged):
        con.execute(f"DROP VIEW IF EXISTS {name}")
    else:
        con.unregister(name)


def _is_empty(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    (empty,) = con.execute(f"SELECT count(*) = 0 FROM (SELECT 1 FROM {table} LIMIT 1)").fetchone()  # type: ignore[misc]
    return bool(empty)


def upsert(con: duckdb.DuckDBPyConnection, table: str, frame: Rows) -> int:
    """Insert or replace ``frame`` (a frame or staged Parquet files) into ``table`` by primary key, by name.

    A DuckLake has no keys: the rows holding the staged keys are deleted, then all are inserted.
    """
    if frame.is_empty():
        return 0
    _register(con, "_upsert_frame", frame)
    try:
        lake = connection_is_lake(con)
        if lake or not has_primary_key(con, table):
            # no index to replace by: check the key (and on a lake the CHECKs) on the staged rows,
            # then delete the rows holding those keys and insert
            _enforce(con, table, "_upsert_frame", check_existing=False, checks=lake, rows=frame)
            key = table_rules(table).key
            if key and not _is_empty(con, table):  # a first load has nothing to delete
                # a join on the key columns (NOT NULL): 6x faster than a tuple IN over 12 M rows;
                # the range of the first key column lets DuckDB skip row groups by their zone maps,
                # so a one-ticker load reads that ticker's row groups, not the whole table
                on = " AND ".join(f't."{c}" = s."{c}"' for c in key)
                first = f'"{key[0]}"'
                lo, hi = con.execute(f"SELECT min({first}), max({first}) FROM _upsert_frame").fetchone()  # type: ignore[misc]
                con.execute(
                    f"DELETE FROM {table} AS t USING _upsert_frame AS s WHERE t.{first} BETWEEN ? AND ? AND {on}",
                    [lo, hi],
                )
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _upsert_frame")
        else:
            con.execute(f"INSERT OR REPLACE INTO {table} BY NAME SELECT * FROM _upsert_frame")
    finally:
        _unregister(con, "_upsert_frame", frame)
    _pause_for_tests(table, frame.height)
    return frame.height


def replace_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    frame: Rows,
    where: str,
    params: Sequence[object] = (),
) -> int:
    """Delete the rows matching ``where`` and insert ``frame`` (a frame or staged files): a partition swap."""
    con.execute(f"DELETE FROM {table} WHERE {where}", list(params))
    if frame.is_empty():
        return 0
    _register(con, "_replace_frame", frame)
    try:
        lake = connection_is_lake(con)
        if lake or not has_primary_key(con, table):
            # an empty table (a first load, or every row just deleted) cannot clash with the staged keys
            clash = where.strip().lower() != "true" and not _is_empty(con, table)
            _enforce(con, table, "_replace_frame", check_existing=clash, checks=lake, rows=frame)
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _replace_frame")
    finally:
        _unregister(con, "_replace_frame", frame)
    _pause_for_tests(table, frame.height)
    return frame.height


_STATS_RANGE = re.compile(r"\[Min: ([^,\]]*), Max: ([^\]]*)\]")


def _stats_range(con: duckdb.DuckDBPyConnection, table: str, col: str) -> tuple[object, object, int] | None:
    """(min, max, rows) of ``col`` from DuckDB's column statistics, or None when they cannot be trusted.

    Statistics are a bound (a DELETE never narrows them, this transaction's own rows may be
    missing), so both ends are proven exact with probes the zone maps answer from a few row
    groups: each end is held by some row, and no row lies outside them.
    """
    try:
        got = con.execute(f"SELECT stats({col}) FROM {table} LIMIT 1").fetchone()
        (dtype,) = con.execute(f"SELECT typeof({col}) FROM {table} LIMIT 1").fetchone() or (None,)
    except duckdb.Error:
        return None
    found = _STATS_RANGE.search(str(got[0])) if got else None
    if not found or dtype is None:
        return None
    lo, hi = found.groups()
    cast = f"TRY_CAST(? AS {dtype})"
    rows, lo_v, hi_v, has_lo, has_hi, outside = con.execute(  # type: ignore[misc]
        f"SELECT (SELECT count(*) FROM {table}), {cast}, {cast},"
        f" EXISTS (SELECT 1 FROM {table} WHERE {col} = {cast}),"
        f" EXISTS (SELECT 1 FROM {table} WHERE {col} = {cast}),"
        f" EXISTS (SELECT 1 FROM {table} WHERE {col} < {cast} OR {col} > {cast})",
        [lo, hi, lo, hi, lo, hi],
    ).fetchone()
    if lo_v is None or hi_v is None or not has_lo or not has_hi or outside:
        return None
    return lo_v, hi_v, rows


def table_summary(con: duckdb.DuckDBPyConnection, table: str, date_col: str | None) -> dict[str, object]:
    """Total rows and date range of a whole table (not just the last load), for asset metadata.

    The range comes from DuckDB's statistics, proven exact by zone-map probes (``_stats_range``):
    a one-ticker load on a 12.6 M-row table then reads a few row groups, not every row. Any
    doubt falls back to scanning the table.
    """
    if date_col:
        known = _stats_range(con, table, date_col)
        if known is not None:
            lo, hi, rows = known
        else:
            rows, lo, hi = con.execute(f"SELECT count(*), min({date_col}), max({date_col}) FROM {table}").fetchone()  # type: ignore[misc]
        empty = "(no rows)"  # not the text "None" in the UI
        return {"table_rows": rows, "table_date_min": str(lo or empty), "table_date_max": str(hi or empty)}
    (rows,) = con.execute(f"SELECT count(*) FROM {table}").fetchone()  # type: ignore[misc]
    return {"table_rows": rows}


def change_counts(
    con: duckdb.DuckDBPyConnection, table: str, frame: Rows, keys: list[str], columns: list[str]
) -> dict[str, int]:
    """How a write of ``frame`` (a frame or staged files) will change ``table``: rows inserted, updated, unchanged.

    Run inside the publishing transaction before the write, so the counts describe that write.
    """
    if frame.is_empty():
        return {"inserted": 0, "updated": 0, "unchanged": 0}
    (empty,) = con.execute(f"SELECT count(*) = 0 FROM (SELECT 1 FROM {table} LIMIT 1)").fetchone()  # type: ignore[misc]
    if empty:  # a first load: every row is new, no join of millions of rows needed
        return {"inserted": frame.height, "updated": 0, "unchanged": 0}
    _register(con, "_staged", frame)
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
        _unregister(con, "_staged", frame)
    return {"inserted": inserted, "updated": updated, "unchanged": unchanged}
