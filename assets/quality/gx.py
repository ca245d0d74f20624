"""A small great-expectations 1.x wrapper: validate a Polars frame against a suite from TOML.

dagster-ge needs great-expectations < 1, so this is the bridge. GX takes seconds to import,
so it is imported lazily, once, inside ``validate``; its context is ephemeral (nothing is
written to disk) with analytics and progress bars off.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl

SUITES_FILE = Path(__file__).with_name("suites.toml")


@dataclass(frozen=True)
class Expectation:
    name: str
    expectation: str  # a great_expectations.expectations class name
    severity: str  # ERROR blocks what depends on the asset; WARN only reports
    kwargs: dict[str, Any]
    description: str = ""


@dataclass(frozen=True)
class Outcome:
    name: str
    passed: bool
    severity: str
    observed: str
    description: str = ""


def load_suite(table: str, path: Path = SUITES_FILE) -> list[Expectation]:
    """The expectations for ``table`` (a key of suites.toml)."""
    with path.open("rb") as fh:
        suites = tomllib.load(fh)
    if table not in suites:
        raise KeyError(f"no expectation suite for {table!r} in {path}")
    return [
        Expectation(
            name=e["name"],
            expectation=e["expectation"],
            severity=e.get("severity", "ERROR"),
            kwargs=e.get("kwargs", {}),
            description=e.get("description", ""),
        )
        for e in suites[table]
    ]


@lru_cache(maxsize=1)
def _context() -> Any:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    ctx.variables.analytics_enabled = False
    return ctx


def _resolve(kwargs: dict[str, Any], today: date) -> dict[str, Any]:
    """Fill run-time placeholders: ``"{today}"`` becomes today at midnight (dates are timestamps)."""
    midnight = datetime.combine(today, datetime.min.time())
    return {k: (midnight if v == "{today}" else v) for k, v in kwargs.items()}


def validate(frame: pl.DataFrame, suite: list[Expectation], today: date | None = None) -> list[Outcome]:
    """Run every expectation of ``suite`` on ``frame``; never raises for a failed expectation."""
    import great_expectations.expectations as gxe

    ctx = _context()
    today = today or date.today()
    pdf = frame.to_pandas()
    for col, dtype in frame.schema.items():
        if dtype == pl.Date:  # GX compares dates as timestamps
            pdf[col] = pdf[col].astype("datetime64[ns]")
    name = f"frame_{id(frame)}"
    source = ctx.data_sources.add_or_update_pandas(name)
    asset = source.add_dataframe_asset(name="frame")
    batch = asset.add_batch_definition_whole_dataframe("all").get_batch(batch_parameters={"dataframe": pdf})
    outcomes = []
    try:
        for exp in suite:
            kwargs = _resolve(exp.kwargs, today)
            result = batch.validate(getattr(gxe, exp.expectation)(**kwargs))
            res = result.result or {}
            observed = {
                k: res[k]
                for k in ("observed_value", "unexpected_count", "unexpected_percent", "partial_unexpected_list")
                if k in res
            }
            outcomes.append(
                Outcome(
                    name=exp.name,
                    passed=bool(result.success),
                    severity=exp.severity,
                    observed=json.dumps(observed, default=str)[:2000],
                    description=exp.description,
                )
            )
    finally:
        ctx.data_sources.delete(name)
    return outcomes
