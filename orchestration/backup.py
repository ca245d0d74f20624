"""Command line: back the warehouse up (``make backup``) or restore a backup (``make restore FILE=...``).

The backup file name comes through the environment (``FILE``), never through the shell. A
restore refuses a backup of another source mode, keeps the replaced file aside and
republishes the reader snapshot, so readers see the restored state.
"""

from __future__ import annotations

import argparse
import os
import sys

from assets.backup import RestoreRefusedError, backup_mode, backup_warehouse, restore_warehouse
from assets.publish import publish_snapshot
from assets.warehouse import WarehouseLockedError, repo_path
from orchestration.resources import backup_dir, lock_wait_seconds, warehouse_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--restore",
        nargs="?",
        const=os.environ.get("FILE", ""),
        default=None,
        metavar="FILE",
        help="restore this backup (default: $FILE) instead of writing one",
    )
    args = parser.parse_args(argv)
    wait = lock_wait_seconds()
    try:
        if args.restore is None:
            warehouse = warehouse_file()
            dest = backup_warehouse(warehouse, backup_dir(), wait_seconds=wait)
            print(f"backed up {warehouse}\n       to {dest}\nrestore with: make restore FILE={dest}")
            return 0
        if not args.restore:
            print("usage: make restore FILE=data/backups/<mode>-<time>.duckdb", file=sys.stderr)
            return 2
        backup = repo_path(args.restore)
        mode = backup_mode(backup)
        expected = os.environ.get("CHINATECH_SOURCE") or None
        warehouse = warehouse_file(expected or mode)
        aside = restore_warehouse(backup, warehouse, expected_mode=expected, wait_seconds=wait)
        print(f"restored {warehouse} from {backup}")
        if aside:
            print(f"the replaced file is kept as {aside}")
        print(publish_snapshot(warehouse, wait_seconds=wait).summary())
        return 0
    except (FileNotFoundError, RestoreRefusedError, WarehouseLockedError) as exc:
        print(str(exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
