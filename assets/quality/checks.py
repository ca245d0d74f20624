"""Write, audit, publish: great-expectations suites run on a load's staged rows inside the asset.

Each asset builds its rows (staging), calls ``audit`` on them, and publishes to the warehouse
in one transaction only when no blocking (ERROR) expectation failed; otherwise ``stop_if_blocking``
fails the step naming the check and the offending rows, and nothing is written. The outcomes
become the asset's check results (declared with ``suite_specs``) and rows of dq.check_results.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import date

import dagster as dg
import polars as pl

from assets.quality.gx import Outcome, load_suite, validate, warm_up

SEVERITY = {"ERROR": dg.AssetCheckSeverity.ERROR, "WARN": dg.AssetCheckSeverity.WARN}


def asset_with_checks(
    *,
    key: dg.AssetKey,
    check_specs: list[dg.AssetCheckSpec],
    group_name: str,
    kinds: set[str],
    description: str,
    deps: Iterable[dg.AssetKey] = (),
    pool: str | None = None,
    retry_policy: dg.RetryPolicy | None = None,
    freshness_policy: dg.FreshnessPolicy | None = None,
    automation_condition: dg.AutomationCondition | None = None,
) -> Callable:
    """``@dg.asset`` whose checks a run may leave out (``AssetSelection.without_checks()``).

    A one-asset ``multi_asset`` with ``can_subset``: a plain asset cannot be run without its
    checks. ``audit`` and ``only_selected`` then skip what was not selected.
    """
    return dg.multi_asset(
        name=key.to_python_identifier(),
        specs=[
            dg.AssetSpec(
                key,
                deps=list(deps),
                group_name=group_name,
                kinds=kinds,
                description=description,
                freshness_policy=freshness_policy,
                automation_condition=automation_condition,
            )
        ],
        check_specs=check_specs,
        pool=pool,
        retry_policy=retry_policy,
        can_subset=True,
    )


def suite_specs(asset_key: dg.AssetKey, suite: str) -> list[dg.AssetCheckSpec]:
    """One check per expectation; ERROR ones are blocking (downstream waits for them)."""
    return [
        dg.AssetCheckSpec(
            name=e.name,
            asset=asset_key,
            blocking=e.severity == "ERROR",
            description=f"{'Blocking' if e.severity == 'ERROR' else 'Warning'}: {e.description}",
        )
        for e in load_suite(suite)
    ]


Frame = pl.DataFrame | Callable[[], pl.DataFrame]


def selected_check_names(context: dg.AssetExecutionContext | None, asset_key: dg.AssetKey | None) -> set[str] | None:
    """Names of this asset's checks the run selected (None: no context, so all of them)."""
    if context is None or asset_key is None:
        return None
    return {k.name for k in context.selected_asset_check_keys if k.asset_key == asset_key}


def prepare_audit(suite: str, context: dg.AssetExecutionContext, asset_key: dg.AssetKey) -> None:
    """Call at a step's start: when the run selected any of ``suite``'s checks, great-expectations
    loads in the background while the step fetches (``gx.warm_up``)."""
    wanted = selected_check_names(context, asset_key)
    if any(wanted is None or e.name in wanted for e in load_suite(suite)):
        warm_up()


def audit(
    suite: str,
    frames: Frame | dict[str, Frame],
    today: date | None = None,
    *,
    context: dg.AssetExecutionContext | None = None,
    asset_key: dg.AssetKey | None = None,
) -> list[Outcome]:
    """Run ``suite`` on the staged rows (and their profiles) before anything is published.

    With ``context``, only the expectations whose checks the run selected run (a run without
    checks imports no great-expectations at all); a frame given as a function is built only
    when an expectation needs it.
    """
    expectations = load_suite(suite)
    wanted = selected_check_names(context, asset_key)
    if wanted is not None:
        expectations = [e for e in expectations if e.name in wanted]
    if not expectations:
        return []
    named = frames if isinstance(frames, dict) else {"rows": frames}
    needed = {e.on for e in expectations}
    built = {name: (f() if callable(f) else f) for name, f in named.items() if name in needed}
    return validate(built, expectations, today=today)


def audit_columns(suite: str, on: str = "rows") -> set[str] | None:
    """Columns the suite's expectations on frame ``on`` read (keep just these of a large load for ``audit``).

    None means every column (an expectation with a row condition may read any).
    """
    cols: set[str] = set()
    for exp in load_suite(suite):
        if exp.on != on:
            continue
        if "row_condition" in exp.kwargs:
            return None
        for key, value in exp.kwargs.items():
            if key.startswith("column"):
                cols.update([value] if isinstance(value, str) else value)
        cols.update(exp.ids)
    return cols


def keep_columns(frame: pl.DataFrame, columns: set[str] | None) -> pl.DataFrame:
    """``frame`` cut to ``columns`` (``audit_columns``), text as categories (a 12 M-row ticker column costs
    50 MB instead of 300); None keeps all."""
    kept = frame if columns is None else frame.select([c for c in frame.columns if c in columns])
    return kept.with_columns(pl.col(c).cast(pl.Categorical) for c, t in kept.schema.items() if t == pl.String)


def only_selected(context: dg.AssetExecutionContext, results: list[dg.AssetCheckResult]) -> list[dg.AssetCheckResult]:
    """Drop results of checks the run did not select (Dagster refuses results it did not ask for)."""
    keys = context.selected_asset_check_keys
    names = {(k.asset_key, k.name) for k in keys}
    own = {k.name for k in keys if k.asset_key == context.asset_key} if len(context.assets_def.keys) == 1 else set()
    return [r for r in results if (r.asset_key, r.check_name) in names or (r.asset_key is None and r.check_name in own)]


def _offending_md(outcome: Outcome) -> str:
    if not outcome.offending:
        return "none listed"
    return pl.DataFrame(outcome.offending).head(20).pipe(markdown_table)


def markdown_table(frame: pl.DataFrame) -> str:
    """A real markdown table (the UI renders it), values shortened for reading."""
    if frame.is_empty():
        return "(no rows)"
    cols = frame.columns
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.iter_rows():
        cells = []
        for v in row:
            text = f"{v:.6g}" if isinstance(v, float) else ("" if v is None else str(v))
            cells.append(text.replace("|", "\\|").replace("\n", " ")[:80])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def stop_if_blocking(asset_key: dg.AssetKey, outcomes: Iterable[Outcome]) -> None:
    """Fail the step before publishing when a blocking expectation failed; say which and where."""
    failed = [o for o in outcomes if o.blocking_failure]
    if not failed:
        return
    names = ", ".join(o.name for o in failed)
    detail = "; ".join(
        f"{o.name} ({o.description}): {o.unexpected_count} offending row(s), e.g. "
        + json.dumps(o.offending[:5], default=str)
        for o in failed
    )
    raise dg.Failure(
        description=(
            f"{asset_key.to_user_string()}: blocking check(s) failed: {names}. Nothing was published; "
            f"the warehouse is as it was before this step. {detail}"
        ),
        metadata={f"{o.name} offending rows": dg.MetadataValue.md(_offending_md(o)) for o in failed},
        allow_retries=False,
    )


def check_results(asset_key: dg.AssetKey, outcomes: Iterable[Outcome]) -> list[dg.AssetCheckResult]:
    return [
        dg.AssetCheckResult(
            asset_key=asset_key,
            check_name=o.name,
            passed=o.passed,
            severity=SEVERITY[o.severity],
            description=o.description,
            metadata={
                "offending_rows": dg.MetadataValue.int(o.unexpected_count),
                "examples": dg.MetadataValue.md(_offending_md(o)),
                "observed": dg.MetadataValue.json(json.loads(o.observed)),
            },
        )
        for o in outcomes
    ]


def fetch_failures_check(failures: dict[str, str]) -> dg.AssetCheckResult:
    """The WARN check every fetching asset reports: which tickers or filings failed, and why."""
    table = pl.DataFrame(
        {"ticker_or_filing": list(failures), "problem": list(failures.values())},
        schema={"ticker_or_filing": pl.String, "problem": pl.String},
    ).sort("ticker_or_filing")
    return dg.AssetCheckResult(
        check_name="fetch_failures",
        passed=not failures,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "failures": dg.MetadataValue.json(failures),
            "count": dg.MetadataValue.int(len(failures)),
            "table": dg.MetadataValue.md(markdown_table(table)),
        },
    )


FETCH_FAILURES_DESCRIPTION = "Warning: tickers or filings the source gave nothing usable for, each with the reason."
