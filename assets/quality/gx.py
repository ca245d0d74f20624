"""A small great-expectations 1.x wrapper: validate Polars frames against a suite from TOML.

dagster-ge needs great-expectations < 1, so this is the bridge. GX takes seconds to import,
so it is imported lazily, once, inside ``validate`` (``_import_gx``: without the two heavy
libraries only its KL-divergence expectation calls); its context is ephemeral (nothing is
written to disk), built once per process, with analytics and progress bars off.

An expectation runs on a named frame: ``rows`` (the staged rows of a load) or a profile that
``assets/quality/profiles.py`` derives from them (per-ticker history sizes, freshness, robust
returns...). Invariants (keys, NOT NULL, positive prices, known enums) are not here: they are
constraints of the schema (sql/schema), which no write can break.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import os
import sys
import threading
import tomllib
import types
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl

SUITES_FILE = Path(__file__).with_name("suites.toml")
PREVIEW_IDS = 20


@dataclass(frozen=True)
class Expectation:
    name: str
    expectation: str  # a great_expectations.expectations class name
    severity: str  # ERROR blocks the publish (and so what depends on it); WARN only reports
    kwargs: dict[str, Any]
    description: str  # plain words, shown in the UI
    on: str = "rows"  # which frame: the staged rows or a profile of them
    ids: tuple[str, ...] = ()  # columns naming an offending row (ticker, date, year...)


@dataclass(frozen=True)
class Outcome:
    name: str
    passed: bool
    severity: str
    observed: str
    description: str = ""
    unexpected_count: int = 0
    offending: list[dict[str, Any]] = field(default_factory=list)

    @property
    def blocking_failure(self) -> bool:
        return self.severity == "ERROR" and not self.passed


@lru_cache(maxsize=8)
def _read_suites(path: Path, mtime_ns: int) -> dict[str, Any]:
    """suites.toml parsed once per process (every asset module and step asks for its suite)."""
    with path.open("rb") as fh:
        return tomllib.load(fh)


def load_suite(table: str, path: Path = SUITES_FILE) -> list[Expectation]:
    """The expectations for ``table`` (a key of suites.toml); each must say in words what it checks."""
    suites = _read_suites(path, path.stat().st_mtime_ns)
    if table not in suites:
        raise KeyError(f"no expectation suite for {table!r} in {path}")
    out = []
    for e in suites[table]:
        if not e.get("description"):
            raise ValueError(f"{path}: expectation {table}.{e.get('name')} has no description")
        out.append(
            Expectation(
                name=e["name"],
                expectation=e["expectation"],
                severity=e.get("severity", "ERROR"),
                kwargs=dict(e.get("kwargs", {})),
                description=e["description"],
                on=e.get("on", "rows"),
                ids=tuple(e.get("ids", ())),
            )
        )
    return out


# Imported by great_expectations at import time, used only inside the functions of its
# KL-divergence expectation (which no suite uses): ~0.9 s of its ~2.4 s import (docs/performance.md).
DEFERRED_BY_GX = ("scipy.stats", "altair")


class _Deferred(types.ModuleType):
    """Stands in for a module while GX imports; the real module is imported on first attribute use."""

    def __getattr__(self, attr: str) -> Any:
        real = self.__dict__.get("_real")
        if real is None:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
            real = importlib.import_module(self.__name__)
            self._real = real
        return getattr(real, attr)


def _import_gx() -> Any:
    """``import great_expectations`` without importing scipy.stats and altair until GX really uses them.

    The stand-ins live in ``sys.modules`` only during the import, so every later ``import altair``
    (the report) or ``import scipy.stats`` gets the real module.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    if "great_expectations.expectations" in sys.modules:
        return sys.modules["great_expectations"]
    placed = [name for name in DEFERRED_BY_GX if name not in sys.modules]
    for name in placed:
        sys.modules[name] = _Deferred(name)
    try:
        import great_expectations
        import great_expectations.expectations
    finally:
        for name in placed:
            if isinstance(sys.modules.get(name), _Deferred):
                del sys.modules[name]
    return great_expectations


# one build of the context at a time: ``warm_up``'s thread and a step that needs it before it is done
_CONTEXT_LOCK = threading.Lock()


def _context() -> Any:
    with _CONTEXT_LOCK:
        return _build_context()


def warm_up() -> None:
    """Import GX and build its context in a background thread, if this process has not yet.

    A fresh run process pays ~2.5 s for it before its first suite; a step that first fetches and
    parses (Polars and zlib work outside the GIL) does that meanwhile, and its ``validate`` waits
    only for what is left. A failure here is left for ``validate`` to raise, in the step.
    """
    if _build_context.cache_info().currsize:
        return

    def build() -> None:
        with contextlib.suppress(Exception):  # validate builds it again and raises in the step
            _context()

    threading.Thread(target=build, name="gx-warm-up", daemon=True).start()


@lru_cache(maxsize=1)
def _build_context() -> Any:
    gx = _import_gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.execution_engine import pandas_execution_engine

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    ctx.variables.analytics_enabled = False
    # GX fingerprints every pandas batch under HASH_THRESHOLD bytes (1 GB) by hashing all of it,
    # twice per validation (get_batch, then validate re-reads the batch), for a batch marker
    # nothing here reads: 4.0 s of 5.3 s for 12.6 M staged rows. Expectations are unaffected.
    pandas_execution_engine.HASH_THRESHOLD = 0
    return ctx


def _resolve(kwargs: dict[str, Any], today: date) -> dict[str, Any]:
    """Fill run-time placeholders: ``"{today}"`` becomes today at midnight (dates are timestamps)."""
    midnight = datetime.combine(today, datetime.min.time())
    return {k: (midnight if v == "{today}" else v) for k, v in kwargs.items()}


def _plain(value: Any) -> Any:
    """numpy / pandas scalars -> JSON-friendly Python values (NaN -> None)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, date | datetime):
        return value.isoformat()[:10] if isinstance(value, datetime) and value.hour == 0 else str(value)
    return value


def _needed_columns(frame: pl.DataFrame, expectations: list[Expectation]) -> list[str]:
    """The columns the expectations read (their column and ids); all when one has a row condition."""
    needed: list[str] = []
    for exp in expectations:
        if "row_condition" in exp.kwargs or not any(k.startswith("column") for k in exp.kwargs):
            return frame.columns
        for key, value in exp.kwargs.items():
            if key.startswith("column") and isinstance(value, str):
                needed.append(value)
            elif key.startswith("column") and isinstance(value, list):
                needed.extend(value)
        needed.extend(exp.ids)
    return [c for c in frame.columns if c in set(needed)]


def _to_pandas(frame: pl.DataFrame, expectations: list[Expectation]) -> Any:
    """Only the columns the expectations need, text as categories: a 12 M-row load costs a fraction
    of a full conversion (strings become Python objects otherwise)."""
    part = frame.select(_needed_columns(frame, expectations))
    part = part.with_columns(pl.col(c).cast(pl.Categorical) for c, t in part.schema.items() if t == pl.String)
    pdf = part.to_pandas()
    for col, dtype in part.schema.items():
        if dtype == pl.Date:  # GX compares dates as timestamps
            pdf[col] = pdf[col].astype("datetime64[ns]")
    return pdf


# Row-by-row expectations (and the kwargs screened here) whose outcome, when no row breaks them,
# is the same for one row as for all: success, no unexpected row, unexpected_percent 0.0 (None when
# every value is missing, for Between, which skips missing values), nothing offending.
SCREENED = {
    "ExpectColumnValuesToNotBeNull": {"column"},
    "ExpectColumnValuesToBeBetween": {"column", "min_value", "max_value", "strict_min", "strict_max"},
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def stand_in(frame: pl.DataFrame, exp: Expectation) -> pl.DataFrame | None:
    """One row of ``frame`` on which GX gives ``exp`` the same outcome as on all of it, or None.

    Polars proves that no row breaks the expectation (missing as pandas sees it: null or NaN),
    so GX judges one row instead of a pandas copy of a 12.6 M-row load (1.3 to 2.2 s). None (judge
    the whole frame) when a row may break it, or for anything not screened here (row conditions,
    ``mostly``, dates, text): GX alone then decides, on every row, and names the offending ones.
    """
    allowed = SCREENED.get(exp.expectation)
    column = exp.kwargs.get("column")
    if allowed is None or not set(exp.kwargs) <= allowed or not isinstance(column, str) or column not in frame.columns:
        return None
    dtype = frame.schema[column]
    col = pl.col(column)
    present = col.is_not_null() & ~col.is_nan() if dtype.is_float() else col.is_not_null()
    if exp.expectation == "ExpectColumnValuesToNotBeNull":
        return frame.head(1) if frame.select(present.all()).item() else None
    lo, hi = exp.kwargs.get("min_value"), exp.kwargs.get("max_value")
    strict = [exp.kwargs.get(k, False) for k in ("strict_min", "strict_max")]
    if not (dtype.is_integer() or dtype.is_float()) or (lo is None and hi is None):
        return None
    if any(v is not None and not _is_number(v) for v in (lo, hi)) or any(not isinstance(f, bool) for f in strict):
        return None
    inside = pl.lit(True)
    if lo is not None:
        inside = inside & (col > lo if strict[0] else col >= lo)
    if hi is not None:
        inside = inside & (col < hi if strict[1] else col <= hi)
    breaks, first = frame.select(
        (present & ~inside).any().alias("breaks"), present.arg_true().first().alias("first")
    ).row(0)
    if breaks:
        return None
    return frame.head(1) if first is None else frame.slice(first, 1)


def validate(
    frames: pl.DataFrame | dict[str, pl.DataFrame],
    suite: list[Expectation],
    today: date | None = None,
    screen: bool = True,
) -> list[Outcome]:
    """Run every expectation of ``suite`` on its frame; never raises for a failed expectation.

    An expectation whose frame is empty passes (nothing to check), and says so. With ``screen``,
    an expectation that ``stand_in`` proves no row breaks is judged by GX on one row of its frame
    (the same outcome); ``screen=False`` judges every frame whole (the tests compare the two).
    """
    ctx = _context()
    import great_expectations.expectations as gxe

    named = {"rows": frames} if isinstance(frames, pl.DataFrame) else frames
    today = today or date.today()
    outcomes: list[Outcome] = []
    batches: dict[str, Any] = {}
    sources: list[str] = []
    try:
        for exp in suite:
            if exp.on not in named:
                raise KeyError(f"expectation {exp.name} runs on frame {exp.on!r}, which was not given")
            frame = named[exp.on]
            if frame.is_empty():
                outcomes.append(Outcome(exp.name, True, exp.severity, '{"rows": 0}', exp.description))
                continue
            one = stand_in(frame, exp) if screen else None
            key = exp.on if one is None else f"{exp.on}_{exp.name}"
            if key not in batches:
                pdf = _to_pandas(frame, [e for e in suite if e.on == exp.on]) if one is None else _to_pandas(one, [exp])
                name = f"frame_{id(frame)}_{key}"
                sources.append(name)
                asset = ctx.data_sources.add_or_update_pandas(name).add_dataframe_asset(name="frame")
                batches[key] = asset.add_batch_definition_whole_dataframe("all").get_batch(
                    batch_parameters={"dataframe": pdf}
                )
            result_format: dict[str, Any] = {"result_format": "SUMMARY"}
            if exp.ids:
                result_format["unexpected_index_column_names"] = list(exp.ids)
            result = batches[key].validate(
                getattr(gxe, exp.expectation)(**_resolve(exp.kwargs, today)), result_format=result_format
            )
            res = result.result or {}
            offending = [
                # with ids GX names a row by them; without, by its position in the frame
                {k: _plain(v) for k, v in row.items()} if isinstance(row, dict) else {"row": _plain(row)}
                for row in res.get("partial_unexpected_index_list") or []
            ][:PREVIEW_IDS]
            observed = {k: res[k] for k in ("observed_value", "unexpected_count", "unexpected_percent") if k in res}
            outcomes.append(
                Outcome(
                    name=exp.name,
                    passed=bool(result.success),
                    severity=exp.severity,
                    observed=json.dumps(observed, default=_plain)[:2000],
                    description=exp.description,
                    unexpected_count=int(res.get("unexpected_count") or 0),
                    offending=offending,
                )
            )
    finally:
        for name in sources:
            ctx.data_sources.delete(name)
    return outcomes
