"""The whole asset graph from the offline sample source: loads, lineage, checks, metadata, idempotency."""

from __future__ import annotations

import polars as pl
import pytest

from assets.quality.gx import load_suite
from tests.integration._graph import (
    ALL_ASSET_KEYS,
    ASSETS,
    CHECKS,
    SAMPLE_DAY,
    failed_error_checks,
    failure_messages,
    materialized_keys,
    query,
    scalar,
)

SOURCE_TABLES = [
    "raw.prices_daily",
    "core.prices_daily",
    "core.fx_daily",
    "raw.fundamentals_info",
    "core.fundamentals_snapshot",
    "core.financials_annual",
    "raw.sec_facts",
]
# every great-expectations suite, by the table whose staged rows it audits before publishing
GX_SUITES = {
    "raw.prices_daily": "raw_prices_daily",
    "core.prices_daily": "prices_daily",
    "dq.price_anomalies": "price_anomalies",
    "core.fx_daily": "fx_daily",
    "raw.fundamentals_info": "raw_fundamentals_info",
    "core.fundamentals_snapshot": "fundamentals_snapshot",
    "core.financials_annual": "financials_annual",
    "raw.sec_facts": "raw_sec_facts",
    "core.capex": "capex",
}


def test_every_suite_is_declared_as_checks_on_its_asset():
    declared = {(".".join(k.asset_key.path), k.name) for c in CHECKS for k in c.check_keys}
    declared |= {(".".join(k.asset_key.path), k.name) for a in ASSETS for k in a.check_keys}
    for table, suite in GX_SUITES.items():
        assert {(table, e.name) for e in load_suite(suite)} <= declared, table


def test_whole_graph_succeeds_and_materializes_every_asset(sample_run):
    result = sample_run.result
    assert result.success, failure_messages(result)
    assert materialized_keys(result) == ALL_ASSET_KEYS
    # every declared check produced an evaluation
    declared = {key for checks_def in CHECKS for key in checks_def.check_keys}
    declared |= {key for asset in ASSETS for key in asset.check_keys}
    evaluated = {e.asset_check_key for e in result.get_asset_check_evaluations()}
    assert declared <= evaluated
    assert failed_error_checks(result) == []


@pytest.mark.parametrize("table", [*SOURCE_TABLES, "core.capex", "dq.check_results"])
def test_every_table_has_rows(sample_run, table):
    assert scalar(sample_run.warehouse, f"SELECT count(*) FROM {table}") > 0


@pytest.mark.parametrize("table", SOURCE_TABLES)
def test_every_row_comes_from_the_sample_source(sample_run, table):
    sources = query(sample_run.warehouse, f"SELECT DISTINCT source FROM {table}")["source"].to_list()
    assert sources == ["sample"]


def test_capex_lineage_names_sec_or_yfinance(sample_run):
    by_source = dict(query(sample_run.warehouse, "SELECT source, count(*) FROM core.capex GROUP BY 1").rows())
    assert set(by_source) <= {"sec", "yfinance", "curated"}
    assert by_source.get("sec", 0) > 0 and by_source.get("yfinance", 0) > 0
    # sec rows point at the filing they came from
    assert scalar(sample_run.warehouse, "SELECT count(*) FROM core.capex WHERE source = 'sec' AND concept IS NULL") == 0


def test_fundamentals_snapshot_is_for_the_run_partition(sample_run):
    days = query(sample_run.warehouse, "SELECT DISTINCT as_of_date::VARCHAR AS d FROM core.fundamentals_snapshot")
    assert days["d"].to_list() == [SAMPLE_DAY]


@pytest.mark.parametrize("table", sorted(GX_SUITES))
def test_check_results_recorded_for_each_gx_suite(sample_run, table):
    rows = query(
        sample_run.warehouse,
        "SELECT check_name, passed, severity FROM dq.check_results WHERE asset = ? AND run_id = ?",
        [table, sample_run.result.run_id],
    )
    expected = {e.name for e in load_suite(GX_SUITES[table])}
    assert set(rows["check_name"].to_list()) == expected
    assert rows.height == len(expected)
    failed_errors = rows.filter((pl.col("severity") == "ERROR") & ~pl.col("passed"))
    assert failed_errors.is_empty(), failed_errors


def test_materializations_carry_row_count_and_preview(sample_run):
    events = sample_run.result.get_asset_materialization_events()
    assert events
    for event in events:
        meta = event.materialization.metadata
        key = event.asset_key.to_user_string()
        if key == "marts/rally_report":  # a file, not a table: its metadata is the path and a chart
            assert "path" in meta and "headline_chart" in meta
            continue
        assert "dagster/row_count" in meta, key
        if meta["dagster/row_count"].value > 0:
            assert "preview" in meta, key
            assert meta["preview"].value.strip(), key
    rows = {
        e.asset_key.to_user_string(): e.materialization.metadata["dagster/row_count"].value
        for e in events
        if "dagster/row_count" in e.materialization.metadata
    }
    assert rows["core/prices_daily"] == scalar(sample_run.warehouse, "SELECT count(*) FROM core.prices_daily")


# --- idempotency: the same graph run again on the same warehouse ------------------------------------------


def _frame(warehouse, sql):
    return query(warehouse, sql)


@pytest.mark.parametrize(
    ("name", "sql"),
    [
        (
            "core.prices_daily",
            "SELECT * EXCLUDE (load_id, loaded_at) FROM core.prices_daily ORDER BY ticker, trade_date",
        ),
        ("core.fx_daily", "SELECT * FROM core.fx_daily ORDER BY trade_date, base, quote"),
        ("core.capex", "SELECT * EXCLUDE (loaded_at) FROM core.capex ORDER BY ticker, period_end, duration, accn"),
        (
            "core.fundamentals_snapshot",
            "SELECT * EXCLUDE (fetched_at) FROM core.fundamentals_snapshot ORDER BY ticker, as_of_date",
        ),
        ("dq.price_anomalies", "SELECT * FROM dq.price_anomalies ORDER BY ALL"),
        ("dq.capex_issues", "SELECT * EXCLUDE (detected_at) FROM dq.capex_issues ORDER BY ALL"),
        ("raw.prices_daily count", "SELECT count(*) AS n FROM raw.prices_daily"),
        ("raw.fundamentals_info count", "SELECT count(*) AS n FROM raw.fundamentals_info"),
        ("raw.sec_facts count", "SELECT count(*) AS n FROM raw.sec_facts"),
    ],
)
def test_second_run_leaves_identical_tables(sample_run, sample_rerun, name, sql):
    assert sample_rerun.result.success, failure_messages(sample_rerun.result)
    first, second = _frame(sample_run.warehouse, sql), _frame(sample_rerun.warehouse, sql)
    if not name.startswith("dq."):  # the sample data raises no anomaly or capex issue
        assert first.height > 0, name
    assert first.equals(second), f"{name} changed on re-run"


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ("core.prices_daily", "ticker, trade_date"),
        ("raw.prices_daily", "ticker, source, shape, trade_date"),
        ("core.fundamentals_snapshot", "ticker, as_of_date"),
        ("core.capex", "ticker, period_end, duration, accn"),
        ("core.fx_daily", "trade_date, base, quote"),
    ],
)
def test_second_run_adds_no_duplicates(sample_rerun, table, key):
    total = scalar(sample_rerun.warehouse, f"SELECT count(*) FROM {table}")
    distinct = scalar(sample_rerun.warehouse, f"SELECT count(*) FROM (SELECT DISTINCT {key} FROM {table})")
    assert total == distinct


def test_second_price_load_is_incremental(sample_run, sample_rerun):
    loads = query(
        sample_rerun.warehouse,
        "SELECT load_id, row_count, full_tickers FROM raw.loads WHERE asset = 'raw.prices_daily' ORDER BY started_at",
    )
    assert loads.height == 2
    first, second = loads.row(0, named=True), loads.row(1, named=True)
    n_tickers = scalar(sample_run.warehouse, "SELECT count(DISTINCT ticker) FROM raw.prices_daily")
    assert len(first["full_tickers"]) == n_tickers  # the first load took whole histories
    assert second["full_tickers"] == []  # the second reloaded none
    per_ticker = query(
        sample_rerun.warehouse,
        "SELECT ticker, count(*) AS n, min(trade_date) AS first FROM raw.prices_daily WHERE load_id = ? GROUP BY 1",
        [second["load_id"]],
    )
    assert per_ticker["n"].sum() == second["row_count"]
    # sample data ends 2026-08-21, overlap_days = 7: only the overlap window is fetched again
    assert per_ticker["n"].max() < 10, per_ticker.sort("n", descending=True).head()
    assert str(per_ticker["first"].min()) >= "2026-08-14"
    assert second["row_count"] < first["row_count"] / 100
