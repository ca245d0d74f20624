"""Command line: materialize every asset (``make demo`` / ``make run``) into the warehouse.

Runs the ``all_assets`` job in process on the Dagster instance in $DAGSTER_HOME (so the runs
show in ``make ui``) and prints where the data went. Tickers not in the universe are refused
before anything runs; runs of earlier CLI processes that were killed are marked failed and
their pool slots freed (``orchestration/runs.py``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_QUERY = (
    "SELECT ticker, trade_date, close, round(100 * (close / lag(close) OVER (PARTITION BY ticker "
    "ORDER BY trade_date) - 1), 2) AS pct_change FROM core.prices_daily WHERE ticker = '9888.HK' "
    "ORDER BY trade_date DESC LIMIT 5"
)


def dagster_home() -> Path:
    """$DAGSTER_HOME, by default one per source mode (.dagster_home/<mode>), with the project's instance config.

    One home per warehouse keeps run and check history of sample, replay and live apart.
    """
    default = REPO / ".dagster_home" / os.environ.get("CHINATECH_SOURCE", "live")
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(default)))
    home.mkdir(parents=True, exist_ok=True)
    config, project = home / "dagster.yaml", REPO / "orchestration" / "dagster.yaml"
    if not config.exists() or config.stat().st_mtime < project.stat().st_mtime:
        shutil.copy(project, config)
    return home


def root_cause(error: Any) -> str:
    """The innermost message of a Dagster error chain (the cause a user can act on)."""
    message = error.message.strip()
    while error.cause is not None:
        error = error.cause
        message = error.message.strip() or message
    return message.splitlines()[0] if message else "unknown error"


def failure_lines(result: Any) -> list[str]:
    """One line per failed step, naming the step and the cause; else the run's own failure."""
    lines = []
    for event in result.get_step_failure_events():
        data = event.event_specific_data
        user = getattr(data, "user_failure_data", None)
        cause = user.description if user is not None and user.description else root_cause(data.error)
        lines.append(f"FAILED step {event.step_key}: {cause}")
    if not lines:
        for event in result.all_events:
            error = getattr(event.event_specific_data, "error", None)
            if event.is_failure and error is not None:
                lines.append(f"FAILED {event.event_type_value.lower()}: {root_cause(error)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--tickers",
        default=os.environ.get("TICKERS", ""),
        help="comma-separated tickers, spaces allowed (default: $TICKERS, else the whole universe)",
    )
    parser.add_argument("--full-refresh", action="store_true", help="reload whole price histories")
    parser.add_argument(
        "--date", default=None, help="fundamentals snapshot day (default: today; the sample's last day in sample mode)"
    )
    parser.add_argument(
        "--rebuild",
        action="store_true",
        default=os.environ.get("REBUILD", "") not in ("", "0"),
        help="move the warehouse file aside (kept as <file>.replaced-<time>) and build it again from scratch",
    )
    args = parser.parse_args(argv)

    tickers = [t.strip() for t in args.tickers.split(",") if t.strip()]
    from assets.universe import UniverseError, load_universe, select_tickers

    try:
        select_tickers(load_universe(), tickers)
    except UniverseError as exc:
        print(f"refused, nothing run or written: {exc}", file=sys.stderr)
        return 2

    dagster_home()
    import dagster as dg

    from orchestration.definitions import defs
    from orchestration.resources import warehouse_file
    from orchestration.runs import PoolWatch, process_tags, release_dead_runs

    instance = dg.DagsterInstance.get()
    for line in release_dead_runs(instance):
        print(line)
    source = os.environ.get("CHINATECH_SOURCE", "live")
    warehouse = warehouse_file(source)
    if args.rebuild and warehouse.exists():
        aside = warehouse.with_name(f"{warehouse.name}.replaced-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
        warehouse.rename(aside)
        wal = warehouse.with_name(warehouse.name + ".wal")
        if wal.exists():
            wal.rename(aside.with_name(aside.name + ".wal"))
        print(f"rebuild: moved {warehouse} aside to {aside}")

    refusal = mode_refusal(source)
    if refusal:
        print(f"refused, nothing run or written: {refusal}", file=sys.stderr)
        return 2

    job = defs.resolve_job_def("all_assets")
    scope = {"tickers": tickers, "full_refresh": args.full_refresh, "as_of": args.date or ""}
    run_config = {
        "resources": {"scope": {"config": scope}},
        "loggers": {"console": {"config": {"log_level": os.environ.get("CHINATECH_LOG_LEVEL", "INFO")}}},
    }
    started = datetime.now(UTC)
    run_id = str(uuid.uuid4())

    def give_up(why: str) -> None:
        # only called while this run's next step waits for its slot: no step (no DuckDB connection) is open
        print(f"FAILED: {why}", file=sys.stderr, flush=True)
        run = instance.get_run_by_id(run_id)
        if run is not None:
            instance.report_run_failed(run, message=why)
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
        os._exit(1)

    watch = PoolWatch(
        instance, run_id, float(os.environ.get("CHINATECH_POOL_WAIT_SECONDS", "600")), lambda m: print(m), give_up
    )
    with watch:
        result = job.execute_in_process(
            instance=instance,
            run_id=run_id,
            run_config=run_config,
            raise_on_error=False,
            tags={
                "chinatech/warehouse": str(warehouse),
                "chinatech/tickers": ",".join(tickers) or "all",
                **process_tags(),
            },
        )
    seconds = (datetime.now(UTC) - started).total_seconds()
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    for e in failed:
        print(f"check {e.severity.value:5} {e.asset_key.to_user_string()} {e.check_name}: failed")
    print(f"\nrun {result.run_id} {'succeeded' if result.success else 'FAILED'} in {seconds:.1f}s")
    print(f"source: {source}  warehouse: {warehouse}")
    if not result.success:
        # the last lines of a failed run say which step failed and why
        for line in failure_lines(result):
            print(line, file=sys.stderr)
    if result.success:
        show_example(warehouse)
    return 0 if result.success else 1


def mode_refusal(source: str) -> str:
    """Why the warehouse the settings point at cannot take this source's data ("" when it can).

    The run would refuse too, in its first step; asked here, the user gets the reason alone, not a
    failed run and its stack traces.
    """
    from assets.warehouse import DEFAULT_DATA_DIR, WarehouseModeError, WarehouseResource

    warehouse = WarehouseResource(
        mode=source,
        path=os.environ.get("CHINATECH_WAREHOUSE", ""),
        data_dir=os.environ.get("CHINATECH_DATA_DIR", DEFAULT_DATA_DIR),
        lake_data=os.environ.get("CHINATECH_LAKE_DATA", ""),
    )
    try:
        warehouse.check_mode()
    except WarehouseModeError as exc:
        return str(exc)
    return ""


def show_example(warehouse: Path) -> None:
    """Where readers find the data, and the example query run on it."""
    from assets.publish import reader_file
    from assets.warehouse import connect_waiting, is_lake
    from orchestration.resources import warehouse_location

    location, lake_data = warehouse_location(), os.environ.get("CHINATECH_LAKE_DATA", "")
    if is_lake(location):  # readers open the lake itself: its last committed snapshot
        print(f"readers (make query, make sql): the DuckLake {location}, its last committed snapshot")
        target: Path | str = location
    else:
        snapshot = reader_file(warehouse)
        print(f"snapshot for readers (make query, make sql, notebooks, BI tools): {snapshot}")
        target = snapshot if snapshot.exists() else warehouse
    print(f'example query (make query SQL="..."):\n  {EXAMPLE_QUERY}')
    with connect_waiting(target, read_only=True, lake_data=lake_data) as con:
        con.sql(EXAMPLE_QUERY).show()


if __name__ == "__main__":
    sys.exit(main())
