"""Row order as proof: columns that strictly increase row to row hold no repeated key and need no sort."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

ORDERABLE = (pl.String, pl.Date)


def strictly_increasing(cols: Sequence[str]) -> pl.Expr:
    """True when every row's ``cols`` (compared in that order) are greater than the row before's.

    Comparing neighbours is several times cheaper than hashing or grouping every key. A null that
    decides the order, a repeat or a step back gives False (callers then take their general path).
    The first row has no neighbour; callers require at least two rows.
    """
    later: pl.Expr | None = None
    for col in reversed(cols):
        cur, prev = pl.col(col), pl.col(col).shift(1)
        later = cur > prev if later is None else (cur > prev) | ((cur == prev) & later)
    if later is None:
        raise ValueError("strictly_increasing needs at least one column")
    return later.slice(1).fill_null(False).all()


def in_strict_order(frame: pl.DataFrame | pl.LazyFrame, cols: Sequence[str]) -> bool:
    """Whether ``cols`` (String or Date) strictly increase row to row, compared in that order: then
    they are distinct and a sort on them leaves the rows where they are. False for fewer than two
    rows, a null that decides the order, a repeat, a step back, a missing column or another type
    (callers then take their general path: hash, group or sort)."""
    lazy = frame.lazy()
    schema = lazy.collect_schema()
    if not cols or any(schema.get(c) not in ORDERABLE for c in cols):
        return False
    return lazy.select(pl.len() > 1, strictly_increasing(cols)).collect().row(0) == (True, True)
