"""Fault cases: corrupt replay files, a write failing mid-transaction, network down, SEC misconfigured.

Blocking checks stopping bad rows before they are published: tests/integration/test_trust.py."""

from __future__ import annotations

import gzip
import json
import shutil
import socket
import time
from pathlib import Path

import pytest

# imported here, not lazily inside a test: on import yfinance installs a warnings filter that would
# otherwise override the test's own
import yfinance  # noqa: F401

import assets.prices
from assets.sources.resource import SourceResource
from tests.integration._graph import (
    CORE_PRICES,
    RAW_PRICES,
    failure_messages,
    materialize,
    materialized_keys,
    query,
    replay_source,
    scalar,
)

GOOD = {  # ticker -> (recorded file, shape)
    "9888.HK": ("yfinance-history/HangSengTech/9888.HK.csv.gz", "history"),
    "CNY=X": ("yfinance-history/FX/CNY=X.csv.gz", "history"),
    "^NDX": ("yfinance-download/^NDX.csv.gz", "download"),
}


def _data_lines(path: Path, shape: str) -> int:
    lines = [line for line in gzip.decompress(path.read_bytes()).decode().splitlines() if line.strip()]
    return len(lines) - (1 if shape == "history" else 3)


@pytest.fixture()
def corrupt_replay_dir(replay_dir: Path, tmp_path: Path) -> Path:
    """A small replay folder in tmp: three real recorded files and three broken ones for other universe tickers."""
    folder = tmp_path / "replay"
    for rel, _shape in GOOD.values():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(replay_dir / rel, folder / rel)
    hs = folder / "yfinance-history" / "HangSengTech"
    (hs / "0700.HK.csv.gz").write_bytes(b"\x00\xffnot gzip, not csv\x9c" * 50)  # garbage bytes
    (hs / "9988.HK.csv.gz").write_bytes(gzip.compress(b"this is not,a price file\n1,2\n"))  # wrong columns
    real = (replay_dir / "yfinance-history/HangSengTech/1810.HK.csv.gz").read_bytes()
    (hs / "1810.HK.csv.gz").write_bytes(real[: len(real) // 2])  # truncated download
    return folder


@pytest.mark.replay
def test_corrupt_replay_file_is_a_named_failure_not_fatal(corrupt_replay_dir, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    bad = ["0700.HK", "9988.HK", "1810.HK"]
    result = materialize(
        warehouse,
        replay_source(corrupt_replay_dir, tmp_path),
        selection=[RAW_PRICES, CORE_PRICES],
        tickers=[*GOOD, *bad],
    )
    assert result.success, failure_messages(result)
    assert {RAW_PRICES, CORE_PRICES} <= materialized_keys(result)

    # the good tickers load row for row
    loaded = dict(query(warehouse, "SELECT ticker, count(*) FROM raw.prices_daily GROUP BY 1").rows())
    assert loaded == {t: _data_lines(corrupt_replay_dir / rel, shape) for t, (rel, shape) in GOOD.items()}
    assert set(query(warehouse, "SELECT DISTINCT ticker FROM core.prices_daily")["ticker"].to_list()) == set(GOOD)

    # the bad ones are named, with why, in the load log and in the check metadata
    failures = json.loads(scalar(warehouse, "SELECT failures FROM raw.loads WHERE asset = 'raw.prices_daily'"))
    assert set(failures) == set(bad)
    assert all(problem for problem in failures.values())
    check = next(
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key == RAW_PRICES and e.check_name == "fetch_failures"
    )
    assert not check.passed
    assert set(check.metadata["failures"].value) == set(bad)


def test_failed_write_leaves_core_prices_as_they_were(sample_copy, tmp_path, monkeypatch):
    """core/prices_daily fails after its DELETE + INSERT ran: the transaction rolls back completely."""
    warehouse = sample_copy
    tables = {
        "core.prices_daily": "SELECT * FROM core.prices_daily ORDER BY ticker, trade_date",
        "dq.rejected_prices": "SELECT * FROM dq.rejected_prices ORDER BY ALL",
        "dq.price_anomalies": "SELECT * FROM dq.price_anomalies ORDER BY ALL",
        "raw.loads": "SELECT * FROM raw.loads ORDER BY ALL",
    }
    before = {name: query(warehouse, sql) for name, sql in tables.items()}
    # the latest raw load was a first (whole-history) load: the asset replaces every ticker's rows first
    assert scalar(warehouse, "SELECT count(*) FROM core.prices_daily") > 100_000

    real_upsert = assets.prices.upsert
    calls: list[str] = []

    def failing_upsert(con, table, frame):
        calls.append(table)
        if table == "dq.rejected_prices":
            # prove the core rows really were rewritten inside the transaction before the failure
            assert con.execute("SELECT max(loaded_at) FROM core.prices_daily").fetchone()[0] > max(
                before["core.prices_daily"]["loaded_at"]
            )
            raise RuntimeError("injected failure after the core write")
        return real_upsert(con, table, frame)

    monkeypatch.setattr(assets.prices, "upsert", failing_upsert)
    result = materialize(warehouse, SourceResource(source="sample"), selection=[CORE_PRICES])

    assert not result.success
    assert "injected failure" in failure_messages(result)["core__prices_daily"]
    assert calls == ["core.prices_daily", "dq.rejected_prices"]
    assert CORE_PRICES not in materialized_keys(result)
    for name, sql in tables.items():
        assert query(warehouse, sql).equals(before[name]), f"{name} changed by a failed run"


def _yahoo_reachable() -> bool:
    try:
        with socket.create_connection(("query1.finance.yahoo.com", 443), timeout=3):
            return True
    except OSError:
        return False


def test_live_prices_with_network_down_fail_fast(tmp_path, yf_state):
    if _yahoo_reachable():
        pytest.skip("Yahoo Finance is reachable from here: this test needs the network down")
    source = SourceResource(source="live", sec_user_agent="ct test@example.com", cache_dir=str(tmp_path / "cache"))
    started = time.monotonic()
    result = materialize(
        tmp_path / "warehouse.duckdb",
        source,
        selection=[RAW_PRICES],
        tickers=["9888.HK", "AAPL"],
    )
    elapsed = time.monotonic() - started
    assert not result.success
    assert elapsed < 30, f"took {elapsed:.1f}s to notice the network is down"
    message = failure_messages(result)["raw__prices_daily"]
    assert "9888.HK" in message and "AAPL" in message
    assert "Yahoo" in message and "unreachable" in message


def test_live_without_sec_user_agent_is_refused_before_fetching(tmp_path, monkeypatch):
    """Live mode checks its settings at run start: no price is fetched, no file is written."""
    monkeypatch.delenv("CHINATECH_SEC_USER_AGENT", raising=False)
    source = SourceResource(source="live", sec_user_agent="", cache_dir=str(tmp_path / "cache"))
    with pytest.raises(Exception, match="resource") as err:
        materialize(tmp_path / "warehouse.duckdb", source, selection=[RAW_PRICES], raise_on_error=True)
    assert "CHINATECH_SEC_USER_AGENT" in str(err.value.__cause__)
    assert not (tmp_path / "warehouse.duckdb").exists()
