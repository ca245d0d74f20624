"""The whole graph against a local DuckLake catalog: same tables, same rows as the single DuckDB file.

DuckLake lacks PRIMARY KEY / CHECK constraints and INSERT OR REPLACE; the write path checks
the same rules itself (assets/warehouse.py), so every table must come out identical.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from assets.warehouse import ConstraintViolation, WarehouseResource, connect_waiting, upsert
from tests.integration._graph import RAW_PRICES, failure_messages, materialize, sample_source
from tests.integration.conftest import GraphRun

# columns that differ between any two runs (times, ids, paths)
VOLATILE = {
    "fetched_at",
    "loaded_at",
    "load_id",
    "run_id",
    "detected_at",
    "rejected_at",
    "checked_at",
    "started_at",
    "created_at",
    "path",
    "observed",
    "applied_at",
}
TABLES = [
    "raw.prices_daily",
    "core.prices_daily",
    "dq.rejected_prices",
    "dq.price_anomalies",
    "core.fx_daily",
    "raw.fundamentals_info",
    "core.fundamentals_snapshot",
    "core.financials_annual",
    "raw.sec_facts",
    "core.capex",
    "dq.capex_issues",
    "dq.check_results",
    "raw.loads",
    "meta.warehouse",
]
VIEWS = ["core.prices_daily_flagged", "core.capex_annual_latest", "dq.fx_unflagged_moves"]


def stable(con: duckdb.DuckDBPyConnection, table: str) -> pl.DataFrame:
    frame = con.execute(f"SELECT * FROM {table}").pl()
    frame = frame.drop([c for c in frame.columns if c in VOLATILE])
    if "info" in frame.columns:  # JSON documents embed fetch times of the run
        frame = frame.drop("info")
    return frame.sort(frame.columns, nulls_last=True)


@pytest.fixture(scope="module")
def lake_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, object]:
    tmp = tmp_path_factory.mktemp("lake")
    location, data = f"ducklake:{tmp / 'catalog.ducklake'}", str(tmp / "lake_files")
    return location, data, materialize(location, sample_source(tmp), lake_data=data)


def test_whole_graph_on_ducklake_matches_single_file(sample_run: GraphRun, lake_run) -> None:
    location, data, result = lake_run
    assert result.success, failure_messages(result)
    with (
        duckdb.connect(str(sample_run.warehouse), read_only=True) as single,
        connect_waiting(location, read_only=True, lake_data=data) as lake,
    ):
        assert (
            lake.execute("SELECT type FROM duckdb_databases() WHERE database_name = current_database()").fetchone()[0]
            == "ducklake"
        )
        for table in TABLES + VIEWS:
            want, got = stable(single, table), stable(lake, table)
            if table in ("raw.prices_daily", "core.prices_daily", "core.capex", "dq.check_results"):
                assert got.height > 0, table
            assert got.equals(want), f"{table}: lake {got.height} rows vs file {want.height}"
        # macros live in the catalog too
        assert lake.execute("SELECT core.to_usd(710, 'CNY', DATE '2024-06-01')").fetchone()[0] == pytest.approx(
            single.execute("SELECT core.to_usd(710, 'CNY', DATE '2024-06-01')").fetchone()[0]
        )
    # the data is Parquet under the data folder, the catalog holds no rows
    assert list(Path(data).rglob("*.parquet"))


def test_ducklake_rerun_is_idempotent(lake_run, tmp_path: Path) -> None:
    location, data, first = lake_run
    assert first.success
    with connect_waiting(location, read_only=True, lake_data=data) as lake:
        before = {t: stable(lake, t) for t in ("raw.prices_daily", "core.prices_daily", "dq.price_anomalies")}
    again = materialize(location, sample_source(tmp_path), lake_data=data, selection=[RAW_PRICES])
    assert again.success, failure_messages(again)
    with connect_waiting(location, read_only=True, lake_data=data) as lake:
        for table, frame in before.items():
            assert stable(lake, table).equals(frame), table


def test_ducklake_write_path_enforces_the_schema_constraints(tmp_path: Path) -> None:
    wh = WarehouseResource(mode="sample", path=f"ducklake:{tmp_path / 'c.ducklake'}", lake_data=str(tmp_path / "d"))
    row = {
        "trade_date": [date(2024, 1, 2)],
        "base": ["USD"],
        "quote": ["CNY"],
        "rate": [7.1],
        "source": ["sample"],
    }
    good = pl.DataFrame(row)
    with wh.transaction() as con:
        upsert(con, "core.fx_daily", good)
        upsert(con, "core.fx_daily", good.with_columns(pl.lit(7.2).alias("rate")))  # same key: replaced
    assert wh.query("SELECT rate FROM core.fx_daily")["rate"].to_list() == [7.2]
    with pytest.raises(ConstraintViolation, match="CHECK"), wh.transaction() as con:
        upsert(con, "core.fx_daily", good.with_columns(pl.lit(-1.0).alias("rate")))
    with pytest.raises(ConstraintViolation, match="duplicate key"), wh.transaction() as con:
        upsert(con, "core.fx_daily", pl.concat([good, good]))
    assert wh.query("SELECT rate FROM core.fx_daily")["rate"].to_list() == [7.2]  # rolled back


def test_sqlite_catalog(tmp_path: Path) -> None:
    """A catalog in a SQLite file (several processes can open it) runs the price assets too."""
    location = f"ducklake:sqlite:{tmp_path / 'catalog.sqlite'}"
    files = str(tmp_path / "files")
    result = materialize(location, sample_source(tmp_path), lake_data=files, selection=[RAW_PRICES])
    assert result.success, failure_messages(result)
    with connect_waiting(location, read_only=True, lake_data=str(tmp_path / "files")) as lake:
        assert lake.execute("SELECT count(*) FROM raw.prices_daily").fetchone()[0] > 1000
