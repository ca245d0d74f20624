"""Writes to the data-quality record (dq schema): check outcomes and anomaly sets."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

import duckdb
import polars as pl

from assets.quality.gx import Outcome


def record_outcomes(
    con: duckdb.DuckDBPyConnection, asset: str, outcomes: Iterable[Outcome], run_id: str | None
) -> None:
    """Append check outcomes to dq.check_results."""
    now = datetime.now(UTC)
    rows = [(asset, o.name, o.passed, o.severity, o.observed, run_id, now) for o in outcomes]
    if rows:
        con.executemany("INSERT INTO dq.check_results VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


def replace_anomalies(
    con: duckdb.DuckDBPyConnection,
    found: pl.DataFrame,
    tickers: list[str],
    kinds: list[str],
    on_date: date | None = None,
    within: pl.DataFrame | None = None,
    since: pl.DataFrame | None = None,
) -> None:
    """Swap the anomalies of ``kinds`` for ``tickers``; known ones keep their first-detected time.

    Re-running a detection therefore leaves the same rows (idempotent), and an anomaly that
    the data no longer shows disappears. ``on_date`` narrows the swap to one day (snapshots);
    ``within`` (ticker, trade_date rows) to the dates a load actually re-examined, so an
    incremental load never erases the flags of older dates; ``since`` (ticker, since rows) to
    each ticker's anomalies dated from ``since`` on (and undated ones), for a detection that
    judged only the recent rows.
    """
    con.register("_found", found.select("ticker", "trade_date", "kind", "detail").to_arrow())
    try:
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _anoms AS
            SELECT f.ticker, f.trade_date, f.kind, f.detail,
                   coalesce(min(o.detected_at), ?::TIMESTAMPTZ) AS detected_at
            FROM _found AS f
            LEFT JOIN dq.price_anomalies AS o
              ON o.ticker = f.ticker AND o.kind = f.kind
             AND o.trade_date IS NOT DISTINCT FROM f.trade_date
            GROUP BY ALL
            """,
            [datetime.now(UTC)],
        )
        scope = ""
        if within is not None:
            con.register("_within", within.select("ticker", "trade_date").unique().to_arrow())
            scope = " AND (ticker, trade_date) IN (SELECT (ticker, trade_date) FROM _within)"
        if since is not None:
            con.register("_since", since.select("ticker", "since").to_arrow())
            scope += (
                " AND EXISTS (SELECT 1 FROM _since AS s WHERE s.ticker = price_anomalies.ticker"
                " AND (price_anomalies.trade_date IS NULL OR price_anomalies.trade_date >= s.since))"
            )
        con.execute(
            "DELETE FROM dq.price_anomalies WHERE list_contains(?, ticker) AND list_contains(?, kind)"
            " AND (?::DATE IS NULL OR trade_date = ?::DATE)" + scope,
            [tickers, kinds, on_date, on_date],
        )
        con.execute("INSERT INTO dq.price_anomalies BY NAME SELECT * FROM _anoms")
        con.execute("DROP TABLE _anoms")
    finally:
        con.unregister("_found")
        if within is not None:
            con.unregister("_within")
        if since is not None:
            con.unregister("_since")
