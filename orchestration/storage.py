"""Dagster's SQLite run and event storage, in the same files, without a new SQLAlchemy engine per query.

Dagster's SQLite storages build an engine for every connection: SQLAlchemy then initialises
its dialect again, ~1.5 ms before each query. A run writes 60 to 70 events for the three price
assets (each check is two), each through two or three connections, so a one-ticker refresh
spent ~1.7 s of its ~3.7 s in the event log. These subclasses keep one engine per database
file (``NullPool``, as Dagster's: every use still opens and closes its own SQLite connection, so
several processes share the files as before). Configured in ``orchestration/dagster.yaml``
with the home's usual layout (``history/runs.db``, ``history/runs/*.db``), so existing run
history stays where it is.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from dagster._config import StringSource
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

MAX_ENGINES = 64  # one per run database a long-lived webserver reads; the oldest are dropped


class _Engines:
    """SQLAlchemy engines by connection string, the least recently used dropped beyond MAX_ENGINES."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._engines: OrderedDict[str, Engine] = OrderedDict()

    def get(self, conn_string: str, **connect_args: Any) -> Engine:
        with self._lock:
            engine = self._engines.get(conn_string)
            if engine is None:
                engine = create_engine(conn_string, poolclass=NullPool, connect_args=connect_args)
                self._engines[conn_string] = engine
                if len(self._engines) > MAX_ENGINES:
                    self._engines.popitem(last=False)[1].dispose()
            else:
                self._engines.move_to_end(conn_string)
            return engine


def in_home(config_value: Mapping[str, Any], *parts: str) -> str:
    """A folder of the Dagster home, as Dagster's default storage lays it out."""
    return os.path.join(config_value["home"], *parts, "")


class RunStorage(SqliteRunStorage):
    """``history/runs.db`` under the Dagster home, as Dagster's default run storage."""

    def __init__(self, conn_string: str, inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__(conn_string, inst_data)
        self._engines = _Engines()

    @classmethod
    def config_type(cls) -> Any:
        return {"home": StringSource}

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Mapping[str, Any]) -> RunStorage:  # type: ignore[override]
        return cls.from_local(in_home(config_value, "history"), inst_data=inst_data)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self._engines.get(self._conn_string).connect() as conn, conn.begin():
            yield conn


class EventLogStorage(SqliteEventLogStorage):
    """``history/runs/<run id>.db`` and ``index.db`` under the Dagster home, as Dagster's default."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines = _Engines()
        super().__init__(base_dir, inst_data)

    @classmethod
    def config_type(cls) -> Any:
        return {"home": StringSource}

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Mapping[str, Any]) -> EventLogStorage:  # type: ignore[override]
        return cls(in_home(config_value, "history", "runs"), inst_data=inst_data)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # as SqliteEventLogStorage._connect, with the shard's engine kept
        with self._db_lock:
            engine = self._engines.get(self.conn_string_for_shard(shard), timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn
