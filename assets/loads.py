"""The load log (raw.loads): which rows each asset wrote, so the next stage reads just those.

Each step reads the load its own Dagster run wrote (``run_id``): two runs that overlap never
process each other's loads. A step run on its own (its upstream not in the run) reads the
newest load instead.
"""

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
    run_id: str | None = None,
) -> None:
    con.execute(
        "INSERT INTO raw.loads BY NAME SELECT ? AS load_id, ? AS asset, ? AS source, ? AS started_at,"
        " ? AS tickers, ? AS full_tickers, ? AS row_count, ? AS failures, ? AS run_id",
        [
            load_id,
            asset,
            source,
            datetime.now(UTC),
            sorted(tickers),
            sorted(full_tickers or []),
            row_count,
            json.dumps(failures or {}, sort_keys=True),
            run_id,
        ],
    )


def run_load(con: duckdb.DuckDBPyConnection, asset: str, run_id: str | None) -> dict[str, Any] | None:
    """The load of ``asset`` written by run ``run_id``; the newest one when that run wrote none."""
    cur = con.execute(
        "SELECT * FROM raw.loads WHERE asset = ?"
        " ORDER BY (run_id IS NOT DISTINCT FROM ?) DESC, started_at DESC, load_id DESC LIMIT 1",
        [asset, run_id],
    )
    row = cur.fetchone()
    if row is None:
        return None
    names = [d[0] for d in cur.description]
    out = dict(zip(names, row, strict=True))
    out["failures"] = json.loads(out["failures"] or "{}")
    return out


def superseded(con: duckdb.DuckDBPyConnection, load: dict[str, Any]) -> bool:
    """Whether another load of the same asset was recorded since ``load`` (it may have replaced rows of it)."""
    (count,) = con.execute(  # type: ignore[misc]
        "SELECT count(*) FROM raw.loads WHERE asset = ? AND load_id <> ? AND started_at >= ?",
        [load["asset"], load["load_id"], load["started_at"]],
    ).fetchone()
    return bool(count)
