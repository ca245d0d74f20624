"""Command line: run SQL read-only and print the result (``make query``).

Reads the reader snapshot (``data/<mode>.read.duckdb``, published by every successful run), so
a query works while a run writes the warehouse; before the first publish it falls back to the
live file and says so on stderr. The SQL comes from the arguments or, through
``make query SQL="..."``, from the environment, so the shell never rewrites it. A SQL error is
one line naming the problem, not a traceback.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from assets.publish import reader_file
from assets.warehouse import WarehouseLockedError, connect_waiting, is_lake
from orchestration.resources import lock_wait_seconds, warehouse_file, warehouse_location


def reading_target() -> Path | str | None:
    """The file a reader opens: the warehouse's snapshot, else (saying so) the live file; None if neither.

    A DuckLake is read directly: its readers see the last committed snapshot, never a write in progress.
    """
    if is_lake(warehouse_location()):
        print(f"-- {warehouse_location()} (DuckLake: the last committed snapshot)", file=sys.stderr)
        return warehouse_location()
    warehouse = warehouse_file()
    snapshot = warehouse if warehouse.name.endswith(".read.duckdb") else reader_file(warehouse)
    if snapshot.exists():
        published = datetime.fromtimestamp(snapshot.stat().st_mtime, UTC)
        print(f"-- {snapshot} (snapshot published {published:%Y-%m-%d %H:%M:%S} UTC)", file=sys.stderr)
        return snapshot
    if not warehouse.exists():
        print(
            f"no warehouse at {warehouse}: run `make demo` first (or set CHINATECH_SOURCE / CHINATECH_WAREHOUSE)",
            file=sys.stderr,
        )
        return None
    print(
        f"-- {warehouse}: no snapshot yet ({snapshot.name} is published by the next successful run or "
        "`make snapshot`); reading the live warehouse, which waits while a run writes it",
        file=sys.stderr,
    )
    return warehouse


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    sql = " ".join(args) if args else os.environ.get("SQL", "")
    if not sql.strip():
        print('usage: make query SQL="SELECT ..."  (or python -m orchestration.query "SELECT ...")', file=sys.stderr)
        return 2
    path = reading_target()
    if path is None:
        return 1
    try:
        lake_data = os.environ.get("CHINATECH_LAKE_DATA", "")
        with connect_waiting(path, read_only=True, wait_seconds=lock_wait_seconds(), lake_data=lake_data) as con:
            con.sql(sql).show(max_width=200, max_rows=100)
    except duckdb.Error as exc:
        print(f"SQL error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    except WarehouseLockedError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
