"""The marts over the whole graph: the replay figures the issue names, sample provenance, metadata, cookbook."""

from __future__ import annotations

import dagster as dg
import pytest

from assets.mart_sql import load_mart_sql
from orchestration.cookbook import README, parse, run
from tests.integration._graph import MART_KEYS, failure_messages, query, scalar

MART_TABLES = {k.path[1] for k in MART_KEYS if k.path[1] != "rally_report"}


def _ytd(warehouse, ticker: str) -> float:
    return scalar(
        warehouse,
        "SELECT 100 * return_local FROM marts.performance"
        " WHERE ticker = ? AND as_of_date = '2025-09-17' AND period = 'YTD'",
        [ticker],
    )


def _claim(warehouse, claim_id: int) -> dict:
    return query(warehouse, "SELECT * FROM marts.claims_scorecard WHERE claim_id = ?", [claim_id]).row(0, named=True)


def _materialization(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    assert events, f"{key.to_user_string()} was not materialized"
    return events[-1].step_materialization_data.materialization.metadata


# --------------------------------------------------------------------------- replay


@pytest.mark.replay
@pytest.mark.parametrize(
    ("ticker", "expected", "tolerance"),
    [("0700.HK", 59.0, 0.5), ("9988.HK", 95.0, 0.5), ("9888.HK", 58.0, 0.5), ("^IXIC", 15.3, 0.05)],
)
def test_replay_ytd_as_of_the_news_day(replay_run, ticker: str, expected: float, tolerance: float) -> None:
    assert replay_run.result.success, failure_messages(replay_run.result)
    assert _ytd(replay_run.warehouse, ticker) == pytest.approx(expected, abs=tolerance)


@pytest.mark.replay
def test_replay_scorecard(replay_run) -> None:
    baidu = _claim(replay_run.warehouse, 2)
    assert baidu["verdict"] in ("confirmed", "close")
    assert baidu["computed_value"] == pytest.approx(15.7, abs=0.05)
    assert "2025-09-16 to 2025-09-17" in baidu["evidence"]
    pe = _claim(replay_run.warehouse, 5)
    assert pe["verdict"] == "not verifiable" and "no fundamentals snapshot" in pe["evidence"]
    bonds = _claim(replay_run.warehouse, 8)
    assert bonds["verdict"] == "not verifiable" and bonds["computed_value"] is None
    capex = _claim(replay_run.warehouse, 4)
    assert capex["verdict"] == "not verifiable"
    assert "0700.HK 2025: no data" in capex["evidence"] and "BABA 2023: no data" in capex["evidence"]
    basket = _claim(replay_run.warehouse, 1)
    assert basket["is_approximation"] and "APPROXIMATION" in basket["evidence"]
    cards = query(replay_run.warehouse, "SELECT verdict, is_sample FROM marts.claims_scorecard")
    assert cards.height == 8 and not any(cards["is_sample"].to_list())
    assert set(cards["verdict"].to_list()) <= {"confirmed", "close", "contradicted", "not verifiable"}


@pytest.mark.replay
def test_replay_marts_say_what_is_missing(replay_run) -> None:
    assert scalar(replay_run.warehouse, "SELECT count(*) FROM marts.adr_hk_premium") == 0
    adr = _materialization(replay_run.result, dg.AssetKey(["marts", "adr_hk_premium"]))
    assert "BABA: no ADR prices" in adr["inputs_missing"].value
    valuation = _materialization(replay_run.result, dg.AssetKey(["marts", "valuation"]))
    assert "no fundamentals snapshot" in valuation["inputs_missing"].value
    failed = {
        (e.asset_key.to_user_string(), e.check_name)
        for e in replay_run.result.get_asset_check_evaluations()
        if not e.passed
    }
    assert ("marts/adr_hk_premium", "pairs_have_prices") in failed
    assert ("marts/valuation", "snapshots_present") in failed
    assert ("marts/performance", "usd_return_known") in failed  # HKD rates end in December 2024
    # the error rows the returns leave out are named
    excluded = query(replay_run.warehouse, "SELECT ticker, excluded_kinds FROM marts.returns_daily WHERE is_excluded")
    assert excluded.height >= 1 and all(len(k) > 0 for k in excluded["excluded_kinds"].to_list())


@pytest.mark.replay
def test_every_mart_reports_schema_total_rows_and_a_preview(replay_run) -> None:
    for key in MART_KEYS - {dg.AssetKey(["marts", "rally_report"])}:
        meta = _materialization(replay_run.result, key)
        table = f"marts.{key.path[1]}"
        assert meta["dagster/row_count"].value == scalar(replay_run.warehouse, f"SELECT count(*) FROM {table}"), key
        columns = meta["dagster/column_schema"].schema.columns
        assert [c.name for c in columns] == list(query(replay_run.warehouse, f"SELECT * FROM {table} LIMIT 0").columns)
        documented = load_mart_sql(key.path[1]).columns
        assert all(c.description == documented[c.name] for c in columns), key
        assert meta["preview"].value.startswith("|") or meta["preview"].value == "(no rows)"
    comments = query(
        replay_run.warehouse,
        "SELECT table_name, count(*) FILTER (WHERE comment IS NULL) AS undocumented FROM duckdb_columns()"
        " WHERE schema_name = 'marts' GROUP BY ALL",
    )
    assert set(comments["table_name"].to_list()) == MART_TABLES
    assert comments["undocumented"].sum() == 0


@pytest.mark.replay
def test_marts_lineage_and_group(replay_run) -> None:
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    for key in MART_KEYS:
        assert graph.get(key).group_name == "marts"
    upstream = graph.get(dg.AssetKey(["marts", "claims_scorecard"])).parent_keys
    assert dg.AssetKey(["marts", "performance"]) in upstream
    roots = {
        k.path[0]
        for k in graph.get(dg.AssetKey(["marts", "returns_daily"])).parent_keys
        | graph.get(dg.AssetKey(["marts", "capex_trend"])).parent_keys
    }
    assert roots <= {"core", "dq", "marts"}


@pytest.mark.replay
def test_cookbook_queries_run_and_the_readme_shows_their_output(replay_run) -> None:
    import duckdb

    recipes = parse(README.read_text())
    assert len(recipes) >= 10
    with duckdb.connect(str(replay_run.warehouse), read_only=True) as con:
        for recipe in recipes:
            assert run(con, recipe) == recipe.output, f"{recipe.title}: output changed; run `make cookbook`"


# --------------------------------------------------------------------------- sample


def test_sample_warehouse_marks_every_scorecard_row_as_sample(sample_run) -> None:
    assert sample_run.result.success, failure_messages(sample_run.result)
    cards = query(sample_run.warehouse, "SELECT is_sample, evidence FROM marts.claims_scorecard")
    assert cards.height == 8
    assert cards["is_sample"].to_list() == [True] * 8
    assert all(e.startswith("SAMPLE DATA") for e in cards["evidence"].to_list())
    assert set(query(sample_run.warehouse, "SELECT DISTINCT is_sample FROM marts.valuation")["is_sample"]) == {True}


def test_sample_marts_have_rows_where_sample_data_exists(sample_run) -> None:
    for table in ("returns_daily", "performance", "hstech_basket", "weekly_streaks", "capex_trend", "valuation"):
        assert scalar(sample_run.warehouse, f"SELECT count(*) FROM marts.{table}") > 0, table
    # the sample has ADR prices: the premium pairs every HK close with the New York close before it
    hours = query(sample_run.warehouse, "SELECT DISTINCT hours_apart FROM marts.adr_hk_premium")["hours_apart"]
    assert hours.min() > 0
