"""The load log (raw.loads): which rows each asset wrote, so the next stage reads just those."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import duckdb


def record_load(
    con: duckdb.DuckDBPyConnection,
    *,
    load_id: str,
    asset: str,
    source: str,
    tickers: list[str],
    full_tickers: list[str] | None = None,
    row_count: int,
    failures: dict[str, str] | None = None,
) -> None:
    con.execute(
        "INSERT INTO raw.loads VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            load_id,
            asset,
            source,
            datetime.now(UTC),
            sorted(tickers),
            sorted(full_tickers or []),
            row_count,
            json.dumps(failures or {}),
        ],
    )


def latest_load(con: duckdb.DuckDBPyConnection, asset: str) -> dict[str, Any] | None:
    """The newest load of ``asset``, or None before its first run."""
    cur = con.execute("SELECT * FROM raw.loads WHERE asset = ? ORDER BY started_at DESC, load_id DESC LIMIT 1", [asset])
    row = cur.fetchone()
    if row is None:
        return None
    names = [d[0] for d in cur.description]
    out = dict(zip(names, row, strict=True))
    out["failures"] = json.loads(out["failures"] or "{}")
    return out
