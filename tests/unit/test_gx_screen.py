"""GX judges one row when Polars proves no row breaks an expectation: the outcome must not change.

``stand_in`` (assets/quality/gx.py) spares GX a pandas copy of a 12.6 M-row load for the
expectations that nothing breaks; these tests pin that it gives what judging every row gives,
on frames with nulls, NaN, infinities and values on the bounds, and that it is really taken.
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta

import polars as pl
import pytest

from assets.quality import gx
from assets.quality.gx import Expectation, stand_in, validate

VALUES = [None, float("nan"), float("inf"), float("-inf"), -1.0, 0.0, 0.5, 1.0, 2.0, 3.0]


@pytest.fixture(scope="module", autouse=True)
def gx_context() -> None:
    gx._context()


def _exp(expectation: str, **kwargs: object) -> Expectation:
    return Expectation("e", expectation, "WARN", dict(kwargs), "a test expectation", ids=("ticker", "trade_date"))


def _frame(rng: random.Random, values: list[float | None]) -> pl.DataFrame:
    n = rng.randint(1, 40)
    x = [rng.choice(values) for _ in range(n)]
    return pl.DataFrame(
        {
            "ticker": [f"T{i % 7}" for i in range(n)],
            "trade_date": [date(2020, 1, 1) + timedelta(days=i) for i in range(n)],
            "x": pl.Series(x, dtype=pl.Float64),
            "n": pl.Series(
                [None if v is None or v != v or abs(v) == float("inf") else int(v) for v in x], dtype=pl.Int64
            ),
        }
    )


def _cases(rng: random.Random) -> list[Expectation]:
    column = rng.choice(["x", "n"])
    lo, hi = rng.choice([None, -1, 0, 0.5, 1]), rng.choice([None, 1, 2, 3, 2.5])
    between = {k: v for k, v in (("min_value", lo), ("max_value", hi)) if v is not None} or {"min_value": 0}
    if rng.random() < 0.5:
        between |= {"strict_min": rng.random() < 0.5, "strict_max": rng.random() < 0.5}
    return [
        _exp("ExpectColumnValuesToNotBeNull", column=column),
        _exp("ExpectColumnValuesToBeBetween", column=column, **between),
    ]


def test_one_row_gives_what_every_row_gives_on_random_frames() -> None:
    rng = random.Random(7)
    screened = 0
    for _ in range(40):
        # most frames pass (the case the stand-in takes); some hold nulls, NaN, infinities
        values = VALUES if rng.random() < 0.4 else VALUES[4 + rng.randint(0, 3) :]
        frame = _frame(rng, values)
        for exp in _cases(rng):
            screened += stand_in(frame, exp) is not None
            assert validate(frame, [exp], screen=True) == validate(frame, [exp], screen=False), (exp, frame)
    assert screened >= 20  # the comparison above must cover the stand-in, not only the fallback


def test_every_value_missing_keeps_its_unknown_percent() -> None:
    frame = pl.DataFrame({"ticker": ["A", "B"], "trade_date": [date(2020, 1, 1)] * 2, "x": [None, float("nan")]})
    exp = _exp("ExpectColumnValuesToBeBetween", column="x", max_value=1)
    assert stand_in(frame, exp) is not None
    out = validate(frame, [exp])
    assert out == validate(frame, [exp], screen=False)
    assert out[0].passed and json.loads(out[0].observed)["unexpected_percent"] is None


def test_a_frame_nothing_breaks_goes_to_gx_as_one_row(monkeypatch) -> None:
    seen: list[int] = []
    to_pandas = gx._to_pandas
    monkeypatch.setattr(gx, "_to_pandas", lambda frame, exps: seen.append(frame.height) or to_pandas(frame, exps))
    frame = pl.DataFrame({"ticker": ["A"] * 5000, "close": [1.0] * 4999 + [2.0]})
    present = Expectation(
        "close_present", "ExpectColumnValuesToNotBeNull", "WARN", {"column": "close"}, "d", ids=("ticker",)
    )
    bounded = Expectation(
        "bounded", "ExpectColumnValuesToBeBetween", "WARN", {"column": "close", "max_value": 1.5}, "d", ids=("ticker",)
    )
    passed, failed = validate(frame, [present, bounded])
    assert seen == [1, 5000]  # the one that nothing breaks on one row, the broken one on all
    assert passed.passed and not failed.passed and failed.unexpected_count == 1
    assert json.loads(failed.observed)["unexpected_percent"] == pytest.approx(100 / 5000)


@pytest.mark.parametrize(
    "exp",
    [
        _exp("ExpectColumnValuesToBeBetween", column="x", max_value=1, mostly=0.9),  # success depends on the share
        _exp("ExpectColumnValuesToBeBetween", column="d", max_value=date(2021, 1, 1)),  # dates: GX alone
        _exp("ExpectColumnValuesToBeInSet", column="x", value_set=[1.0]),  # not screened
        _exp(
            "ExpectColumnValuesToBeBetween", column="x", min_value=0, row_condition="x > 0", condition_parser="pandas"
        ),
    ],
)
def test_what_is_not_screened_is_judged_whole(exp: Expectation) -> None:
    frame = pl.DataFrame({"x": [1.0, 1.0], "d": [date(2020, 1, 1)] * 2})
    assert stand_in(frame, exp) is None
