"""Resource wiring from settings: every setting is an environment variable (README, settings table)."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from assets.scope import RunScope
from assets.sources.resource import DEFAULT_REPLAY_DIR, SourceResource
from assets.warehouse import (
    DEFAULT_DATA_DIR,
    MODES,
    WarehouseResource,
    default_warehouse,
    is_lake,
    lake_catalog,
    repo_path,
)


def setting(name: str, default: str) -> str | dg.EnvVar:
    """An ``EnvVar`` when the variable is set (the UI then shows where it came from), else the default."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def lock_wait_seconds() -> float:
    """CHINATECH_LOCK_WAIT_SECONDS: how long a process waits for another's lock on the warehouse file.

    Parsed here (Dagster has no float EnvVar), so a typo fails at load time naming the variable.
    """
    default = float(WarehouseResource.model_fields["lock_wait_seconds"].default)
    raw = os.environ.get("CHINATECH_LOCK_WAIT_SECONDS", "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise ValueError(
            f"CHINATECH_LOCK_WAIT_SECONDS={raw!r}: expected a number of seconds >= 0 (default {default:g})"
        )
    return value


def backup_dir() -> Path:
    """CHINATECH_BACKUP_DIR, else <data dir>/backups."""
    data_dir = os.environ.get("CHINATECH_DATA_DIR", DEFAULT_DATA_DIR)
    return repo_path(os.environ.get("CHINATECH_BACKUP_DIR") or f"{data_dir}/backups")


def build_resources() -> dict[str, dg.ConfigurableResource]:
    """The warehouse and the source read the same CHINATECH_SOURCE: a file only ever gets one mode."""
    data_dir = os.environ.get("CHINATECH_DATA_DIR", DEFAULT_DATA_DIR)
    return {
        "warehouse": WarehouseResource(
            mode=setting("CHINATECH_SOURCE", "live"),
            path=setting("CHINATECH_WAREHOUSE", ""),
            data_dir=setting("CHINATECH_DATA_DIR", DEFAULT_DATA_DIR),
            lake_data=setting("CHINATECH_LAKE_DATA", ""),
            lock_wait_seconds=lock_wait_seconds(),
        ),
        # set per run in the launchpad (resources: scope: config: tickers, full_refresh, as_of)
        "scope": RunScope.configure_at_launch(),
        "source": SourceResource(
            source=setting("CHINATECH_SOURCE", "live"),
            replay_dir=setting("CHINATECH_REPLAY_DIR", DEFAULT_REPLAY_DIR),
            sec_user_agent=setting("CHINATECH_SEC_USER_AGENT", ""),
            cache_dir=setting("CHINATECH_CACHE_DIR", f"{data_dir}/cache"),
        ),
    }


def warehouse_location() -> str:
    """What the CLIs open: the warehouse file, or ``ducklake:<catalog>`` (with CHINATECH_LAKE_DATA)."""
    explicit = os.environ.get("CHINATECH_WAREHOUSE", "")
    if is_lake(explicit):
        return explicit
    return str(warehouse_file())


def warehouse_file(mode: str | None = None) -> Path:
    """The warehouse file the settings point at (what the CLIs run, query and rebuild).

    CHINATECH_WAREHOUSE if set, else data/<mode or CHINATECH_SOURCE>.duckdb. With neither set, a reader
    (``make query``) gets the newest existing mode file, so `make demo` then `make query` works.
    A DuckLake's path is its catalog file.
    """
    explicit = os.environ.get("CHINATECH_WAREHOUSE")
    if explicit and is_lake(explicit):
        return lake_catalog(explicit)[1]
    if explicit:
        return repo_path(explicit)
    data_dir = os.environ.get("CHINATECH_DATA_DIR", DEFAULT_DATA_DIR)
    mode = mode or os.environ.get("CHINATECH_SOURCE")
    if mode:
        return default_warehouse(mode, data_dir)
    existing = [default_warehouse(m, data_dir) for m in MODES if default_warehouse(m, data_dir).exists()]
    return max(existing, key=lambda p: p.stat().st_mtime) if existing else default_warehouse("live", data_dir)
