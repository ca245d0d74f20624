"""Profiles of mart frames for the marts' expectations (assets/quality/suites.toml, ``marts_*``).

Pure Polars. Each profile turns "an input is missing" into rows an expectation can fail on
and name: a comparison index with no prices, a quarter weighted equally because market caps
are unknown, a claim naming a ticker the warehouse does not hold, no snapshot at all.
"""

from __future__ import annotations

import polars as pl


def kinds_profile(present_kinds: list[str], classified: list[str]) -> pl.DataFrame:
    """(kind, classified): every anomaly kind in dq.price_anomalies and whether dq.anomaly_kinds lists it."""
    kinds = sorted(set(present_kinds))
    return pl.DataFrame(
        {"kind": kinds, "classified": [k in set(classified) for k in kinds]},
        schema={"kind": pl.String, "classified": pl.Boolean},
    )


def excluded_share_profile(returns: pl.DataFrame) -> pl.DataFrame:
    """(ticker, rows, excluded, excluded_share) per ticker of marts.returns_daily."""
    if returns.is_empty():
        return pl.DataFrame(
            schema={"ticker": pl.String, "rows": pl.Int64, "excluded": pl.Int64, "excluded_share": pl.Float64}
        )
    return (
        returns.group_by("ticker")
        .agg(pl.len().cast(pl.Int64).alias("rows"), pl.col("is_excluded").sum().cast(pl.Int64).alias("excluded"))
        .with_columns((pl.col("excluded") / pl.col("rows")).alias("excluded_share"))
        .sort("ticker")
    )


def series_presence(expected: list[str], frame: pl.DataFrame, col: str = "series") -> pl.DataFrame:
    """(series, rows): how many rows each expected series has in ``frame`` (0 when absent)."""
    counts = dict(frame.group_by(col).len().rows()) if not frame.is_empty() else {}
    return pl.DataFrame(
        {"series": expected, "rows": [int(counts.get(s, 0)) for s in expected]},
        schema={"series": pl.String, "rows": pl.Int64},
    )


def snapshot_profile(snapshot_dates: list[object]) -> pl.DataFrame:
    """One row: how many fundamentals snapshot days the warehouse holds (0 makes valuation empty)."""
    days = sorted(set(snapshot_dates))
    return pl.DataFrame(
        {"snapshots": [len(days)], "first": [days[0] if days else None], "last": [days[-1] if days else None]},
        schema={"snapshots": pl.Int64, "first": pl.Date, "last": pl.Date},
    )


def claim_inputs_profile(claims: list[tuple[int, list[str]]], present: dict[str, bool]) -> pl.DataFrame:
    """(claim_id, input, present): every ticker, series or group a claim names, and whether it is held."""
    rows = [(cid, name, bool(present.get(name, False))) for cid, names in claims for name in names]
    return pl.DataFrame(rows, schema={"claim_id": pl.Int64, "input": pl.String, "present": pl.Boolean}, orient="row")
