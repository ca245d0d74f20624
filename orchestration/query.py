"""Command line: run SQL on the warehouse read-only and print the result (``make query``)."""

from __future__ import annotations

import os
import sys

import duckdb

from orchestration.resources import DEFAULT_WAREHOUSE, repo_path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print('usage: python -m orchestration.query "SELECT ..."', file=sys.stderr)
        return 2
    path = repo_path(os.environ.get("CHINATECH_WAREHOUSE", DEFAULT_WAREHOUSE))
    if not path.exists():
        print(f"no warehouse at {path}: run `make demo` first", file=sys.stderr)
        return 1
    with duckdb.connect(str(path), read_only=True) as con:
        con.sql(" ".join(args)).show(max_width=200, max_rows=100)
    return 0


if __name__ == "__main__":
    sys.exit(main())
