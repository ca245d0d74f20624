"""The Dagster resource that picks the source adapter (live, replay or sample) once per run."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field, PrivateAttr

from assets.sources.adapters import LiveSource, ReplaySource, SampleSource, Source
from assets.sources.errors import SourceConfigError
from assets.warehouse import MODES, repo_path

DEFAULT_REPLAY_DIR = "../shared/data"


class SourceResource(dg.ConfigurableResource):
    """Which upstream the assets read: live (yfinance, SEC), replay (recorded files) or sample."""

    source: str = Field(default="live", description="live | replay | sample (CHINATECH_SOURCE)")
    replay_dir: str = Field(default=DEFAULT_REPLAY_DIR, description="Recorded data folder (CHINATECH_REPLAY_DIR)")
    sec_user_agent: str = Field(default="", description="Name and e-mail for SEC requests (CHINATECH_SEC_USER_AGENT)")
    cache_dir: str = Field(default="data/cache", description="Raw SEC responses cache (CHINATECH_CACHE_DIR)")
    yahoo_requests_per_second: float = 2.0
    sec_requests_per_second: float = 10.0
    overlap_days: int = Field(default=7, description="Days re-fetched before the last one held (revisions)")

    _adapter: Source | None = PrivateAttr(default=None)

    @property
    def mode(self) -> str:
        """The validated source name (a typo never falls through to another mode)."""
        if self.source not in MODES:
            raise SourceConfigError(f"CHINATECH_SOURCE={self.source!r}: expected one of {', '.join(MODES)}")
        return self.source

    @property
    def replay_path(self) -> Path:
        return repo_path(self.replay_dir)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Build the adapter at run start: a bad setting fails the run before anything is fetched."""
        _ = self.adapter

    @property
    def adapter(self) -> Source:
        """The one adapter object for the configured mode, built on first use."""
        if self._adapter is None:
            mode = self.mode
            if mode == "live":
                self._adapter = LiveSource(
                    self.sec_user_agent,
                    repo_path(self.cache_dir),
                    self.yahoo_requests_per_second,
                    self.sec_requests_per_second,
                )
            elif mode == "replay":
                self._adapter = ReplaySource(self.replay_path)
            else:
                self._adapter = SampleSource()
        return self._adapter
