"""Command line: publish the reader snapshot of the warehouse now (``make snapshot``).

Every successful run publishes it as its last step; this republishes by hand, e.g. after a
partial materialization in the UI, a restore, or moving the data folder.
"""

from __future__ import annotations

import sys

from assets.publish import publish_snapshot
from assets.warehouse import WarehouseLockedError
from orchestration.resources import lock_wait_seconds, warehouse_file


def main(argv: list[str] | None = None) -> int:
    if argv if argv is not None else sys.argv[1:]:
        print(
            "usage: make snapshot  (the warehouse comes from CHINATECH_SOURCE / CHINATECH_WAREHOUSE)", file=sys.stderr
        )
        return 2
    warehouse = warehouse_file()
    if not warehouse.exists():
        print(f"no warehouse at {warehouse}: run `make demo` first (or set CHINATECH_SOURCE)", file=sys.stderr)
        return 1
    try:
        result = publish_snapshot(warehouse, wait_seconds=lock_wait_seconds())
    except WarehouseLockedError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(result.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
