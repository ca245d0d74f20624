"""Jobs: one for every asset (in-process: DuckDB takes one writer, and steps are quick)."""

from __future__ import annotations

import dagster as dg

all_assets_job = dg.define_asset_job(
    name="all_assets",
    selection=dg.AssetSelection.all(),
    executor_def=dg.in_process_executor,
    description="Materialize every asset and run every check, in dependency order.",
)
