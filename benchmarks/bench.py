"""`make bench`: the price load against its physical floor and a hand-written peer, on the same files.

Generates synthetic daily bars in the replay layout (``yfinance-history/<group>/<TICKER>.csv.gz``,
the ``Ticker.history().to_csv()`` shape, gzipped) with a matching universe file, then measures:

- floor:      DuckDB ``read_csv`` of every file straight into one table;
- ours:       the replay load through this project's own path (Dagster, parsers, transforms,
              great-expectations checks, anomaly rules, publish), into a fresh warehouse file;
- ours_no_checks: the same with the asset checks (GX suites) and the dq asset deselected;
- peer:       pandas ``read_csv`` of each file and ``DataFrame.to_sql`` into SQLite (append);
- incremental: one new trading day for every ticker, into the warehouse of ``ours`` (``next/``
              holds each file as a recorder appends to it: ``base`` plus a gzip member with the day);
- one_ticker: a one-ticker refresh on the full warehouse as a user clicks it in the UI (``dagster dev``,
              the price assets selected, Materialize with ``scope.tickers``; the run starts in a
              standby process), click to finished, against ``python -c "import dagster, duckdb, polars"``;
              ``one_ticker_cold``: the same refresh in a fresh process (``make run TICKERS=...``);
- ducklake / ducklake_incremental: ``ours`` and ``incremental`` into a local DuckLake catalog.

Every figure runs in its own child process (its peak RSS is its own). Prints a table and writes
``bench/results.json``; asserts nothing. ``--small`` is the CI-sized run (``make bench-small``).

Usage: python benchmarks/bench.py [--small] [--tickers 2000] [--years 25] [--out bench/results.json]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO / "bench"
GROUP = "Synthetic"
TRADING_DAYS_PER_YEAR = 252
LAST_DAY = date(2026, 8, 21)  # the incremental day; the full load ends one session before
PRICE_ASSETS = [["raw", "prices_daily"], ["core", "prices_daily"], ["dq", "price_anomalies"]]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------- data


def ticker_name(i: int) -> str:
    return f"SYN{i:04d}"


def sessions(n: int) -> list[date]:
    """The last ``n`` XNYS sessions up to LAST_DAY (real calendar, so no gap anomalies fire)."""
    import exchange_calendars as xc

    cal = xc.get_calendar("XNYS", start="1990-01-01", end=LAST_DAY.isoformat())
    days = [d.date() for d in cal.sessions]
    return days[-n:]


def _write_ticker(args: tuple[int, list[date], Path]) -> int:
    """Both versions of one ticker's file: ``base`` (full load) and ``next`` (plus one new day)."""
    import numpy as np
    import polars as pl

    i, days, root = args
    rng = np.random.default_rng(i)
    n = len(days)
    close = 20 * np.exp(np.cumsum(rng.normal(0.0003, 0.02, n)))
    spread = np.abs(rng.normal(0, 0.01, n))
    open_ = close * (1 + rng.normal(0, 0.005, n))
    high = np.maximum(open_, close) * (1 + spread)
    low = np.minimum(open_, close) * (1 - spread)
    dividends = np.where((np.arange(n) % 63 == 20) & (i % 3 == 0), np.round(close * 0.004, 4), 0.0)
    dividends[-5:] = 0.0  # no action in the incremental window (that would reload the ticker whole)
    stamps = (
        pl.Series("d", days)
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone("America/New_York")
        .dt.strftime("%Y-%m-%d %H:%M:%S%:z")
    )
    frame = pl.DataFrame(
        {
            "Date": stamps,
            "Open": open_,
            "High": high,
            "Low": low,
            "Close": close,
            "Volume": rng.integers(10_000, 50_000_000, n),
            "Dividends": dividends,
            "Stock Splits": 0.0,
        }
    )
    name = f"{ticker_name(i)}.csv.gz"
    base = gzip.compress(frame.head(n - 1).write_csv().encode(), compresslevel=6)
    (root / "base" / "yfinance-history" / GROUP / name).write_bytes(base)
    # a recorder appends the new day as a gzip member (concatenated members are one gzip stream)
    new_day = gzip.compress(frame.tail(1).write_csv(include_header=False).encode(), compresslevel=6)
    (root / "next" / "yfinance-history" / GROUP / name).write_bytes(base + new_day)
    return n


def generate(root: Path, tickers: int, years: int) -> dict[str, Any]:
    """Synthetic files and universe at ``root`` (reused when the manifest matches)."""
    manifest = root / "manifest.json"
    # version 2: next/ is base plus an appended gzip member (version 1 rewrote whole files)
    want = {"tickers": tickers, "years": years, "last_day": LAST_DAY.isoformat(), "version": 2}
    if manifest.exists() and json.loads(manifest.read_text()) == want:
        return want
    if root.exists():
        shutil.rmtree(root)
    for version in ("base", "next"):
        (root / version / "yfinance-history" / GROUP).mkdir(parents=True)
    days = sessions(years * TRADING_DAYS_PER_YEAR + 1)
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(_write_ticker, [(i, days, root) for i in range(tickers)], chunksize=16))
    lines = ["ticker,name,group,exchange,currency,calendar,replay_group,cik,hk_ticker,adr_ratio"]
    lines += [f"{ticker_name(i)},Synthetic {i},us_bigtech,NASDAQ,USD,XNYS,{GROUP},,," for i in range(tickers)]
    (root / "universe.csv").write_text("\n".join(lines) + "\n")
    manifest.write_text(json.dumps(want))
    print(f"generated {tickers} tickers x {len(days) - 1} days in {time.perf_counter() - start:.1f} s at {root}")
    return want


# ----------------------------------------------------------------------------- steps (child processes)


def step_floor(data: Path, target: Path) -> dict[str, Any]:
    import duckdb

    start = time.perf_counter()
    con = duckdb.connect(str(target))
    con.execute(
        "CREATE TABLE prices AS SELECT * FROM read_csv(?, filename = true)",
        [str(data / "yfinance-history" / "*" / "*.csv.gz")],
    )
    (rows,) = con.execute("SELECT count(*) FROM prices").fetchone()  # type: ignore[misc]
    con.close()
    return {"seconds": time.perf_counter() - start, "rows": rows}


def step_peer(data: Path, target: Path) -> dict[str, Any]:
    """What a hand-written scraper does: pandas per file, ``to_sql`` append into SQLite."""
    import sqlite3

    import pandas as pd

    start = time.perf_counter()
    con = sqlite3.connect(str(target))
    rows = 0
    for path in sorted((data / "yfinance-history").glob("*/*.csv.gz")):
        frame = pd.read_csv(path)
        frame.insert(0, "ticker", path.name.removesuffix(".csv.gz"))
        frame.to_sql("prices", con, if_exists="append", index=False)
        rows += len(frame)
    con.commit()
    con.close()
    return {"seconds": time.perf_counter() - start, "rows": rows}


def _materialize(
    data: Path, warehouse: str, checks: bool, tickers: list[str] | None = None, lake_data: str = ""
) -> dict[str, Any]:
    import dagster as dg

    from assets.scope import RunScope
    from assets.sources.resource import SourceResource
    from assets.warehouse import WarehouseResource
    from orchestration.definitions import ASSET_MODULES

    assets = dg.load_assets_from_modules(ASSET_MODULES)
    all_checks = dg.load_asset_checks_from_modules(ASSET_MODULES)
    keys = [dg.AssetKey(k) for k in PRICE_ASSETS]
    selection = dg.AssetSelection.assets(*keys)
    if not checks:
        selection = dg.AssetSelection.assets(*keys[:2]).without_checks()
    start = time.perf_counter()
    result = dg.materialize(
        [*assets, *all_checks],
        selection=selection,
        resources={
            "warehouse": WarehouseResource(mode="replay", path=warehouse, lake_data=lake_data),
            "source": SourceResource(source="replay", replay_dir=str(data)),
            "scope": RunScope(tickers=tickers or []),
        },
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    seconds = time.perf_counter() - start
    if not result.success:
        failures = [e.event_specific_data.error.message[:500] for e in result.get_step_failure_events()]
        raise SystemExit(f"run failed: {failures}")
    steps = {}
    for event in result.all_events:
        if event.event_type_value == "STEP_SUCCESS":
            steps[event.step_key] = round(event.event_specific_data.duration_ms / 1000, 2)
    return {"seconds": seconds, "steps": steps}


def step_ours(data: Path, warehouse: str, checks: bool, lake_data: str = "") -> dict[str, Any]:
    out = _materialize(data, warehouse, checks, lake_data=lake_data)
    import duckdb

    from assets.warehouse import WarehouseResource

    wh = WarehouseResource(mode="replay", path=warehouse, lake_data=lake_data)
    with wh.connect(read_only=True) as con:
        (out["rows"],) = con.execute("SELECT count(*) FROM core.prices_daily").fetchone()  # type: ignore[misc]
    del duckdb
    return out


def step_one_ticker_cold(data: Path, warehouse: str, ticker: str) -> dict[str, Any]:
    return _materialize(data, warehouse, checks=True, tickers=[ticker])


def _standbys_ready(log: Path) -> list[int]:
    from orchestration.standby import READY_WORDS

    text = log.read_text(errors="replace") if log.exists() else ""
    return [
        int(line.split("standby run process ", 1)[1].split(":", 1)[0])
        for line in text.splitlines()
        if READY_WORDS in line
    ]


def _vm_hwm_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def step_one_ticker(data: Path, warehouse: str, ticker: str, warm_runs: int) -> dict[str, Any]:
    """A one-ticker refresh as a user clicks it: ``dagster dev`` (``make ui``), the three price assets
    selected and Materialize with ``scope.tickers`` set, through the webserver's GraphQL API.

    The first run after start-up waits for its standby run process to load; each later run is
    launched once the next standby has loaded (the UI idle between two clicks) and is the figure.
    Peak RSS: the run process's VmHWM, read while it runs.
    """
    import tempfile
    import threading

    from orchestration.launcher import LAUNCHED_BY_TAG
    from orchestration.webserver import ASSET_JOB, Webserver, free_port

    home = Path(tempfile.mkdtemp(prefix="bench-dagster-home-"))
    shutil.copy(REPO / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    env = {
        **child_env(),
        "DAGSTER_HOME": str(home),
        "CHINATECH_SOURCE": "replay",
        "CHINATECH_REPLAY_DIR": str(data),
        "CHINATECH_WAREHOUSE": warehouse,
    }
    config = {"resources": {"scope": {"config": {"tickers": [ticker]}}}}
    log = home / "dagster-dev.log"
    out: dict[str, Any] = {"warm_s": [], "warm_run_s": [], "launched_by": []}
    peak = 0.0

    def watch(pid: int, stop: threading.Event) -> None:
        nonlocal peak
        while not stop.wait(0.05):
            peak = max(peak, _vm_hwm_mb(pid))

    with Webserver.start(env, log, free_port()) as server:
        first = server.run(ASSET_JOB, config, PRICE_ASSETS)
        if first.status != "SUCCESS":
            raise SystemExit(f"one-ticker run {first.run_id} ended {first.status}: see {log}")
        out["first_s"], out["first_run_s"] = first.seconds, first.run_seconds
        for used in range(1, warm_runs + 1):  # each run used one standby; the next loads when it ends
            deadline = time.monotonic() + 300
            while len(ready := _standbys_ready(log)) <= used:
                if time.monotonic() > deadline:
                    raise SystemExit(f"no standby run process loaded within 300 s: see {log}")
                time.sleep(0.1)
            pid = ready[used]
            stop = threading.Event()
            watcher = threading.Thread(target=watch, args=(pid, stop), daemon=True)
            watcher.start()
            warm = server.run(ASSET_JOB, config, PRICE_ASSETS)
            stop.set()
            watcher.join()
            if warm.status != "SUCCESS":
                raise SystemExit(f"one-ticker run {warm.run_id} ended {warm.status}: see {log}")
            out["warm_s"].append(warm.seconds)
            out["warm_run_s"].append(warm.run_seconds)
            out["launched_by"].append(warm.tags.get(LAUNCHED_BY_TAG, "default"))
    shutil.rmtree(home, ignore_errors=True)
    ordered = sorted(out["warm_s"])
    out["seconds"] = ordered[len(ordered) // 2]  # the median warm run
    out["run_seconds"] = sorted(out["warm_run_s"])[len(ordered) // 2]
    out["run_process_peak_rss_mb"] = peak
    return out


def run_child(step: str, timeout: float, **kwargs: str) -> dict[str, Any]:
    """Run one step in a fresh interpreter; its figures plus whole-process wall time and peak RSS."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--step", step]
    for key, value in kwargs.items():
        cmd += [f"--{key.replace('_', '-')}", value]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=child_env(), cwd=REPO)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{step} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["wall_s"] = wall
    return out


_ENV: dict[str, str] = {}


def child_env() -> dict[str, str]:
    env = {**os.environ, **_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("PYTHONWARNINGS", "ignore")
    env["DAGSTER_HOME"] = env.get("BENCH_DAGSTER_HOME", "")
    if not env["DAGSTER_HOME"]:
        env.pop("DAGSTER_HOME")
    return env


def bare_import() -> dict[str, Any]:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import dagster, duckdb, polars"], check=True, env=child_env())
    return {"seconds": time.perf_counter() - start}


# ----------------------------------------------------------------------------- report


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {system}, Python {platform.python_version()}"


def report(results: dict[str, Any]) -> str:
    f = results
    floor = f["floor_s"]
    lines = [
        f"rows: {f['rows']:,} ({f['tickers']} tickers x {f['days']} days); machine: {f['machine']}",
        f"load average (1/5/15 min) at start {f['load_avg_start']}, at end {f['load_avg_end']}",
        "",
        f"| {'figure':<28} | {'seconds':>8} | {'vs floor':>8} | {'peak RSS MB':>11} | target |",
        f"|{'-' * 30}|{'-' * 10}|{'-' * 10}|{'-' * 13}|--------|",
    ]

    def row(name: str, key: str, target: str = "") -> None:
        if f.get(key) is None:
            return
        rss = f["peak_rss_mb"].get(key.removesuffix("_s"), "")
        rss_text = f"{rss:,.0f}" if isinstance(rss, int | float) else ""
        lines.append(f"| {name:<28} | {f[key]:>8.2f} | {f[key] / floor:>7.2f}x | {rss_text:>11} | {target} |")

    row("floor (DuckDB read_csv)", "floor_s")
    row("ours, full load", "ours_s", "<= 2x floor, < peer")
    row("ours, no checks", "ours_no_checks_s")
    row("peer (pandas + to_sql)", "peer_s")
    row("incremental (1 day)", "incremental_s", "< 2% of ours")
    row("ours on DuckLake, full", "ducklake_s")
    row("DuckLake incremental", "ducklake_incremental_s")
    row("one-ticker refresh (UI)", "one_ticker_s", "<= 3x bare import")
    row("one-ticker, fresh process", "one_ticker_cold_s")
    row("bare import (process)", "bare_import_s")
    lines.append("")
    for name, value in f["ratios"].items():
        lines.append(f"{name:<34} {value}")
    return "\n".join(lines)


def ratios(f: dict[str, Any]) -> dict[str, str]:
    def r(a: str, b: str) -> float | None:
        return None if f.get(a) is None or not f.get(b) else f[a] / f[b]

    out: dict[str, str] = {}
    checks = [
        ("ours / floor", r("ours_s", "floor_s"), "<= 2.0", lambda v: v <= 2.0),
        ("ours / peer", r("ours_s", "peer_s"), "< 1.0", lambda v: v < 1.0),
        ("incremental / ours", r("incremental_s", "ours_s"), "< 0.02", lambda v: v < 0.02),
        ("peer / incremental", r("peer_s", "incremental_s"), ">= 50", lambda v: v >= 50),
        ("one_ticker / bare_import", r("one_ticker_s", "bare_import_s"), "<= 3.0", lambda v: v <= 3.0),
        (
            "checks overhead (ours/no_checks-1)",
            None if r("ours_s", "ours_no_checks_s") is None else r("ours_s", "ours_no_checks_s") - 1,
            "< 0.25",
            lambda v: v < 0.25,
        ),
        ("ducklake / single file", r("ducklake_s", "ours_s"), "none, measured", lambda v: True),
        (
            "peak RSS of ours (MB)",
            max(
                f["peak_rss_mb"].get(k, 0)
                for k in ("ours", "ours_no_checks", "incremental", "one_ticker", "one_ticker_cold")
            ),
            "< 2048",
            lambda v: v < 2048,
        ),
    ]
    for name, value, target, ok in checks:
        if value is not None:
            verdict = "" if target.startswith("none") else f": {'met' if ok(value) else 'MISSED'}"
            out[name] = f"{value:.3f} (target {target}{verdict})"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="CI-sized run: 60 tickers x 4 years")
    parser.add_argument("--tickers", type=int, default=None)
    parser.add_argument("--years", type=int, default=None)
    parser.add_argument("--out", default=str(BENCH_DIR / "results.json"))
    parser.add_argument("--work", default=None, help="folder for data and warehouses (default bench/<scale>)")
    parser.add_argument(
        "--skip", default="", help="comma-separated figures to skip (peer, ducklake, no_checks); --small skips ducklake"
    )
    parser.add_argument("--step", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--data", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--target", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--lake-data", default="", help=argparse.SUPPRESS)
    parser.add_argument("--ticker", default="", help=argparse.SUPPRESS)
    parser.add_argument("--warm-runs", type=int, default=3, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.step:  # a child process: one figure, printed as the last line of JSON
        data, target = Path(args.data), args.target
        if args.step == "floor":
            out = step_floor(data, Path(target))
        elif args.step == "peer":
            out = step_peer(data, Path(target))
        elif args.step in ("ours", "ours_no_checks", "incremental"):
            out = step_ours(data, target, checks=args.step != "ours_no_checks", lake_data=args.lake_data)
        elif args.step == "one_ticker":
            out = step_one_ticker(data, target, args.ticker, args.warm_runs)
            out["peak_rss_mb"] = max(peak_rss_mb(), out["run_process_peak_rss_mb"])
            print(json.dumps(out, default=str))
            return
        elif args.step == "one_ticker_cold":
            out = step_one_ticker_cold(data, target, args.ticker)
        else:
            raise SystemExit(f"unknown step {args.step}")
        out["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(out, default=str))
        return

    tickers = args.tickers or (60 if args.small else 2000)
    years = args.years or (4 if args.small else 25)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if args.small and not args.skip:
        skip = {"ducklake"}  # the smoke test stays under two minutes; tests/integration/test_ducklake.py covers it
    work = Path(args.work) if args.work else BENCH_DIR / f"{tickers}x{years}"
    data = work / "data"
    generate(data, tickers, years)
    runs = work / "runs"
    if runs.exists():
        shutil.rmtree(runs)
    runs.mkdir(parents=True)
    _ENV["CHINATECH_UNIVERSE"] = str(data / "universe.csv")
    base, nxt = data / "base", data / "next"
    timeout = 3600.0
    f: dict[str, Any] = {"tickers": tickers, "days": years * TRADING_DAYS_PER_YEAR, "machine": machine()}
    f["date"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    f["load_avg_start"] = [round(x, 2) for x in os.getloadavg()]  # other processes on the machine skew wall times
    rss: dict[str, float] = {}
    per_step: dict[str, Any] = {}

    def record(name: str, out: dict[str, Any], key: str = "seconds") -> None:
        f[f"{name}_s"] = out[key]
        rss[name] = out.get("peak_rss_mb", 0.0)
        if "steps" in out:
            per_step[name] = out["steps"]
        print(f"  {name:<24} {out[key]:8.2f} s   peak RSS {rss[name]:,.0f} MB", flush=True)

    print(f"bench: {tickers} tickers x {years} years; work folder {work}", flush=True)
    record("floor", run_child("floor", timeout, data=str(base), target=str(runs / "floor.duckdb")))
    f["rows"] = f.pop("floor_rows", None)
    wh = str(runs / "ours.duckdb")
    ours = run_child("ours", timeout, data=str(base), target=wh)
    record("ours", ours)
    f["rows"] = ours["rows"]
    if "no_checks" not in skip:
        record("ours_no_checks", run_child("ours_no_checks", timeout, data=str(base), target=str(runs / "nc.duckdb")))
    if "peer" not in skip:
        record("peer", run_child("peer", timeout, data=str(base), target=str(runs / "peer.sqlite")))
    record("incremental", run_child("incremental", timeout, data=str(nxt), target=wh))
    one_args = {"data": str(nxt), "target": wh, "ticker": ticker_name(tickers // 2)}
    one = run_child("one_ticker", timeout, warm_runs="1" if args.small else "3", **one_args)
    record("one_ticker", one)
    f["one_ticker_run_s"] = one["run_seconds"]  # Dagster's run time of that run
    f["one_ticker_first_s"] = one["first_s"]  # the first run after start-up: it waits for its standby to load
    f["one_ticker_all_s"] = one["warm_s"]
    f["one_ticker_launched_by"] = one["launched_by"]
    print(f"  {'':<24} first run after start-up {one['first_s']:.2f} s; runs {[round(x, 2) for x in one['warm_s']]}")
    record("one_ticker_cold", run_child("one_ticker_cold", timeout, **one_args), key="wall_s")
    bare = [bare_import()["seconds"] for _ in range(3)]
    f["bare_import_s"] = min(bare)
    print(f"  {'bare_import':<24} {f['bare_import_s']:8.2f} s   (best of {[round(b, 2) for b in bare]})")
    if "ducklake" not in skip:
        lake, lake_files = str(runs / "lake.ducklake"), str(runs / "lake_files")
        record("ducklake", run_child("ours", timeout, data=str(base), target=f"ducklake:{lake}", lake_data=lake_files))
        record(
            "ducklake_incremental",
            run_child("incremental", timeout, data=str(nxt), target=f"ducklake:{lake}", lake_data=lake_files),
        )
    f["peak_rss_mb"] = rss
    f["steps_s"] = per_step
    f["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    f["ratios"] = ratios(f)
    text = report(f)
    print()
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(f, indent=2, default=str))
    print(f"\nfigures written to {out}")


if __name__ == "__main__":
    main()
