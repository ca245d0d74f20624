"""Readers while a run writes: `make query` and `make sql` read the snapshot; writers wait, bounded."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from assets.publish import publish_snapshot, reader_file

REPO = Path(__file__).resolve().parents[2]
COUNT = "SELECT count(*) AS n FROM core.prices_daily"

pytestmark = pytest.mark.slow

# Holds a write transaction on the warehouse (as a materialization does) until told to commit.
WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import duckdb
    warehouse, release = sys.argv[1], Path(sys.argv[2])
    con = duckdb.connect(warehouse)
    con.execute("BEGIN")
    con.execute(
        "INSERT INTO core.prices_daily BY NAME SELECT * REPLACE (DATE '2030-01-02' AS trade_date)"
        " FROM core.prices_daily WHERE ticker = '9888.HK' ORDER BY trade_date DESC LIMIT 1"
    )
    print("writing", flush=True)
    deadline = time.monotonic() + 90
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    con.execute("COMMIT")
    con.close()
    print("committed", flush=True)
    """
)


def _env(warehouse: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHINATECH_")}
    env.update(CHINATECH_WAREHOUSE=str(warehouse), PYTHONWARNINGS="ignore", **extra)
    return env


def _python(module: str, *args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _count(file: Path) -> int:
    with duckdb.connect(str(file), read_only=True) as con:
        return int(con.execute(COUNT).fetchone()[0])


def test_queries_read_the_snapshot_while_a_run_writes(sample_copy, tmp_path):
    publish_snapshot(sample_copy)
    before = _count(sample_copy)
    release = tmp_path / "release"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(sample_copy), str(release)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "writing"
        # the problem: while a process writes, no other process can even open the file read-only
        with pytest.raises(duckdb.IOException, match="lock"):
            duckdb.connect(str(sample_copy), read_only=True)

        env = _env(sample_copy)
        out = _python("orchestration.query", COUNT, env=env)
        assert out.returncode == 0, out.stderr
        assert str(reader_file(sample_copy)) in out.stderr
        assert f"{before}" in out.stdout  # the previous complete state, not the write in progress

        shell = _python(
            "orchestration.sql", "-csv", env=env, stdin=f"{COUNT};\nSELECT source_mode FROM meta.snapshot;\n"
        )
        assert shell.returncode == 0, shell.stderr
        assert shell.stdout.split() == ["n", str(before), "source_mode", "sample"]

        # a writer meeting the lock waits CHINATECH_LOCK_WAIT_SECONDS, then fails naming the file and the holder
        started = time.monotonic()
        locked = _python("orchestration.snapshot", env=_env(sample_copy, CHINATECH_LOCK_WAIT_SECONDS="1"))
        assert locked.returncode == 1
        assert time.monotonic() - started < 60
        assert str(sample_copy) in locked.stderr and f"process {writer.pid}" in locked.stderr, locked.stderr
    finally:
        release.touch()
        writer.wait(timeout=60)
    assert writer.returncode == 0
    assert _count(reader_file(sample_copy)) == before  # still: nothing published the write yet
    published = _python("orchestration.snapshot", env=_env(sample_copy))
    assert published.returncode == 0, published.stderr
    assert "partitions rewritten 1," in published.stdout  # the one year the write touched
    assert _count(reader_file(sample_copy)) == before + 1


def test_query_falls_back_to_the_live_file_before_the_first_publish(sample_copy):
    assert not reader_file(sample_copy).exists()
    sql = 'SELECT "ticker", count(*) AS "n rows" FROM core.prices_daily WHERE ticker = \'9888.HK\' GROUP BY ALL'
    out = _python("orchestration.query", env=_env(sample_copy, SQL=sql))
    assert out.returncode == 0, out.stderr
    assert "no snapshot yet" in out.stderr and str(sample_copy) in out.stderr
    assert "n rows" in out.stdout and "9888.HK" in out.stdout
    bad = _python("orchestration.query", "SELECT nope FROM core.prices_daily", env=_env(sample_copy))
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1].startswith("SQL error: ")
