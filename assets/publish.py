"""Reader snapshot: the warehouse as Parquet partitions plus a small DuckDB file of views.

DuckDB lets one process hold a file for writing and no other process open it meanwhile, so
readers (``make query``, ``make sql``, notebooks, BI tools) read a snapshot published after
each successful run instead of the live file. Each table is written as Parquet, per year of
``trade_date`` where it has that column. A partition is fingerprinted in DuckDB (row count
and the sum of its row hashes) and rewritten only when that changed, under a
content-addressed, immutable name: a daily update costs what it changed, not the warehouse.
The reader file (a view per table over its current files, plus the warehouse's own views and
macros) is built under a temporary name and renamed into place, so a reader sees the previous
publish or this one, never half of one. Files no longer referenced by the current or the
previous publish are deleted.

Layout next to ``data/<mode>.duckdb``::

    data/<mode>.read.duckdb                      what readers open (views, meta.snapshot)
    data/<mode>.snapshot/parts/<schema>.<table>/<partition>-<digest>.parquet
    data/<mode>.snapshot/manifests/<published>-<id>.json   one per publish
    data/<mode>.snapshot/CURRENT                 the manifest the reader file was built from
"""

import contextlib
import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from assets.operations import AFTER_UPSTREAM
from assets.warehouse import WarehouseResource, connect_waiting, held_mode

READER_SNAPSHOT = dg.AssetKey(["publish", "reader_snapshot"])
# Every other asset, as a direct dependency: in any job that selects the publish (all_assets, prices,
# fundamentals, filings) it runs after every selected step, and a failure anywhere skips it. A test
# checks none is left out. Keys, not imports of the asset modules, so readers (make query) load
# this module without the graph.
PUBLISH_AFTER = [
    dg.AssetKey(path)
    for path in (
        ["raw", "prices_daily"],
        ["core", "prices_daily"],
        ["dq", "price_anomalies"],
        ["core", "fx_daily"],
        ["raw", "fundamentals_info"],
        ["core", "fundamentals_snapshot"],
        ["core", "financials_annual"],
        ["raw", "sec_facts"],
        ["core", "capex"],
        # marts (assets/marts.py, assets/report.py)
        ["marts", "instruments"],
        ["marts", "group_members"],
        ["marts", "as_of_dates"],
        ["marts", "returns_daily"],
        ["marts", "hstech_basket"],
        ["marts", "hstech_basket_weights"],
        ["marts", "performance"],
        ["marts", "weekly_streaks"],
        ["marts", "adr_hk_premium"],
        ["marts", "capex_trend"],
        ["marts", "valuation"],
        ["marts", "claims_scorecard"],
        ["marts", "rally_report"],
    )
]
# Tables with this DATE column are written per year of it (the big, date-keyed tables).
PARTITION_COLUMN = "trade_date"
WHOLE = "all"
READ_ONLY = 0o444
_ROW = "_snapshot_row"


def reader_file(warehouse: Path) -> Path:
    """data/<mode>.duckdb -> data/<mode>.read.duckdb: the file readers open."""
    return warehouse.with_name(f"{_stem(warehouse)}.read.duckdb")


def snapshot_dir(warehouse: Path) -> Path:
    """data/<mode>.duckdb -> data/<mode>.snapshot: the Parquet files and manifests."""
    return warehouse.with_name(f"{_stem(warehouse)}.snapshot")


def _stem(warehouse: Path) -> str:
    return warehouse.name.removesuffix(".duckdb")


def ident(*names: str) -> str:
    """A quoted, dotted SQL identifier."""
    return ".".join('"' + n.replace('"', '""') + '"' for n in names)


def literal(text: str | Path) -> str:
    return "'" + str(text).replace("'", "''") + "'"


@dataclass(frozen=True)
class Partition:
    """One Parquet file of one table: its key ('all', a year, or 'null') and content fingerprint."""

    table: str
    key: str
    rows: int
    digest: str
    file: str  # relative to <snapshot>/parts
    written: bool = False
    bytes: int = 0


@dataclass
class PublishResult:
    """What a publish did: the figures the asset reports and the tests assert."""

    reader: Path
    manifest: Path
    tables: int
    partitions: list[Partition] = field(default_factory=list)
    files_removed: int = 0
    seconds: float = 0.0

    @property
    def written(self) -> list[Partition]:
        return [p for p in self.partitions if p.written]

    @property
    def reused(self) -> list[Partition]:
        return [p for p in self.partitions if not p.written]

    @property
    def bytes_written(self) -> int:
        return sum(p.bytes for p in self.written)

    @property
    def snapshot_bytes(self) -> int:
        return sum(p.bytes for p in self.partitions) + self.reader.stat().st_size

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.partitions)

    def summary(self) -> str:
        return (
            f"published {self.reader}: {self.tables} tables, {self.rows} rows; partitions rewritten "
            f"{len(self.written)}, reused {len(self.reused)}; {self.bytes_written / 1e6:.2f} MB written, "
            f"snapshot {self.snapshot_bytes / 1e6:.2f} MB; {self.files_removed} old files removed; "
            f"{self.seconds:.2f}s"
        )


def _tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """Every base table of the warehouse, whatever schema: tables added later are published too."""
    rows = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables"
        " WHERE table_catalog = current_database() AND table_type = 'BASE TABLE' ORDER BY 1, 2"
    ).fetchall()
    return [(str(s), str(t)) for s, t in rows]


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[tuple[str, str]]:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_catalog = current_database()"
        " AND table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, table],
    ).fetchall()
    return [(str(c), str(t)) for c, t in rows]


def _fingerprints(con: duckdb.DuckDBPyConnection, schema: str, table: str, by_year: bool) -> list[tuple[str, int, str]]:
    """(partition key, rows, sum of row hashes) per partition: one scan of the table in DuckDB."""
    key = f"coalesce(CAST(year({ident(PARTITION_COLUMN)}) AS VARCHAR), 'null')" if by_year else literal(WHOLE)
    rows = con.execute(
        f"SELECT {key} AS part, count(*), CAST(coalesce(sum(hash({_ROW})), 0) AS VARCHAR)"
        f" FROM {ident(schema, table)} AS {_ROW} GROUP BY ALL ORDER BY 1"
    ).fetchall()
    found = [(str(k), int(n), str(h)) for k, n, h in rows]
    return found or [(WHOLE, 0, "0")]  # an empty table still gets a (0-row) file carrying its columns


def _where(key: str) -> str:
    column = ident(PARTITION_COLUMN)
    if key == WHOLE:
        return "true"
    if key == "null":
        return f"{column} IS NULL"
    year = int(key)  # a range on the column itself, so DuckDB's zone maps skip the other years
    return f"{column} >= make_date({year}, 1, 1) AND {column} < make_date({year + 1}, 1, 1)"


def _digest(table: str, key: str, columns: list[tuple[str, str]], rows: int, hashes: str) -> str:
    text = json.dumps([table, key, columns, rows, hashes, duckdb.__version__])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _write_partitions(
    con: duckdb.DuckDBPyConnection, parts_dir: Path, schema: str, table: str
) -> tuple[list[tuple[str, str]], list[Partition]]:
    """Fingerprint every partition of a table; write the ones whose content-addressed file is missing."""
    columns = _columns(con, schema, table)
    by_year = any(c == PARTITION_COLUMN and t == "DATE" for c, t in columns)
    name = f"{schema}.{table}"
    out: list[Partition] = []
    for key, rows, hashes in _fingerprints(con, schema, table, by_year):
        digest = _digest(name, key, columns, rows, hashes)
        rel = f"{_safe(name)}/{_safe(key)}-{digest}.parquet"
        path = parts_dir / rel
        written = False
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.tmp-{uuid.uuid4().hex[:8]}")
            con.execute(
                f"COPY (SELECT * FROM {ident(schema, table)} WHERE {_where(key)}) TO {literal(tmp)}"
                " (FORMAT parquet, COMPRESSION zstd)"
            )
            os.chmod(tmp, READ_ONLY)
            os.replace(tmp, path)
            written = True
        out.append(Partition(name, key, rows, digest, rel, written, path.stat().st_size))
    return columns, out


def _view_sql(con: duckdb.DuckDBPyConnection, columns: list[tuple[str, str]], files: list[Path]) -> str:
    """SELECT over the table's files, casting any column whose Parquet type differs from the table's."""
    source = "read_parquet([" + ", ".join(literal(f) for f in files) + "])"
    read = dict(
        (str(r[0]), str(r[1]))
        for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({literal(files[0])})").fetchall()
    )
    select = [ident(c) if read.get(c) == t else f"CAST({ident(c)} AS {t}) AS {ident(c)}" for c, t in columns]
    return f"SELECT {', '.join(select)} FROM {source}"


def _build_reader(
    con: duckdb.DuckDBPyConnection,
    alias: str,
    tables: dict[str, tuple[list[tuple[str, str]], list[Partition]]],
    parts_dir: Path,
    info: dict[str, Any],
) -> None:
    """Inside the attached reader: the warehouse's schemas, views and macros, each table a view over its files."""
    wh = str(con.execute("SELECT current_database()").fetchone()[0])  # type: ignore[index]
    con.execute(f"COPY FROM DATABASE {ident(wh)} TO {ident(alias)} (SCHEMA)")
    for name, (columns, partitions) in tables.items():
        schema, table = name.split(".", 1)
        target = ident(alias, schema, table)
        con.execute(f"DROP TABLE {target}")
        files = [(parts_dir / p.file).resolve() for p in partitions]
        con.execute(f"CREATE VIEW {target} AS {_view_sql(con, columns, files)}")
    for schema, table, comment in con.execute(
        "SELECT schema_name, table_name, comment FROM duckdb_tables()"
        " WHERE database_name = current_database() AND comment IS NOT NULL"
    ).fetchall():
        con.execute(f"COMMENT ON VIEW {ident(alias, schema, table)} IS {literal(comment)}")
    for schema, table, column, comment in con.execute(
        "SELECT c.schema_name, c.table_name, c.column_name, c.comment FROM duckdb_columns() AS c"
        " JOIN duckdb_tables() AS t USING (database_name, schema_name, table_name)"
        " WHERE c.database_name = current_database() AND c.comment IS NOT NULL"
    ).fetchall():
        con.execute(f"COMMENT ON COLUMN {ident(alias, schema, table, column)} IS {literal(comment)}")
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(alias, 'meta')}")
    con.execute(
        f"CREATE TABLE {ident(alias, 'meta', 'snapshot')} AS SELECT ?::TIMESTAMPTZ AS published_at,"
        " ?::VARCHAR AS warehouse, ?::VARCHAR AS source_mode, ?::VARCHAR AS run_id, ?::VARCHAR AS manifest,"
        " ?::INTEGER AS tables, ?::INTEGER AS partitions, ?::INTEGER AS partitions_rewritten, ?::BIGINT AS rows",
        [
            info["published_at"],
            info["warehouse"],
            info["source_mode"],
            info["run_id"],
            info["id"],
            len(tables),
            sum(len(p) for _, p in tables.values()),
            sum(1 for _, ps in tables.values() for p in ps if p.written),
            sum(p.rows for _, ps in tables.values() for p in ps),
        ],
    )
    con.execute(
        f"CREATE TABLE {ident(alias, 'meta', 'snapshot_partitions')} (table_name VARCHAR, partition_key VARCHAR,"
        " rows BIGINT, file VARCHAR, bytes BIGINT, rewritten BOOLEAN)"
    )
    con.executemany(
        f"INSERT INTO {ident(alias, 'meta', 'snapshot_partitions')} VALUES (?, ?, ?, ?, ?, ?)",
        [
            [p.table, p.key, p.rows, str((parts_dir / p.file).resolve()), p.bytes, p.written]
            for _, ps in tables.values()
            for p in ps
        ],
    )


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _referenced(manifest: Path) -> set[str]:
    data = json.loads(manifest.read_text())
    return {p["file"] for t in data["tables"].values() for p in t["partitions"]}


def _collect_garbage(root: Path, reader: Path, previous: str | None) -> int:
    """Delete files the current and the previous publish do not reference (and leftovers of crashed ones).

    Manifests newer than the previous one are kept too: a publish that crashed before its
    pointer was written may have been swapped in, and a reader may still hold it.
    """
    manifests = sorted((root / "manifests").glob("*.json"))
    names = [m.name for m in manifests]
    keep_from = previous if previous in names else names[-1]
    keep = [m for m in manifests if m.name >= keep_from]
    referenced = set().union(*(_referenced(m) for m in keep))
    removed = 0
    parts = root / "parts"
    for path in sorted(parts.rglob("*")):
        if path.is_file() and path.relative_to(parts).as_posix() not in referenced:
            path.unlink()
            removed += 1
    for folder in sorted(p for p in parts.iterdir() if p.is_dir()):
        if not any(folder.iterdir()):
            folder.rmdir()
    for manifest in manifests:
        if manifest.name < keep_from:
            manifest.unlink()
    for leftover in reader.parent.glob(f"{reader.name}.tmp-*"):
        leftover.unlink()
    return removed


def publish_snapshot(
    warehouse: Path,
    *,
    wait_seconds: float = 120.0,
    run_id: str | None = None,
    log: Callable[[str], None] | None = None,
) -> PublishResult:
    """Publish the warehouse's current state for readers; only changed partitions are rewritten.

    Holds the warehouse (a normal connection, waiting up to ``wait_seconds`` for a running
    write) from the first read to the garbage collection, so the snapshot is one consistent
    state and two publishers never interleave.
    """
    started = time.monotonic()
    warehouse = Path(warehouse).resolve()
    if not warehouse.exists():
        raise FileNotFoundError(f"warehouse {warehouse} does not exist yet: nothing to publish (run `make demo`)")
    if warehouse.name.endswith(".read.duckdb"):
        raise ValueError(f"{warehouse} is a reader snapshot, not a warehouse: publish the warehouse it was made from")
    root, reader = snapshot_dir(warehouse), reader_file(warehouse)
    parts_dir, manifests_dir = root / "parts", root / "manifests"
    parts_dir.mkdir(parents=True, exist_ok=True)
    manifests_dir.mkdir(parents=True, exist_ok=True)
    pointer = root / "CURRENT"
    previous = pointer.read_text().strip() if pointer.exists() else None
    now = datetime.now(UTC)
    snapshot_id = f"{now:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:6]}"
    alias = f"_reader_{uuid.uuid4().hex[:8]}"
    tmp_reader = reader.with_name(f"{reader.name}.tmp-{uuid.uuid4().hex[:8]}")

    con = connect_waiting(warehouse, read_only=False, wait_seconds=wait_seconds)
    try:
        con.execute(f"ATTACH {literal(tmp_reader)} AS {ident(alias)}")
        try:
            con.execute("BEGIN TRANSACTION")  # one read snapshot of every table
            try:
                mode = held_mode(con)
                tables: dict[str, tuple[list[tuple[str, str]], list[Partition]]] = {}
                for schema, table in _tables(con):
                    tables[f"{schema}.{table}"] = _write_partitions(con, parts_dir, schema, table)
                info = {
                    "id": snapshot_id,
                    "published_at": now.isoformat(),
                    "warehouse": str(warehouse),
                    "reader": str(reader),
                    "source_mode": mode,
                    "run_id": run_id,
                    "duckdb": duckdb.__version__,
                }
                _build_reader(con, alias, tables, parts_dir, info)
                con.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                raise
        finally:
            con.execute(f"DETACH {ident(alias)}")
        manifest = manifests_dir / f"{snapshot_id}.json"
        manifest.write_text(
            json.dumps(
                {
                    **info,
                    "tables": {
                        name: {
                            "columns": columns,
                            "partition_column": PARTITION_COLUMN if any(p.key != WHOLE for p in ps) else None,
                            "partitions": [
                                {"key": p.key, "rows": p.rows, "file": p.file, "bytes": p.bytes} for p in ps
                            ],
                        }
                        for name, (columns, ps) in tables.items()
                    },
                },
                indent=1,
            )
        )
        # read-only on disk: a tool opening it read-write fails at once, instead of leaving a WAL
        # beside it that the next reader file would inherit
        os.chmod(tmp_reader, READ_ONLY)
        _fsync(tmp_reader)
        os.replace(tmp_reader, reader)  # the swap: readers opening the file now get this publish
        _fsync(reader.parent)
        pointer_tmp = pointer.with_name(f"CURRENT.tmp-{uuid.uuid4().hex[:8]}")
        pointer_tmp.write_text(manifest.name + "\n")
        os.replace(pointer_tmp, pointer)
        removed = _collect_garbage(root, reader, previous)
    except BaseException:
        tmp_reader.unlink(missing_ok=True)
        raise
    finally:
        con.close()
    result = PublishResult(
        reader=reader,
        manifest=manifest,
        tables=len(tables),
        partitions=[p for _, ps in tables.values() for p in ps],
        files_removed=removed,
        seconds=time.monotonic() - started,
    )
    if log:
        log(result.summary())
    return result


def _table_summary(partitions: Iterable[Partition]) -> str:
    """Per table: rows, files, files rewritten by this publish, bytes (the asset's preview)."""
    per: dict[str, list[Partition]] = {}
    for p in partitions:
        per.setdefault(p.table, []).append(p)
    lines = ["| table | rows | files | rewritten | bytes |", "|---|---:|---:|---:|---:|"]
    for table, ps in sorted(per.items()):
        rewritten = sum(p.written for p in ps)
        lines.append(f"| {table} | {sum(p.rows for p in ps)} | {len(ps)} | {rewritten} | {sum(p.bytes for p in ps)} |")
    return "\n".join(lines)


@dg.asset(
    key=READER_SNAPSHOT,
    deps=PUBLISH_AFTER,
    group_name="publish",
    kinds={"duckdb", "parquet"},
    pool="duckdb",
    automation_condition=AFTER_UPSTREAM,
    description=(
        "The read-only snapshot readers open while runs write: data/<mode>.read.duckdb (views over "
        "Parquet partitions in data/<mode>.snapshot, plus every view and macro of the warehouse). "
        "The last step of every job, so a run that fails anywhere upstream never publishes; only "
        "partitions whose content changed are rewritten, and the reader file is swapped in atomically."
    ),
)
def reader_snapshot(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    if warehouse.lake:  # a DuckLake's readers already read committed snapshots, never a write in progress
        return dg.MaterializeResult(
            metadata={"snapshot": dg.MetadataValue.text(f"none needed: {warehouse.location} is a DuckLake")}
        )
    result = publish_snapshot(
        warehouse.file, wait_seconds=warehouse.lock_wait_seconds, run_id=context.run.run_id, log=context.log.info
    )
    return dg.MaterializeResult(
        metadata={
            "snapshot": dg.MetadataValue.path(str(result.reader)),
            "manifest": dg.MetadataValue.path(str(result.manifest)),
            "tables": dg.MetadataValue.int(result.tables),
            "dagster/row_count": dg.MetadataValue.int(result.rows),
            "partitions_rewritten": dg.MetadataValue.int(len(result.written)),
            "partitions_reused": dg.MetadataValue.int(len(result.reused)),
            "bytes_written": dg.MetadataValue.int(result.bytes_written),
            "snapshot_bytes": dg.MetadataValue.int(result.snapshot_bytes),
            "files_removed": dg.MetadataValue.int(result.files_removed),
            "seconds": dg.MetadataValue.float(round(result.seconds, 3)),
            "preview": dg.MetadataValue.md(_table_summary(result.partitions)),
        }
    )
