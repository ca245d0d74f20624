"""Command line: run SQL on the warehouse read-only and print the result (``make query``)."""

from __future__ import annotations

import sys

import duckdb

from orchestration.resources import warehouse_file


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print('usage: python -m orchestration.query "SELECT ..."', file=sys.stderr)
        return 2
    path = warehouse_file()
    if not path.exists():
        print(f"no warehouse at {path}: run `make demo` first", file=sys.stderr)
        return 1
    with duckdb.connect(str(path), read_only=True) as con:
        con.sql(" ".join(args)).show(max_width=200, max_rows=100)
    return 0


if __name__ == "__main__":
    sys.exit(main())
