"""Command line: an interactive DuckDB shell on the reader snapshot (``make sql``).

Opens ``data/<mode>.read.duckdb`` read-only with the DuckDB CLI (PyPI ``duckdb-cli``, same
version as the library), so it works while a run writes the warehouse. The path goes to the
CLI as an argument vector: no shell ever sees it.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from orchestration.query import reading_target


def duckdb_cli() -> str:
    """The ``duckdb`` executable of this virtualenv (installed with the project), else one on PATH."""
    beside = Path(sys.executable).with_name("duckdb")
    found = str(beside) if beside.exists() else shutil.which("duckdb")
    if not found:
        raise FileNotFoundError("the DuckDB CLI is not installed: run `make install` (package duckdb-cli)")
    return found


def main(argv: list[str] | None = None) -> int:
    target = reading_target()
    if target is None:
        return 1
    cli = duckdb_cli()
    args = [cli, "-readonly", str(target), *(sys.argv[1:] if argv is None else argv)]
    sys.stderr.flush()
    os.execv(cli, args)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
