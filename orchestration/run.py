"""Command line: materialize every asset (``make demo`` / ``make run``) into the warehouse.

Runs the ``all_assets`` job in process on the Dagster instance in $DAGSTER_HOME (so the runs
show in ``make ui``), with today's snapshot partition, and prints where the data went.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
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
    """$DAGSTER_HOME, defaulting to the git-ignored .dagster_home with the project's instance config."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(REPO / ".dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(REPO / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    return home


def ticker_config_ops(job: Any) -> list[str]:
    """The steps whose run config selects tickers (those taking ``PriceRunConfig``)."""
    ops = []
    for node in job.graph.node_defs:
        fields = getattr(getattr(node.config_schema, "config_type", None), "fields", None) or {}
        if "tickers" in fields:
            ops.append(node.name)
    return sorted(ops)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickers", default="", help="comma-separated tickers (default: the whole universe)")
    parser.add_argument("--full-refresh", action="store_true", help="reload whole price histories")
    parser.add_argument("--date", default=None, help="snapshot partition (default: today, UTC)")
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="move the warehouse file aside (kept as <file>.replaced-<time>) and build it again from scratch",
    )
    args = parser.parse_args(argv)

    dagster_home()
    import dagster as dg

    from orchestration.definitions import defs
    from orchestration.resources import warehouse_file

    warehouse = warehouse_file()
    if args.rebuild and warehouse.exists():
        aside = warehouse.with_name(f"{warehouse.name}.replaced-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
        warehouse.rename(aside)
        wal = warehouse.with_name(warehouse.name + ".wal")
        if wal.exists():
            wal.rename(aside.with_name(aside.name + ".wal"))
        print(f"rebuild: moved {warehouse} aside to {aside}")

    tickers = [t.strip() for t in args.tickers.split(",") if t.strip()]
    job = defs.resolve_job_def("all_assets")
    run_config = {"ops": {op: {"config": {"tickers": tickers}} for op in ticker_config_ops(job)}}
    run_config["ops"]["raw__prices_daily"]["config"]["full_refresh"] = args.full_refresh
    run_config["loggers"] = {"console": {"config": {"log_level": os.environ.get("CHINATECH_LOG_LEVEL", "INFO")}}}
    partition = args.date or datetime.now(UTC).date().isoformat()
    started = datetime.now(UTC)
    source = os.environ.get("CHINATECH_SOURCE", "live")
    result = job.execute_in_process(
        instance=dg.DagsterInstance.get(),
        partition_key=partition,
        run_config=run_config,
        raise_on_error=False,
        tags={
            "chinatech/source": source,
            "chinatech/warehouse": str(warehouse),
            "chinatech/tickers": ",".join(tickers) or "all",
        },
    )
    seconds = (datetime.now(UTC) - started).total_seconds()
    for step in result.get_step_failure_events():
        print(f"FAILED {step.step_key}: {step.event_specific_data.error.message.strip()}", file=sys.stderr)
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    for e in failed:
        print(f"check {e.severity.value:5} {e.asset_key.to_user_string()} {e.check_name}: failed")
    print(f"\nrun {result.run_id} {'succeeded' if result.success else 'FAILED'} in {seconds:.1f}s")
    print(f"source: {source}  warehouse: {warehouse}")
    if result.success:
        from assets.warehouse import connect_waiting

        print(f'example query (make query SQL="..."):\n  {EXAMPLE_QUERY}')
        with connect_waiting(warehouse, read_only=True) as con:
            con.sql(EXAMPLE_QUERY).show()
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
