"""Curated capex: figures read from annual reports by hand, each with its citation (a data file)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

CURATED_CAPEX_CSV = Path(__file__).resolve().parents[1] / "curated_capex.csv"
CURATED_SCHEMA = {
    "ticker": pl.String,
    "fiscal_year": pl.Int64,
    "period_start": pl.String,
    "period_end": pl.String,
    "capex": pl.Float64,
    "currency": pl.String,
    "document": pl.String,
    "page": pl.String,
    "note": pl.String,
}


def load_curated_capex(path: Path | str = CURATED_CAPEX_CSV) -> pl.DataFrame:
    """The curated rows, typed; a row without its document and page is an error naming it."""
    frame = pl.read_csv(path, schema=CURATED_SCHEMA)
    uncited = frame.filter(pl.col("document").is_null() | pl.col("page").is_null())
    if uncited.height:
        raise ValueError(
            f"{path}: rows without a citation (document and page): {uncited.select('ticker', 'fiscal_year').rows()}"
        )
    return frame
