"""The reader snapshot: equal to the warehouse, swapped in atomically, incremental, published last."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

import assets.prices
import assets.publish
from assets.publish import READER_SNAPSHOT, publish_snapshot, reader_file, snapshot_dir
from tests.integration._graph import (
    CORE_PRICES,
    PRICE_ANOMALIES,
    RAW_PRICES,
    failure_messages,
    materialize,
    materialized_keys,
    sample_source,
    started_steps,
)
from tests.integration._snapshot import base_tables, sha256, table_differences

REPO = Path(__file__).resolve().parents[2]
VIEW_QUERIES = [
    "SELECT * FROM core.prices_daily_flagged",
    "SELECT * FROM core.capex_annual_latest",
    "SELECT * FROM dq.fx_unflagged_moves",
    "SELECT core.to_usd(1e9, 'CNY', DATE '2024-06-01') AS usd, core.to_usd(5, 'USD', DATE '2024-06-01') AS same",
]


def _rows(file: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(file), read_only=True) as con:
        return sorted(con.execute(sql).fetchall(), key=repr)


def _scalar(file: Path, sql: str) -> object:
    with duckdb.connect(str(file), read_only=True) as con:
        return con.execute(sql).fetchone()[0]


@pytest.mark.parametrize("run", ["sample_run", pytest.param("replay_run", marks=pytest.mark.replay)])
def test_the_run_publishes_a_snapshot_equal_to_the_warehouse(run, request):
    """Published by the graph's last asset: every table, view and macro, row for row."""
    graph = request.getfixturevalue(run)
    assert graph.result.success, failure_messages(graph.result)
    assert READER_SNAPSHOT in materialized_keys(graph.result)
    reader = reader_file(graph.warehouse)
    assert reader.exists()
    tables = base_tables(graph.warehouse)
    assert {s for s, _ in tables} >= {"meta", "raw", "core", "dq"}
    assert table_differences(graph.warehouse, reader) == {}
    for sql in VIEW_QUERIES:
        assert _rows(reader, sql) == _rows(graph.warehouse, sql), sql
    mode = "SELECT source_mode FROM meta.warehouse"
    assert _scalar(reader, "SELECT source_mode FROM meta.snapshot") == _scalar(graph.warehouse, mode)
    event = graph.result.asset_materializations_for_node("publish__reader_snapshot")[0]
    meta = event.metadata
    assert meta["snapshot"].value == str(reader)
    assert meta["partitions_rewritten"].value + meta["partitions_reused"].value == _scalar(
        reader, "SELECT count(*) FROM meta.snapshot_partitions"
    )
    assert {"bytes_written", "seconds", "tables"} <= set(meta)


def test_tables_views_and_macros_added_later_are_published(sample_copy):
    """A schema another branch adds (marts) needs no change here: tables are discovered, macros copied."""
    with duckdb.connect(str(sample_copy)) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS marts")
        con.execute(
            "CREATE TABLE marts.basket AS SELECT trade_date, avg(close) AS level FROM core.prices_daily GROUP BY 1"
        )
        con.execute("COMMENT ON TABLE marts.basket IS 'equal-weight basket'")
        con.execute("CREATE VIEW marts.basket_2024 AS SELECT * FROM marts.basket WHERE year(trade_date) = 2024")
        con.execute("CREATE MACRO marts.scaled(x, factor := 100) AS x * factor")
        con.execute("CREATE MACRO marts.days(n) AS TABLE SELECT * FROM marts.basket ORDER BY trade_date LIMIT n")
    publish_snapshot(sample_copy)
    reader = reader_file(sample_copy)
    assert table_differences(sample_copy, reader) == {}
    for sql in [
        "SELECT * FROM marts.basket_2024",
        "SELECT marts.scaled(2) AS a, marts.scaled(2, factor := 3) AS b",
        "SELECT * FROM marts.days(3)",
    ]:
        assert _rows(reader, sql) == _rows(sample_copy, sql), sql
    assert _scalar(reader, "SELECT comment FROM duckdb_views() WHERE view_name = 'basket'") == "equal-weight basket"
    # the date-keyed table is split per year of trade_date, the others are one file each
    keys = _rows(
        reader, "SELECT DISTINCT partition_key FROM meta.snapshot_partitions WHERE table_name = 'marts.basket'"
    )
    assert len(keys) > 1 and ("all",) not in keys


def _partition_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in (root / "parts").rglob("*.parquet")}


def test_publish_cost_grows_with_the_change_not_the_warehouse(sample_copy):
    first = publish_snapshot(sample_copy)
    total = len(first.partitions)
    assert len(first.written) == total > 20  # nothing to reuse yet
    prices = [p for p in first.partitions if p.table == "core.prices_daily"]
    assert len(prices) > 5 and all(p.key.isdigit() for p in prices)  # one file per year

    again = publish_snapshot(sample_copy)
    assert (len(again.written), len(again.reused), again.bytes_written) == (0, total, 0)

    # one ticker, one day: the one partition holding it is rewritten, every other file reused
    with duckdb.connect(str(sample_copy)) as con:
        ticker, day = con.execute(
            "SELECT ticker, max(trade_date) FROM core.prices_daily WHERE ticker = '9888.HK' GROUP BY 1"
        ).fetchone()
        con.execute(
            "UPDATE core.prices_daily SET volume = volume + 1 WHERE ticker = ? AND trade_date = ?", [ticker, day]
        )
    changed = publish_snapshot(sample_copy)
    assert [(p.table, p.key) for p in changed.written] == [("core.prices_daily", str(day.year))]
    assert len(changed.reused) == total - 1
    assert changed.bytes_written < changed.snapshot_bytes / 5
    reader = reader_file(sample_copy)
    assert _rows(
        reader, f"SELECT volume FROM core.prices_daily WHERE ticker = '{ticker}' AND trade_date = '{day}'"
    ) == (
        _rows(sample_copy, f"SELECT volume FROM core.prices_daily WHERE ticker = '{ticker}' AND trade_date = '{day}'")
    )
    # the replaced file is kept while the previous snapshot may still be open, then collected
    root = snapshot_dir(sample_copy)
    assert len(_partition_files(root)) == total + 1
    assert changed.files_removed == 0
    last = publish_snapshot(sample_copy)
    assert last.files_removed == 1
    assert len(_partition_files(root)) == total
    assert len(list((root / "manifests").glob("*.json"))) == 2
    assert table_differences(sample_copy, reader) == {}


def test_a_reader_keeps_its_snapshot_and_the_next_open_sees_the_new_one(sample_copy):
    publish_snapshot(sample_copy)
    reader = reader_file(sample_copy)
    count = "SELECT count(*) FROM raw.loads"
    before = _scalar(sample_copy, count)
    with duckdb.connect(str(reader), read_only=True) as held:
        with duckdb.connect(str(sample_copy)) as con:
            con.execute(
                "INSERT INTO raw.loads (load_id, asset, source, started_at, run_id)"
                " VALUES ('probe', 'probe', 'sample', now(), 'probe')"
            )
        assert _scalar(reader, count) == before  # not published yet
        publish_snapshot(sample_copy)
        assert held.execute(count).fetchone()[0] == before  # an open reader keeps one consistent state
        assert held.execute("SELECT count(*) FROM core.prices_daily").fetchone()[0] > 0  # its files still exist
    assert _scalar(reader, count) == before + 1


def test_a_publish_that_fails_leaves_the_previous_snapshot(sample_copy, monkeypatch):
    publish_snapshot(sample_copy)
    reader = reader_file(sample_copy)
    digest = sha256(reader)
    with duckdb.connect(str(sample_copy)) as con:
        con.execute("UPDATE core.prices_daily SET volume = volume + 1 WHERE ticker = '0700.HK'")

    def broken(*args, **kwargs):
        raise RuntimeError("injected failure after the partitions were written")

    monkeypatch.setattr(assets.publish, "_build_reader", broken)
    with pytest.raises(RuntimeError, match="injected"):
        publish_snapshot(sample_copy)
    assert sha256(reader) == digest
    assert not list(reader.parent.glob(f"{reader.name}.tmp-*"))
    monkeypatch.undo()
    assert table_differences(sample_copy, reader)  # still the state before the update
    publish_snapshot(sample_copy)
    assert table_differences(sample_copy, reader) == {}


READER_LOOP = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import duckdb
    reader, stop = sys.argv[1], Path(sys.argv[2])
    seen, checks, deadline = set(), 0, time.monotonic() + 120
    last = False
    while not last and time.monotonic() < deadline:
        last = stop.exists()  # one more look after the last publish
        with duckdb.connect(reader, read_only=True) as con:
            probe = "SELECT list(run_id ORDER BY run_id) FROM {} WHERE asset = 'probe'"
            loads = con.execute(probe.format("raw.loads")).fetchone()[0]
            results = con.execute(probe.format("dq.check_results")).fetchone()[0]
        if loads != results:
            print("HALF", loads, results)
            sys.exit(1)
        seen.add(len(loads or []))
        checks += 1
    print(checks, sorted(seen))
    """
)


def test_readers_never_see_half_a_publish(sample_copy, tmp_path):
    """A reader process opening the snapshot in a loop while runs land and publish: always whole runs."""
    publish_snapshot(sample_copy)
    stop = tmp_path / "stop"
    proc = subprocess.Popen(
        [sys.executable, "-c", READER_LOOP, str(reader_file(sample_copy)), str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for i in range(1, 5):
            with duckdb.connect(str(sample_copy)) as con:  # one "run": two tables change in one transaction
                con.execute("BEGIN")
                con.execute(
                    "INSERT INTO raw.loads (load_id, asset, source, started_at, run_id)"
                    " VALUES (?, 'probe', 'sample', now(), ?)",
                    [f"probe-{i}", f"probe-{i}"],
                )
                con.execute(
                    "INSERT INTO dq.check_results (asset, check_name, passed, severity, run_id, checked_at)"
                    " VALUES ('probe', 'probe', true, 'WARN', ?, now())",
                    [f"probe-{i}"],
                )
                con.execute("COMMIT")
            publish_snapshot(sample_copy)
    finally:
        stop.touch()
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    checks, seen = out.split(" ", 1)
    assert int(checks) > 4, out
    assert "4" in seen, out  # it saw the last publish


def _prices_run(warehouse: Path, tmp: Path):
    return materialize(
        warehouse,
        sample_source(tmp),
        selection=[RAW_PRICES, CORE_PRICES, PRICE_ANOMALIES, READER_SNAPSHOT],
        tickers=["9888.HK"],
    )


def test_a_run_that_fails_upstream_never_publishes(sample_copy, tmp_path, monkeypatch):
    """Half a run (raw and core written, anomalies failed) stays out of the snapshot."""
    publish_snapshot(sample_copy)
    reader = reader_file(sample_copy)
    digest = sha256(reader)
    loads = "SELECT count(*) FROM raw.loads"
    before = _scalar(reader, loads)

    def broken(*args, **kwargs):
        raise RuntimeError("injected anomaly failure")

    monkeypatch.setattr(assets.prices, "detect_anomalies", broken)  # whole histories
    monkeypatch.setattr(assets.prices, "recent_price_anomalies", broken)  # tickers judged from recent rows
    failed = _prices_run(sample_copy, tmp_path)
    assert not failed.success
    assert "injected" in failure_messages(failed)["dq__price_anomalies"]
    assert "publish__reader_snapshot" not in started_steps(failed)
    assert _scalar(sample_copy, loads) > before  # the warehouse holds the half run ...
    assert sha256(reader) == digest  # ... the readers' file does not
    assert _scalar(reader, loads) == before

    monkeypatch.undo()
    ok = _prices_run(sample_copy, tmp_path)
    assert ok.success, failure_messages(ok)
    assert READER_SNAPSHOT in materialized_keys(ok)
    assert table_differences(sample_copy, reader) == {}
