"""Command line: run SQL on the warehouse read-only and print the result (``make query``)."""

from __future__ import annotations

import os
import sys

from assets.warehouse import connect_waiting
from orchestration.resources import warehouse_file, warehouse_location


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print('usage: python -m orchestration.query "SELECT ..."', file=sys.stderr)
        return 2
    path = warehouse_file()
    if not path.exists():
        print(f"no warehouse at {path}: run `make demo` first", file=sys.stderr)
        return 1
    lake_data = os.environ.get("CHINATECH_LAKE_DATA", "")
    with connect_waiting(warehouse_location(), read_only=True, lake_data=lake_data) as con:
        con.sql(" ".join(args)).show(max_width=200, max_rows=100)
    return 0


if __name__ == "__main__":
    sys.exit(main())
