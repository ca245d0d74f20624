"""The whole graph over the recorded real data (../shared/data): row-for-row loads and known real values."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.integration._graph import (
    FX_DAILY,
    PRICE_ANOMALIES,
    copy_warehouse,
    failure_messages,
    materialize,
    query,
    replay_source,
    scalar,
)

pytestmark = pytest.mark.replay


def _recorded_files(replay_dir: Path) -> list[tuple[str, str, Path]]:
    """(ticker, shape, path) of every recorded price file."""
    files = [
        (p.name.removesuffix(".csv.gz"), "history", p) for p in sorted(replay_dir.glob("yfinance-history/*/*.csv.gz"))
    ]
    files += [
        (p.name.removesuffix(".csv.gz"), "download", p) for p in sorted(replay_dir.glob("yfinance-download/*.csv.gz"))
    ]
    return files


def _data_lines(path: Path, shape: str) -> int:
    lines = [line for line in gzip.decompress(path.read_bytes()).decode().splitlines() if line.strip()]
    return len(lines) - (1 if shape == "history" else 3)  # download files have three header rows


def test_replay_run_succeeds(replay_run):
    assert replay_run.result.success, failure_messages(replay_run.result)


def test_every_recorded_price_file_loads_row_for_row(replay_run, replay_dir):
    files = _recorded_files(replay_dir)
    assert len(files) > 40
    loaded = {
        (t, s): n
        for t, s, n in query(
            replay_run.warehouse, "SELECT ticker, shape, count(*) FROM raw.prices_daily GROUP BY ALL"
        ).rows()
    }
    expected = {(t, s): _data_lines(p, s) for t, s, p in files}
    assert loaded == expected
    assert ("CNY=X", "history") in loaded and ("CNY=X", "download") in loaded
    assert scalar(replay_run.warehouse, "SELECT count(DISTINCT source) FROM raw.prices_daily") == 1
    assert scalar(replay_run.warehouse, "SELECT any_value(source) FROM core.prices_daily") == "replay"


def test_baidu_jump_and_nasdaq_100_close(replay_run):
    rows = query(
        replay_run.warehouse,
        """
        SELECT ticker, trade_date::VARCHAR AS d, close,
               round(100 * (close / lag(close) OVER (PARTITION BY ticker ORDER BY trade_date) - 1), 1) AS pct
        FROM core.prices_daily
        WHERE ticker IN ('9888.HK', '^NDX') AND trade_date BETWEEN '2025-09-16' AND '2025-09-17'
        ORDER BY ticker, trade_date
        """,
    )
    got = {(r["ticker"], r["d"]): r for r in rows.iter_rows(named=True)}
    assert got[("9888.HK", "2025-09-16")]["close"] == pytest.approx(113.2, abs=1e-4)
    assert got[("9888.HK", "2025-09-17")]["close"] == pytest.approx(131.0, abs=1e-4)
    assert got[("9888.HK", "2025-09-17")]["pct"] == pytest.approx(15.7)
    assert got[("^NDX", "2025-09-17")]["close"] == pytest.approx(24223.69, abs=0.01)


def test_real_jump_is_not_flagged_as_an_anomaly(replay_run):
    assert (
        scalar(
            replay_run.warehouse,
            "SELECT count(*) FROM dq.price_anomalies WHERE ticker = '9888.HK' AND trade_date = '2025-09-17'",
        )
        == 0
    )
    flagged = query(
        replay_run.warehouse,
        "SELECT is_flagged FROM core.prices_daily_flagged WHERE ticker = '9888.HK' AND trade_date = '2025-09-17'",
    )
    assert flagged["is_flagged"].to_list() == [False]


def test_tickers_without_files_are_reported_not_fatal(replay_run):
    failures = json.loads(
        scalar(
            replay_run.warehouse,
            "SELECT failures FROM raw.loads WHERE asset = 'raw.prices_daily' ORDER BY started_at DESC LIMIT 1",
        )
    )
    assert {"BABA", "CNH=X"} <= set(failures)
    assert "no recorded price file" in failures["BABA"]
    no_data = set(
        query(replay_run.warehouse, "SELECT ticker FROM dq.price_anomalies WHERE kind = 'no_data'")["ticker"].to_list()
    )
    assert {"BABA", "CNH=X"} <= no_data
    checks = {
        e.check_name: e
        for e in replay_run.result.get_asset_check_evaluations()
        if e.asset_key.to_user_string() == "raw/prices_daily"
    }
    assert not checks["fetch_failures"].passed
    assert "BABA" in checks["fetch_failures"].metadata["failures"].value


def _annual(warehouse, ticker):
    return {
        r["fiscal_year"]: r
        for r in query(
            warehouse, "SELECT * FROM core.capex_annual_latest WHERE ticker = ? ORDER BY fiscal_year", [ticker]
        ).iter_rows(named=True)
    }


def test_us_capex_from_sec_filings(replay_run):
    googl = _annual(replay_run.warehouse, "GOOGL")[2025]
    assert googl["capex"] == pytest.approx(91.447e9)
    assert (googl["currency"], googl["source"]) == ("USD", "sec")
    nvda = _annual(replay_run.warehouse, "NVDA")[2026]
    assert nvda["capex"] == pytest.approx(6.042e9)
    assert nvda["currency"] == "USD"


def test_nvidia_years_without_standard_capex_concept_are_listed(replay_run):
    years = query(
        replay_run.warehouse,
        "SELECT fiscal_year FROM dq.capex_issues WHERE ticker = 'NVDA' AND kind = 'missing_standard_capex' ORDER BY 1",
    )["fiscal_year"].to_list()
    assert years == list(range(2013, 2022))


@pytest.mark.parametrize("ticker", ["BABA", "BILI"])
def test_20f_filers_have_one_cny_value_per_fiscal_year(replay_run, ticker):
    rows = query(
        replay_run.warehouse,
        "SELECT fiscal_year, period_end, capex, currency FROM core.capex_annual_latest WHERE ticker = ?",
        [ticker],
    )
    assert rows.height >= 4
    assert rows["fiscal_year"].is_unique().all()
    assert set(rows["currency"].to_list()) == {"CNY"}
    if ticker == "BABA":
        assert {(d.month, d.day) for d in rows["period_end"].to_list()} == {(3, 31)}
        fy2020 = rows.filter(rows["fiscal_year"] == 2020).row(0, named=True)
        assert fy2020["capex"] == pytest.approx(24_662_000_000)
    else:
        fy2020 = rows.filter(rows["fiscal_year"] == 2020).row(0, named=True)
        assert fy2020["capex"] == pytest.approx(602_122_000)


def test_anomaly_detection_rerun_is_idempotent(replay_run, tmp_path):
    """Re-running the detections on real data leaves the same anomaly rows, first-detected times included."""
    assert replay_run.result.success
    warehouse = copy_warehouse(replay_run.warehouse, tmp_path)
    sql = "SELECT * FROM dq.price_anomalies ORDER BY ALL"
    before = query(warehouse, sql)
    assert before.height > 0
    again = materialize(
        warehouse,
        replay_source(Path(tmp_path), tmp_path),
        selection=[PRICE_ANOMALIES, FX_DAILY],
    )
    assert again.success, failure_messages(again)
    assert query(warehouse, sql).equals(before)
    assert query(warehouse, "SELECT * FROM core.fx_daily ORDER BY ALL").equals(
        query(replay_run.warehouse, "SELECT * FROM core.fx_daily ORDER BY ALL")
    )
