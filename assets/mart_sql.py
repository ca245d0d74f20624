"""Loader for ``sql/marts/*.sql``: one file per mart, readable alone.

A file starts with a comment header: the table (``-- marts.name``), a description, and a
``Columns:`` list (``--   column   meaning``, continuation lines indented further). Below it,
named queries (``-- name: mart``, ``-- name: inputs``...) in the aiosql convention. The
header is the single source of the mart's documentation: the asset's description, the
Dagster column schema and the DuckDB column comments all come from it, and a test checks
that it names exactly the columns the mart has.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

MARTS_SQL_DIR = Path(__file__).resolve().parents[1] / "sql" / "marts"

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$")
_COLUMN = re.compile(r"^--   (\w+)\s+(.*)$")
_CONTINUATION = re.compile(r"^--\s{4,}(\S.*)$")
_PARAM = re.compile(r"\$(\w+)")


@dataclass(frozen=True)
class MartSql:
    """One mart's SQL file: where it goes, what it is, its columns and its named queries."""

    name: str
    table: str
    description: str
    columns: dict[str, str]
    queries: dict[str, str]

    def query(self, name: str = "mart") -> str:
        if name not in self.queries:
            raise KeyError(f"sql/marts/{self.name}.sql has no query named {name!r} (has {sorted(self.queries)})")
        return self.queries[name]

    def run(
        self, con: duckdb.DuckDBPyConnection, name: str = "mart", params: Mapping[str, Any] | None = None
    ) -> pl.DataFrame:
        """Run a named query with the ``$params`` it uses (others are ignored)."""
        return run_sql(con, self.query(name), params)


def run_sql(con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None = None) -> pl.DataFrame:
    """Execute ``sql`` passing only the named parameters it mentions (DuckDB refuses extras)."""
    used = set(_PARAM.findall(_strip_comments(sql)))
    missing = used - set(params or {})
    if missing:
        raise KeyError(f"SQL needs parameters {sorted(missing)}")
    return con.execute(sql, {k: v for k, v in (params or {}).items() if k in used}).pl()


def _strip_comments(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines())


def parse_mart_sql(name: str, text: str) -> MartSql:
    """Split a mart file into header (table, description, columns) and named queries."""
    lines = text.splitlines()
    header: list[str] = []
    for line in lines:
        if _NAME.match(line) or not line.startswith("--"):
            break
        header.append(line)
    if not header or not re.match(r"^--\s*marts\.\w+\s*$", header[0]):
        raise ValueError(f"sql/marts/{name}.sql must start with '-- marts.<table>'")
    table = header[0].removeprefix("--").strip()
    description: list[str] = []
    columns: dict[str, str] = {}
    in_columns = False
    last: str | None = None
    for line in header[1:]:
        if line.strip() == "-- Columns:":
            in_columns = True
            continue
        if not in_columns:
            description.append(line.removeprefix("--").strip())
            continue
        if m := _COLUMN.match(line):
            last = m.group(1)
            columns[last] = m.group(2).strip()
        elif (m := _CONTINUATION.match(line)) and last:
            columns[last] += " " + m.group(1).strip()
    queries: dict[str, str] = {}
    current: str | None = None
    body: list[str] = []
    for line in lines[len(header) :]:
        if m := _NAME.match(line):
            if current:
                queries[current] = "\n".join(body).strip().rstrip(";")
            current, body = m.group(1), []
        elif current:
            body.append(line)
    if current:
        queries[current] = "\n".join(body).strip().rstrip(";")
    if not columns:
        raise ValueError(f"sql/marts/{name}.sql: no '-- Columns:' list in the header")
    if not queries:
        raise ValueError(f"sql/marts/{name}.sql: no '-- name: ...' query")
    paragraphs: list[str] = []
    current_par: list[str] = []
    for text_line in [*description, ""]:
        if text_line:
            current_par.append(text_line)
        elif current_par:
            paragraphs.append(" ".join(current_par))
            current_par = []
    return MartSql(name=name, table=table, description="\n\n".join(paragraphs), columns=columns, queries=queries)


@lru_cache(maxsize=32)
def load_mart_sql(name: str, folder: Path = MARTS_SQL_DIR) -> MartSql:
    """The parsed ``sql/marts/<name>.sql``."""
    return parse_mart_sql(name, (folder / f"{name}.sql").read_text())


def mart_names(folder: Path = MARTS_SQL_DIR) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.sql"))


MARTS_TOML = Path(__file__).with_name("marts.toml")


@lru_cache(maxsize=4)
def load_mart_settings(path: Path = MARTS_TOML) -> dict[str, Any]:
    """``assets/marts.toml``: every number the marts depend on."""
    import tomllib

    with path.open("rb") as fh:
        return tomllib.load(fh)


def sql_params(settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``$params`` the mart SQL files use, from the settings."""
    s = settings or load_mart_settings()
    return {
        "month_ends_from": s["as_of"]["month_ends_from"],
        "max_close_age_days": int(s["staleness"]["max_close_age_days"]),
        "max_fx_age_days": int(s["staleness"]["max_fx_age_days"]),
        "currency": s["basket"]["currency"],
        "compare_with": list(s["basket"]["compare_with"]),
        "basket_calendar": s["basket"]["calendar"],
        "groups": list(s["valuation"]["groups"]),
        "benchmark_group": s["valuation"]["benchmark_group"],
    }
