"""Write, audit, publish: great-expectations suites run on a load's staged rows inside the asset.

Each asset builds its rows (staging), calls ``audit`` on them, and publishes to the warehouse
in one transaction only when no blocking (ERROR) expectation failed; otherwise ``stop_if_blocking``
fails the step naming the check and the offending rows, and nothing is written. The outcomes
become the asset's check results (declared with ``suite_specs``) and rows of dq.check_results.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date

import dagster as dg
import polars as pl

from assets.quality.gx import Outcome, load_suite, validate

SEVERITY = {"ERROR": dg.AssetCheckSeverity.ERROR, "WARN": dg.AssetCheckSeverity.WARN}


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


def audit(suite: str, frames: pl.DataFrame | dict[str, pl.DataFrame], today: date | None = None) -> list[Outcome]:
    """Run ``suite`` on the staged rows (and their profiles) before anything is published."""
    return validate(frames, load_suite(suite), today=today)


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
