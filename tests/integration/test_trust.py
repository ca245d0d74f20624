"""Trustworthy data through the real asset path: blocking checks stop bad rows before they are
published, overlapping runs each process their own loads, bad values are rejected or flagged,
and two fresh loads leave identical tables."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from tests.integration._graph import (
    CORE_PRICES,
    FX_DAILY,
    PRICE_ANOMALIES,
    RAW_PRICES,
    RAW_SEC_FACTS,
    failure_messages,
    materialize,
    materialized_keys,
    query,
    replay_source,
    started_steps,
)

pytestmark = pytest.mark.replay

# every table a failed run must leave byte for byte as it was
TABLES = [
    "raw.prices_daily",
    "raw.loads",
    "core.prices_daily",
    "core.fx_daily",
    "dq.price_anomalies",
    "dq.rejected_prices",
    "dq.check_results",
    "meta.warehouse",
]
HISTORY = "yfinance-history/HangSengTech/{}.csv.gz"


def snapshot(warehouse: Path) -> dict[str, pl.DataFrame]:
    return {t: query(warehouse, f"SELECT * FROM {t} ORDER BY ALL") for t in TABLES}


def assert_unchanged(before: dict[str, pl.DataFrame], after: dict[str, pl.DataFrame]) -> None:
    for table in TABLES:
        assert after[table].equals(before[table]), f"{table} changed by a failed run"


def copy_files(replay_dir: Path, folder: Path, rels: list[str]) -> None:
    for rel in rels:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(replay_dir / rel, folder / rel)


def prices_run(
    warehouse: Path, folder: Path, tmp: Path, tickers: list[str], full_refresh: bool = False
) -> dg.ExecuteInProcessResult:
    return materialize(
        warehouse,
        replay_source(folder, tmp),
        selection=[RAW_PRICES, CORE_PRICES, PRICE_ANOMALIES, FX_DAILY],
        tickers=tickers,
        full_refresh=full_refresh,
    )


def test_blocking_check_stops_a_shrunk_history_before_it_is_published(replay_dir, tmp_path):
    """Yahoo answering period=max with one year: the whole reload would erase years of history."""
    folder = tmp_path / "replay"
    rels = [HISTORY.format("9888.HK"), "yfinance-history/FX/CNY=X.csv.gz"]
    copy_files(replay_dir, folder, rels)
    warehouse = tmp_path / "warehouse.duckdb"
    first = prices_run(warehouse, folder, tmp_path, ["9888.HK", "CNY=X"])
    assert first.success, failure_messages(first)
    before = snapshot(warehouse)

    lines = gzip.decompress((folder / rels[0]).read_bytes()).decode().splitlines()
    (folder / rels[0]).write_bytes(gzip.compress("\n".join([lines[0], *lines[-250:]]).encode() + b"\n"))
    result = prices_run(warehouse, folder, tmp_path, ["9888.HK", "CNY=X"], full_refresh=True)

    assert not result.success
    message = failure_messages(result)["raw__prices_daily"]
    assert "history_not_shrunk" in message and "9888.HK" in message
    assert "Nothing was published" in message
    assert started_steps(result).isdisjoint({"core__prices_daily", "dq__price_anomalies", "core__fx_daily"})
    failure = next(e for e in result.get_step_failure_events() if e.step_key == "raw__prices_daily")
    offending = failure.event_specific_data.user_failure_data.metadata["history_not_shrunk offending rows"].value
    assert "9888.HK" in offending
    assert_unchanged(before, snapshot(warehouse))


def test_blocking_fx_band_keeps_an_inverted_quote_out_of_core_fx(replay_dir, tmp_path):
    """A CNY=X file quoting USD per CNY (0.14 instead of 7.1) must not reach every USD conversion."""
    folder = tmp_path / "replay"
    rel = "yfinance-history/FX/CNY=X.csv.gz"
    copy_files(replay_dir, folder, [rel])
    warehouse = tmp_path / "warehouse.duckdb"
    assert prices_run(warehouse, folder, tmp_path, ["CNY=X"]).success
    fx_before = query(warehouse, "SELECT * FROM core.fx_daily ORDER BY ALL")

    frame = pl.read_csv(folder / rel, infer_schema=False)
    inverted = frame.with_columns(
        pl.when(pl.int_range(pl.len()) >= pl.len() - 3)
        .then(1 / pl.col(c).cast(pl.Float64))
        .otherwise(pl.col(c).cast(pl.Float64))
        .alias(c)
        for c in ("Open", "High", "Low", "Close")
    )
    (folder / rel).write_bytes(gzip.compress(inverted.write_csv().encode()))
    result = prices_run(warehouse, folder, tmp_path, ["CNY=X"], full_refresh=True)

    assert not result.success
    message = failure_messages(result)["core__fx_daily"]
    assert "cny_rate_plausible" in message and "CNY" in message
    assert FX_DAILY not in materialized_keys(result)
    assert query(warehouse, "SELECT * FROM core.fx_daily ORDER BY ALL").equals(fx_before)


def test_bad_values_are_rejected_or_flagged_and_one_bad_file_fails_only_itself(replay_dir, tmp_path):
    folder = tmp_path / "replay"
    copy_files(replay_dir, folder, [HISTORY.format(t) for t in ("0700.HK", "9988.HK", "9888.HK")])
    hist = folder / "yfinance-history/HangSengTech"

    # 0700.HK: a NaN close, a row stamped at -05:00, and a conflicting duplicate of a real day
    frame = pl.read_csv(hist / "0700.HK.csv.gz", infer_schema=False)
    rows = frame.filter(pl.col("Date").str.starts_with("2025-09-1"))
    nan_day, dup_day, moved_day = rows["Date"][0], rows["Date"][1], rows["Date"][2]
    dup = frame.filter(pl.col("Date") == dup_day).with_columns(pl.lit("1.0").alias("Close"))
    frame = frame.with_columns(
        pl.when(pl.col("Date") == nan_day).then(pl.lit("nan")).otherwise(pl.col("Close")).alias("Close"),
        # the same instant written in New York time: 00:00+08:00 is 11:00-05:00 the day before
        pl.when(pl.col("Date") == moved_day)
        .then(
            pl.col("Date")
            .str.to_datetime("%Y-%m-%d %H:%M:%S%z")
            .dt.convert_time_zone("America/New_York")
            .dt.strftime("%Y-%m-%d %H:%M:%S%:z")
        )
        .otherwise(pl.col("Date"))
        .alias("Date"),
    )
    (hist / "0700.HK.csv.gz").write_bytes(gzip.compress(pl.concat([frame, dup]).write_csv().encode()))
    # 9988.HK: schema drift, no Volume column
    drifted = pl.read_csv(hist / "9988.HK.csv.gz", infer_schema=False).drop("Volume")
    (hist / "9988.HK.csv.gz").write_bytes(gzip.compress(drifted.write_csv().encode()))
    # one SEC filing truncated, another intact
    sec = folder / "sec-companyfacts"
    sec.mkdir()
    whole = (replay_dir / "sec-companyfacts/CIK0000320193.json.gz").read_bytes()
    (sec / "CIK0000320193.json.gz").write_bytes(whole[: len(whole) // 3])
    shutil.copy(replay_dir / "sec-companyfacts/CIK0001045810.json.gz", sec / "CIK0001045810.json.gz")

    warehouse = tmp_path / "warehouse.duckdb"
    result = materialize(
        warehouse,
        replay_source(folder, tmp_path),
        selection=[RAW_PRICES, CORE_PRICES, RAW_SEC_FACTS],
        tickers=["0700.HK", "9988.HK", "9888.HK", "AAPL", "NVDA"],
    )
    assert result.success, failure_messages(result)
    core = query(
        warehouse, "SELECT ticker, trade_date::VARCHAR AS d, close FROM core.prices_daily WHERE ticker = '0700.HK'"
    )
    day = {d: c for _, d, c in core.rows()}
    # NaN close: rejected, not stored
    assert nan_day[:10] not in day
    rejected = query(
        warehouse, "SELECT trade_date::VARCHAR AS d, reason FROM dq.rejected_prices WHERE ticker = '0700.HK'"
    )
    reasons = dict(rejected.rows())
    assert nan_day[:10] in reasons
    # the -05:00 stamp lands on its Hong Kong day, not a day early
    assert moved_day[:10] in day
    # the conflicting duplicate: one version kept, the other findable with the reason, and flagged
    assert reasons.get(dup_day[:10]) == "conflicting_duplicate"
    flags = query(
        warehouse, "SELECT kind FROM dq.price_anomalies WHERE ticker = '0700.HK' AND trade_date = ?", [dup_day[:10]]
    )
    assert "conflicting_duplicate" in flags["kind"].to_list()
    # schema drift fails only its own ticker, named, and the others load
    loaded = set(query(warehouse, "SELECT DISTINCT ticker FROM core.prices_daily")["ticker"].to_list())
    assert loaded == {"0700.HK", "9888.HK"}
    check = next(
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key == RAW_PRICES and e.check_name == "fetch_failures"
    )
    failures = check.metadata["failures"].value
    assert "Volume" in failures["9988.HK"]
    # the truncated filing fails only its filer, naming the file and the CIK
    sec_check = next(
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key == RAW_SEC_FACTS and e.check_name == "fetch_failures"
    )
    sec_failures = sec_check.metadata["failures"].value
    (key,) = [k for k in sec_failures if "CIK0000320193" in k]
    assert "CIK0000320193.json.gz" in sec_failures[key] and "truncated" in sec_failures[key]
    ciks = query(warehouse, "SELECT DISTINCT cik FROM raw.sec_facts")["cik"].to_list()
    assert ciks == [1045810]


def test_two_fresh_loads_leave_identical_tables(replay_run, replay_dir, tmp_path):
    """Deterministic: the same recorded input, loaded twice from scratch, gives the same tables."""
    other = tmp_path / "warehouse.duckdb"
    result = materialize(other, replay_source(replay_dir, tmp_path))
    assert result.success, failure_messages(result)
    volatile = {"load_id", "loaded_at", "fetched_at", "detected_at", "rejected_at", "created_at", "path"}
    for table in [
        "raw.prices_daily",
        "core.prices_daily",
        "core.fx_daily",
        "dq.price_anomalies",
        "dq.rejected_prices",
        "raw.sec_facts",
        "core.capex",
        "dq.capex_issues",
    ]:
        cols = [c for c in query(other, f"SELECT * FROM {table} LIMIT 0").columns if c not in volatile]
        sql = f"SELECT {', '.join(cols)} FROM {table} ORDER BY ALL"
        assert query(other, sql).equals(query(replay_run.warehouse, sql)), table
