"""One stage's staged Parquet, left for the next stage of the same load (raw -> core).

Core builds from raw's rows of one load. Read back from the warehouse that is 12.6 M rows through
DuckDB's result conversion at the default bench scale (~5 s, most of it the string columns);
read from the Parquet files raw staged them in, ~1 s (docs/performance.md). So after raw's
publish commits, its staged files move (a rename: no copy) to a folder named for the warehouse
and the load. Core claims that folder (another rename, so two readers or a sweep cannot share
it), checks it is that load, whole, and that no raw load came after it, reads it and deletes it.
Whenever anything is doubtful core reads the warehouse, as it always did: the hand-off is only
ever a faster road to the same rows.

The folder is under the temp folder, beside ``Staging``'s (the same file system, so the move is
a rename). A hand-off nobody claimed (raw materialized alone) is deleted by the next raw load
of that warehouse, or by any raw load once its warehouse is gone; a claim whose reader was
killed, and anything a day old, by any raw load (``left_over``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from assets.warehouse import Staged, is_lake, lake_catalog, left_over, owner_tag

MANIFEST = "manifest.json"
_CLAIMED = ".taken-"


def handoff_root() -> Path:
    return Path(tempfile.gettempdir()) / "chinatech-handoff"


@dataclass(frozen=True)
class Claimed:
    """A hand-off taken by one reader: its Parquet files, in the order raw staged them."""

    folder: Path
    files: tuple[Path, ...]


class Handoff:
    """The hand-offs of one warehouse location (a DuckDB file or a DuckLake catalog)."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.root = handoff_root() / hashlib.sha1(location.encode()).hexdigest()[:16]

    def give(self, staged: Staged, load_id: str) -> bool:
        """Move ``staged``'s files out of their Staging folder for the load's next stage.

        Call only after the load's publish committed. False (nothing left behind) when there is
        nothing to give or the move fails (another file system): the next stage reads the warehouse.
        """
        self.sweep()
        if staged.is_empty():
            return False
        building = self.root / f".{load_id}.{uuid.uuid4().hex[:8]}"
        try:
            building.mkdir(parents=True)
            names = []
            for i, path in enumerate(staged.files):
                names.append(f"part-{i:05d}.parquet")
                os.replace(path, building / names[-1])
            manifest = {"load_id": load_id, "location": self.location, "rows": staged.height, "files": names}
            (building / MANIFEST).write_text(json.dumps(manifest))
            os.replace(building, self.root / load_id)  # whole or absent: readers never see a half folder
        except OSError:
            shutil.rmtree(building, ignore_errors=True)
            return False
        return True

    def take(self, load_id: str, rows: int) -> Claimed | None:
        """Claim the hand-off of ``load_id`` if it holds exactly ``rows`` rows of that load; else None.

        A hand-off that does not match is deleted.
        """
        claimed = self.root / f"{load_id}{_CLAIMED}{owner_tag()}{uuid.uuid4().hex[:8]}"
        try:
            os.rename(self.root / load_id, claimed)
        except OSError:
            return None  # none given, or a sweep or another reader got there first
        try:
            manifest = json.loads((claimed / MANIFEST).read_text())
            files = tuple(claimed / name for name in manifest["files"])
            if (
                manifest["load_id"] == load_id
                and manifest["location"] == self.location
                and manifest["rows"] == rows
                and all(f.is_file() for f in files)
            ):
                return Claimed(claimed, files)
        except (OSError, ValueError, KeyError, TypeError):
            pass
        shutil.rmtree(claimed, ignore_errors=True)
        return None

    @contextmanager
    def taken(self, load_id: str, rows: int) -> Iterator[Claimed | None]:
        """``take``, and the claimed files deleted when the block ends, whatever happened in it."""
        claimed = self.take(load_id, rows)
        try:
            yield claimed
        finally:
            if claimed is not None:
                shutil.rmtree(claimed.folder, ignore_errors=True)

    def sweep(self) -> None:
        """Delete this warehouse's unclaimed hand-offs (a new raw load supersedes them), unclaimed
        ones of a warehouse that no longer exists, claims of readers that died (``left_over``) and
        any hand-off untouched for a day."""
        for folder in handoff_root().glob("*/*"):
            claimed = _CLAIMED in folder.name
            if (
                left_over(folder)
                or (not claimed and folder.parent == self.root)
                or (not claimed and not _warehouse_exists(folder))
            ):
                shutil.rmtree(folder, ignore_errors=True)
        for root in handoff_root().glob("*"):
            if root != self.root:
                with contextlib.suppress(OSError):
                    root.rmdir()  # only if empty: a warehouse with nothing handed off


def _warehouse_exists(folder: Path) -> bool:
    """Whether the warehouse a given hand-off was left for is still there (no core can claim it otherwise)."""
    try:
        location = json.loads((folder / MANIFEST).read_text())["location"]
    except (OSError, ValueError, KeyError, TypeError):
        return True  # being built, or not ours to judge: the age decides
    return (lake_catalog(location)[1] if is_lake(location) else Path(location)).exists()
