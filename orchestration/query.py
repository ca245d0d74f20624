"""Command line: run SQL on the warehouse read-only and print the result (``make query``).

The SQL comes from the arguments or, through ``make query SQL="..."``, from the environment,
so the shell never rewrites it. A SQL error is one line naming the problem, not a traceback.
"""

from __future__ import annotations

import os
import sys

import duckdb

from assets.warehouse import WarehouseLockedError, connect_waiting
from orchestration.resources import warehouse_file, warehouse_location


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    sql = " ".join(args) if args else os.environ.get("SQL", "")
    if not sql.strip():
        print('usage: make query SQL="SELECT ..."  (or python -m orchestration.query "SELECT ...")', file=sys.stderr)
        return 2
    path = warehouse_file()
    if not path.exists():
        print(
            f"no warehouse at {path}: run `make demo` first (or set CHINATECH_SOURCE / CHINATECH_WAREHOUSE)",
            file=sys.stderr,
        )
        return 1
    print(f"-- {path}", file=sys.stderr)
    try:
        lake_data = os.environ.get("CHINATECH_LAKE_DATA", "")
        with connect_waiting(warehouse_location(), read_only=True, wait_seconds=30, lake_data=lake_data) as con:
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
