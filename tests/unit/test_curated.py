"""The curated capex file: typed, cited, and usable by the capex fallback."""

from pathlib import Path

import polars as pl
import pytest

from assets.sources.curated import CURATED_CAPEX_CSV, load_curated_capex
from assets.transforms.capex import capex_from_curated

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "curated_capex.synthetic.csv"


def test_project_file_loads() -> None:
    frame = load_curated_capex(CURATED_CAPEX_CSV)
    assert frame.schema["capex"] == pl.Float64


def test_synthetic_rows_become_cited_capex_rows() -> None:
    rows = capex_from_curated(load_curated_capex(FIXTURE))
    assert rows.height > 0
    assert set(rows["source"].to_list()) == {"curated"}
    assert rows["form"].null_count() == 0  # the document
    assert all(a.startswith("p.") for a in rows["accn"].to_list())  # the page


def test_uncited_row_is_an_error_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "curated.csv"
    bad.write_text(
        "ticker,fiscal_year,period_start,period_end,capex,currency,document,page,note\n"
        "0700.HK,2024,2024-01-01,2024-12-31,1.0,CNY,,,\n"
    )
    with pytest.raises(ValueError, match=r"0700\.HK"):
        load_curated_capex(bad)
