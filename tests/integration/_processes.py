"""Helpers of the process tests (the CLIs, the web UI, make targets as a user runs them).

Each such test is a file of its own, so the two test workers share them out (``--dist loadfile``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _env(dagster_home: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHINATECH_")}
    env.update(
        DAGSTER_HOME=str(dagster_home),
        CHINATECH_WAREHOUSE=str(tmp_path / "warehouse.duckdb"),
        CHINATECH_CACHE_DIR=str(tmp_path / "cache"),
        PYTHONWARNINGS="ignore",
    )
    env.update(extra)
    return env


def _get(url: str, timeout: float = 2.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _make(target: str, env: dict[str, str], timeout: int = 400, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", target, *[f"{k}={v}" for k, v in extra.items()]],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
