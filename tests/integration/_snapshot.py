"""Helpers for the snapshot and backup tests: compare two DuckDB files table by table."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb

from assets.publish import ident, literal

BASE_TABLES = (
    "SELECT table_schema, table_name FROM information_schema.tables"
    " WHERE table_catalog = current_database() AND table_type = 'BASE TABLE' ORDER BY 1, 2"
)


def base_tables(file: Path) -> list[tuple[str, str]]:
    with duckdb.connect(str(file), read_only=True) as con:
        return [(str(s), str(t)) for s, t in con.execute(BASE_TABLES).fetchall()]


def _columns(con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_catalog = ? AND table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [catalog, schema, table],
    ).fetchall()


def table_differences(expected: Path, actual: Path) -> dict[str, str]:
    """Every base table of ``expected`` vs the same name in ``actual`` (table or view): columns, types, rows.

    Rows compare as multisets (EXCEPT ALL both ways), so order and file layout do not matter.
    """
    out: dict[str, str] = {}
    with duckdb.connect(":memory:") as con:
        con.execute(f"ATTACH {literal(expected)} AS expected (READ_ONLY)")
        con.execute(f"ATTACH {literal(actual)} AS actual (READ_ONLY)")
        con.execute("USE expected")
        tables = con.execute(BASE_TABLES).fetchall()
        for schema, table in tables:
            name = f"{schema}.{table}"
            want, got = _columns(con, "expected", schema, table), _columns(con, "actual", schema, table)
            if want != got:
                out[name] = f"columns {want} != {got}"
                continue
            left, right = ident("expected", schema, table), ident("actual", schema, table)
            missing = con.execute(f"SELECT count(*) FROM (FROM {left} EXCEPT ALL FROM {right})").fetchone()[0]
            extra = con.execute(f"SELECT count(*) FROM (FROM {right} EXCEPT ALL FROM {left})").fetchone()[0]
            if missing or extra:
                out[name] = f"{missing} rows missing, {extra} rows extra"
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
