"""The prices_daily great-expectations suite (assets/quality/suites.toml) through assets/quality/gx.py.

GX is slow to import, so it is loaded once per module (``gx_suite``); each case then only runs
the suite on a small frame.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from assets.quality.gx import Expectation, load_suite, validate
from assets.transforms.prices import build_core, normalize_history
from assets.universe import load_universe

TODAY = date(2026, 8, 21)

# closes are whole numbers so that casting close to an integer type changes nothing but its type
HISTORY = """Date,Open,High,Low,Close,Adj Close,Volume,Dividends,Stock Splits
2024-12-02 00:00:00+08:00,99.5,101.5,98.5,100.0,99.0,1000,0.0,0.0
2024-12-03 00:00:00+08:00,100.5,102.5,99.5,102.0,101.0,2000,0.0,0.0
2024-12-04 00:00:00+08:00,101.5,103.5,100.5,101.0,100.0,3000,0.5,0.0
2024-12-05 00:00:00+08:00,100.5,104.5,99.5,104.0,103.0,4000,0.0,2.0
"""


@pytest.fixture(scope="module")
def gx_suite() -> list[Expectation]:
    """The prices_daily suite, with GX imported and its ephemeral context built once."""
    from assets.quality import gx

    gx._context()
    return load_suite("prices_daily")


@pytest.fixture(scope="module")
def clean() -> pl.DataFrame:
    universe = load_universe()
    raw = pl.concat(
        [
            normalize_history(t, pl.read_csv(io.StringIO(HISTORY), infer_schema=False), "replay")
            for t in ("0700.HK", "9988.HK")
        ]
    )
    core, rejected, anomalies = build_core(raw, universe, today=TODAY)
    assert rejected.is_empty() and anomalies.is_empty()
    return core.with_columns(
        pl.lit("prices_daily-test-load").alias("load_id"),
        pl.lit(datetime(2026, 8, 21, 6, 0, tzinfo=UTC)).alias("loaded_at"),
    )


def first_row(col: str, value: object) -> Callable[[pl.DataFrame], pl.DataFrame]:
    """Set ``col`` on the first row only."""

    def mutate(frame: pl.DataFrame) -> pl.DataFrame:
        new = pl.lit(value, dtype=frame.schema[col])
        return frame.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(new).otherwise(pl.col(col)).alias(col))

    return mutate


def chain(*steps: Callable[[pl.DataFrame], pl.DataFrame]) -> Callable[[pl.DataFrame], pl.DataFrame]:
    def mutate(frame: pl.DataFrame) -> pl.DataFrame:
        for step in steps:
            frame = step(frame)
        return frame

    return mutate


def prices(open_: float, high: float, low: float | None, close: float) -> Callable[[pl.DataFrame], pl.DataFrame]:
    return chain(first_row("open", open_), first_row("high", high), first_row("low", low), first_row("close", close))


# each case violates exactly one expectation (row 0 of 0700.HK: open 99.5, high 101.5, low 98.5, close 100)
VIOLATIONS: dict[str, Callable[[pl.DataFrame], pl.DataFrame]] = {
    "schema": lambda f: f.with_columns(pl.lit(1).alias("extra")),
    "close_is_float": lambda f: f.with_columns(pl.col("close").cast(pl.Int64)),
    "ticker_not_null": first_row("ticker", None),
    "trade_date_not_null": first_row("trade_date", None),
    "unique_ticker_trade_date": lambda f: pl.concat([f, f.head(1)]),
    "close_positive": prices(99.5, 101.5, None, -1.0),  # low unknown, else low > close too
    "open_positive": prices(-1.0, 101.5, None, 100.0),
    "low_positive": prices(99.5, 101.5, -1.0, 100.0),
    "high_ge_open": prices(101.0, 100.5, 98.5, 100.0),
    "high_ge_close": prices(99.5, 99.8, 98.5, 100.0),
    "low_le_open": prices(99.5, 101.5, 99.8, 100.0),
    "low_le_close": prices(100.5, 101.5, 100.2, 100.0),
    "volume_non_negative": first_row("volume", -5),
    "no_future_dates": first_row("trade_date", TODAY + timedelta(days=1)),
    "price_basis_known": first_row("price_basis", "raw"),
}


def failed(outcomes: list) -> set[str]:
    return {o.name for o in outcomes if not o.passed}


def test_clean_core_frame_passes(gx_suite: list[Expectation], clean: pl.DataFrame) -> None:
    outcomes = validate(clean, gx_suite, today=TODAY)

    assert [o.name for o in outcomes] == [e.name for e in gx_suite]
    assert failed(outcomes) == set(), [o for o in outcomes if not o.passed]
    assert clean.height == 8


def test_every_blocking_expectation_has_a_violation_case(gx_suite: list[Expectation]) -> None:
    assert {e.name for e in gx_suite if e.severity == "ERROR"} == set(VIOLATIONS)


@pytest.mark.parametrize("name", list(VIOLATIONS))
def test_each_violation_fails_exactly_its_expectation(
    gx_suite: list[Expectation], clean: pl.DataFrame, name: str
) -> None:
    bad = VIOLATIONS[name](clean)

    outcomes = validate(bad, gx_suite, today=TODAY)

    assert failed(outcomes) == {name}
    outcome = next(o for o in outcomes if o.name == name)
    assert outcome.severity == "ERROR"
    assert outcome.observed  # something to show in the report


def test_today_placeholder_defaults_to_the_real_today(gx_suite: list[Expectation], clean: pl.DataFrame) -> None:
    tomorrow = first_row("trade_date", date.today() + timedelta(days=1))(clean)
    assert failed(validate(tomorrow, gx_suite)) == {"no_future_dates"}
    assert failed(validate(clean, gx_suite)) == set()


def test_unknown_suite_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="no_such_table"):
        load_suite("no_such_table")
