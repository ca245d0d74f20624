"""The write path's duplicate-key check proven by order (assets/warehouse.py, ``_keys_in_strict_order``).

Staged rows sorted by their key need no GROUP BY over every key; anything else (a repeat in
one file or across files, a step back, a null) is grouped by DuckDB as before, so a duplicate
is still refused with the same message and nothing is written.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from assets import warehouse
from assets.warehouse import ConstraintViolation, Staging, WarehouseResource, replace_rows, upsert

KEY = ("ticker", "source", "shape", "trade_date")


def _raw(ticker: str, first: int, n: int) -> pl.DataFrame:
    days = [date(2024, 1, 1) + timedelta(days=first + i) for i in range(n)]
    return pl.DataFrame(
        {
            "ticker": [ticker] * n,
            "source": ["replay"] * n,
            "shape": ["history"] * n,
            "trade_date": days,
            "source_date": [d.isoformat() for d in days],
            "close": [1.0] * n,
            "fetched_at": [datetime(2024, 6, 1, tzinfo=UTC)] * n,
            "load_id": ["L"] * n,
        }
    )


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    seen: list[bool] = []
    real = warehouse._keys_in_strict_order
    monkeypatch.setattr(warehouse, "_keys_in_strict_order", lambda r, k: seen.append(real(r, k)) or seen[-1])
    return seen


def _staged_upsert(tmp_path: Path, parts: list[pl.DataFrame]) -> int:
    wh = WarehouseResource(mode="sample", path=str(tmp_path / "w.duckdb"))
    with Staging() as staging:
        for part in parts:
            staging.add("raw", part)
        with wh.transaction() as con:
            upsert(con, "raw.prices_daily", staging.get("raw"))
    return wh.query("SELECT count(*) AS n FROM raw.prices_daily")["n"][0]


def test_sorted_distinct_staged_keys_are_proven_without_grouping(tmp_path: Path, spy: list[bool]) -> None:
    n = _staged_upsert(tmp_path, [_raw("AAA", 0, 5), _raw("AAA", 5, 5), _raw("BBB", 0, 5)])
    assert n == 15 and spy == [True]


@pytest.mark.parametrize(
    "parts",
    [
        [_raw("AAA", 0, 5), _raw("AAA", 4, 5)],  # the same key at the end of one file and the start of the next
        [pl.concat([_raw("AAA", 0, 3), _raw("AAA", 2, 1)])],  # a repeat right after itself
        [_raw("BBB", 0, 3), _raw("AAA", 0, 3), _raw("BBB", 1, 1)],  # a repeat after a step back
    ],
)
def test_a_repeated_key_is_refused_as_before(tmp_path: Path, spy: list[bool], parts: list[pl.DataFrame]) -> None:
    with pytest.raises(ConstraintViolation, match=r"1 duplicate key\(s\)"):
        _staged_upsert(tmp_path, parts)
    assert spy == [False]
    wh = WarehouseResource(mode="sample", path=str(tmp_path / "w.duckdb"))
    assert wh.query("SELECT count(*) AS n FROM raw.prices_daily")["n"][0] == 0  # nothing written


def test_distinct_keys_out_of_order_are_grouped_and_written(tmp_path: Path, spy: list[bool]) -> None:
    assert _staged_upsert(tmp_path, [_raw("BBB", 0, 3), _raw("AAA", 0, 3)]) == 6
    assert spy == [False]


def test_frames_are_proven_too(tmp_path: Path, spy: list[bool]) -> None:
    wh = WarehouseResource(mode="sample", path=str(tmp_path / "w.duckdb"))
    with wh.transaction() as con:
        replace_rows(con, "raw.prices_daily", _raw("AAA", 0, 4), "true")
        with pytest.raises(ConstraintViolation, match="duplicate key"):
            replace_rows(con, "raw.prices_daily", pl.concat([_raw("AAA", 0, 4), _raw("AAA", 3, 1)]), "true")
    assert spy == [True, False]


def test_the_proof_refuses_nulls_other_types_and_single_rows() -> None:
    prove = warehouse._keys_in_strict_order
    rows = _raw("AAA", 0, 4)
    assert prove(rows, KEY)
    assert not prove(rows.head(1), KEY)
    assert not prove(
        rows.with_columns(pl.when(pl.int_range(pl.len()) == 2).then(None).otherwise("trade_date").alias("trade_date")),
        KEY,
    )
    assert not prove(rows.with_columns(pl.col("ticker").cast(pl.Categorical)), KEY)
    assert not prove(rows.drop("shape"), KEY)
    assert not prove(rows.reverse(), KEY)
    # (ticker, trade_date) first: two shapes of one ticker, in date order, are still proven distinct
    two = pl.concat([rows.head(2), rows.slice(2).with_columns(pl.lit("download").alias("shape"))])
    assert prove(two, KEY)
    same_day = pl.concat([rows.head(1), rows.head(1).with_columns(pl.lit("download").alias("shape"))])
    assert not prove(same_day, KEY)  # distinct, but not provably by this order: grouped instead
