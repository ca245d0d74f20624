"""Resource wiring from settings: every setting is an environment variable (README, settings table)."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from assets.sources.resource import DEFAULT_REPLAY_DIR, SourceResource
from assets.warehouse import DEFAULT_DATA_DIR, WarehouseResource, default_warehouse, repo_path


def setting(name: str, default: str) -> str | dg.EnvVar:
    """An ``EnvVar`` when the variable is set (the UI then shows where it came from), else the default."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def build_resources() -> dict[str, dg.ConfigurableResource]:
    """The warehouse and the source read the same CHINATECH_SOURCE: a file only ever gets one mode."""
    data_dir = os.environ.get("CHINATECH_DATA_DIR", DEFAULT_DATA_DIR)
    return {
        "warehouse": WarehouseResource(
            mode=setting("CHINATECH_SOURCE", "live"),
            path=setting("CHINATECH_WAREHOUSE", ""),
            data_dir=setting("CHINATECH_DATA_DIR", DEFAULT_DATA_DIR),
        ),
        "source": SourceResource(
            source=setting("CHINATECH_SOURCE", "live"),
            replay_dir=setting("CHINATECH_REPLAY_DIR", DEFAULT_REPLAY_DIR),
            sec_user_agent=setting("CHINATECH_SEC_USER_AGENT", ""),
            cache_dir=setting("CHINATECH_CACHE_DIR", f"{data_dir}/cache"),
        ),
    }


def warehouse_file() -> Path:
    """The warehouse file the settings point at (what the CLIs print, query and rebuild)."""
    explicit = os.environ.get("CHINATECH_WAREHOUSE")
    if explicit:
        return repo_path(explicit)
    return default_warehouse(os.environ.get("CHINATECH_SOURCE", "live"), os.environ.get("CHINATECH_DATA_DIR", "data"))
