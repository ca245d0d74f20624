"""Materialization metadata every asset reports: row count, tickers, date range, a preview."""

from __future__ import annotations

from typing import Any

import dagster as dg
import polars as pl


def frame_metadata(
    frame: pl.DataFrame,
    date_col: str | None = "trade_date",
    key_col: str | None = "ticker",
    preview_rows: int = 10,
    **extra: Any,
) -> dict[str, Any]:
    """Standard metadata for a loaded frame; ``extra`` values are added as given."""
    meta: dict[str, Any] = {"dagster/row_count": dg.MetadataValue.int(frame.height)}
    if key_col and key_col in frame.columns:
        keys = sorted(str(k) for k in frame[key_col].unique().drop_nulls().to_list())
        meta[f"{key_col}s"] = dg.MetadataValue.int(len(keys))
        meta[f"{key_col}_list"] = dg.MetadataValue.text(", ".join(keys[:200]))
    if date_col and date_col in frame.columns and frame.height:
        meta["date_min"] = dg.MetadataValue.text(str(frame[date_col].min()))
        meta["date_max"] = dg.MetadataValue.text(str(frame[date_col].max()))
    if frame.height:
        preview = frame.sort(date_col, descending=True) if date_col in frame.columns else frame
        with pl.Config(
            tbl_formatting="MARKDOWN",
            tbl_hide_dataframe_shape=True,
            tbl_hide_column_data_types=True,
            tbl_cols=20,
            fmt_str_lengths=40,
        ):
            meta["preview"] = dg.MetadataValue.md(str(preview.head(preview_rows)))
    for key, value in extra.items():
        meta[key] = value if isinstance(value, dg.MetadataValue) else _auto(value)
    return meta


def _auto(value: Any) -> dg.MetadataValue:
    if isinstance(value, bool):
        return dg.MetadataValue.bool(value)
    if isinstance(value, int):
        return dg.MetadataValue.int(value)
    if isinstance(value, float):
        return dg.MetadataValue.float(value)
    if isinstance(value, dict | list):
        return dg.MetadataValue.json(value)
    return dg.MetadataValue.text(str(value))
