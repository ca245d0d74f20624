"""Benchmark: wall time, rows and peak memory of the price load path. Prints figures; asserts nothing.

1. The whole graph from replay (../shared/data or CHINATECH_REPLAY_DIR) into a temp warehouse,
   then a second, incremental run.
2. The whole graph from sample (what `make demo` materializes).
3. The pure price path at scale: N synthetic tickers x Y years through parse -> build_core ->
   upsert into DuckDB, to show the load is vectorised (no per-row Python).

Usage: python benchmarks/load_prices.py [--tickers 200] [--years 25]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_graph(source: str, warehouse: Path, replay_dir: str | None = None) -> float:
    import dagster as dg

    from orchestration.definitions import ASSET_MODULES
    from orchestration.resources import SourceResource, WarehouseResource

    assets = dg.load_assets_from_modules(ASSET_MODULES)
    checks = dg.load_asset_checks_from_modules(ASSET_MODULES)
    resources = {
        "warehouse": WarehouseResource(path=str(warehouse)),
        "source": SourceResource(source=source, replay_dir=replay_dir or "../shared/data"),
    }
    start = time.perf_counter()
    result = dg.materialize(
        [*assets, *checks],
        resources=resources,
        partition_key=date.today().isoformat(),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    elapsed = time.perf_counter() - start
    if not result.success:
        raise SystemExit(f"{source} run failed")
    return elapsed


def count(warehouse: Path, sql: str) -> int:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchone()[0]


def synthetic_history(n_tickers: int, years: int) -> pl.DataFrame:
    """``history().to_csv()``-shaped text columns for many tickers, as the parsers receive them."""
    days = pl.date_range(date(2026, 1, 1) - timedelta(days=365 * years), date(2026, 1, 1), eager=True)
    days = days.filter(days.dt.weekday() <= 5)
    n = days.len()
    rng = np.random.default_rng(0)
    frames = []
    for i in range(n_tickers):
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
        frames.append(
            pl.DataFrame(
                {
                    "ticker": f"T{i:04d}.HK",
                    "Date": days.cast(pl.String) + " 00:00:00+08:00",
                    "Open": close,
                    "High": close * 1.01,
                    "Low": close * 0.99,
                    "Close": close,
                    "Volume": rng.integers(0, 10**7, n),
                    "Dividends": 0.0,
                    "Stock Splits": 0.0,
                }
            )
        )
    return pl.concat(frames)


def scale_test(n_tickers: int, years: int, warehouse: Path) -> None:
    import duckdb

    from assets.transforms.prices import build_core, normalize_history
    from orchestration.resources import ensure_schema, replace_rows, upsert

    text = synthetic_history(n_tickers, years)
    universe = pl.DataFrame({"ticker": text["ticker"].unique().to_list()}).with_columns(
        pl.lit("HKD").alias("currency"), pl.lit("hstech").alias("group")
    )
    t0 = time.perf_counter()
    raw = pl.concat(
        [
            normalize_history(t[0], part.drop("ticker"), "bench")
            for t, part in text.partition_by("ticker", as_dict=True).items()
        ]
    )
    t1 = time.perf_counter()
    core, _rejected, _flagged = build_core(raw, universe)
    t2 = time.perf_counter()
    core = core.with_columns(
        pl.lit("bench").alias("load_id"), pl.lit(date.today()).cast(pl.Datetime("us", "UTC")).alias("loaded_at")
    )
    with duckdb.connect(str(warehouse)) as con:
        ensure_schema(con)
        con.execute("BEGIN")
        replace_rows(con, "core.prices_daily", core, "true")  # what a first / full load does
        con.execute("COMMIT")
        t3 = time.perf_counter()
        con.execute("BEGIN")
        upsert(con, "core.prices_daily", core.filter(pl.col("trade_date") >= date(2025, 12, 20)))
        con.execute("COMMIT")
        t4 = time.perf_counter()
        con.execute("BEGIN")
        upsert(con, "core.prices_daily", core)  # every row again, by primary key
        con.execute("COMMIT")
    t5 = time.perf_counter()
    rows = core.height
    print(f"scale: {n_tickers} tickers x {years} years = {rows:,} rows")
    print(f"  parse     {t1 - t0:6.2f} s  ({rows / (t1 - t0):,.0f} rows/s)")
    print(f"  build     {t2 - t1:6.2f} s  ({rows / (t2 - t1):,.0f} rows/s)")
    print(f"  load      {t3 - t2:6.2f} s  ({rows / (t3 - t2):,.0f} rows/s, full load into an empty table)")
    print(f"  upsert    {t4 - t3:6.2f} s  (incremental window into the full table)")
    print(f"  re-upsert {t5 - t4:6.2f} s  ({rows / (t5 - t4):,.0f} rows/s, every row again by key)")
    print(f"  peak RSS  {peak_rss_mb():,.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickers", type=int, default=200)
    parser.add_argument("--years", type=int, default=25)
    args = parser.parse_args()
    replay_dir = os.environ.get("CHINATECH_REPLAY_DIR", str(REPO.parent / "shared" / "data"))
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        if Path(replay_dir).is_dir():
            wh = tmpdir / "replay.duckdb"
            first = run_graph("replay", wh, replay_dir)
            second = run_graph("replay", wh, replay_dir)
            print(f"replay graph: first run {first:.1f} s, incremental re-run {second:.1f} s")
            print(
                f"  raw.prices_daily {count(wh, 'SELECT count(*) FROM raw.prices_daily'):,} rows, "
                f"core.prices_daily {count(wh, 'SELECT count(*) FROM core.prices_daily'):,} rows, "
                f"raw.sec_facts {count(wh, 'SELECT count(*) FROM raw.sec_facts'):,} rows"
            )
        else:
            print(f"replay graph: skipped, no recorded data at {replay_dir}")
        wh = tmpdir / "sample.duckdb"
        elapsed = run_graph("sample", wh)
        print(
            f"sample graph (make demo's work): {elapsed:.1f} s, "
            f"core.prices_daily {count(wh, 'SELECT count(*) FROM core.prices_daily'):,} rows"
        )
        scale_test(args.tickers, args.years, tmpdir / "scale.duckdb")


if __name__ == "__main__":
    main()
