"""One adapter object per source mode, picked once; settings validated before anything is fetched."""

import pytest

from assets.sources.adapters import LiveSource, ReplaySource, SampleSource
from assets.sources.errors import SourceConfigError
from assets.sources.resource import SourceResource
from orchestration.definitions import defs
from orchestration.run import ticker_config_ops


def test_unknown_source_is_refused() -> None:
    with pytest.raises(SourceConfigError, match="samples"):
        _ = SourceResource(source="samples").adapter


def test_each_mode_has_its_adapter_object(tmp_path) -> None:
    assert isinstance(SourceResource(source="sample").adapter, SampleSource)
    assert isinstance(SourceResource(source="replay", replay_dir=str(tmp_path)).adapter, ReplaySource)
    live = SourceResource(source="live", sec_user_agent="ct test@example.com", cache_dir=str(tmp_path)).adapter
    assert isinstance(live, LiveSource)
    resource = SourceResource(source="sample")
    assert resource.adapter is resource.adapter  # picked once


def test_live_refuses_without_sec_user_agent_before_fetching(tmp_path) -> None:
    with pytest.raises(SourceConfigError, match="CHINATECH_SEC_USER_AGENT"):
        _ = SourceResource(source="live", sec_user_agent="", cache_dir=str(tmp_path)).adapter


def test_replay_refuses_a_missing_folder(tmp_path) -> None:
    with pytest.raises(SourceConfigError, match="CHINATECH_REPLAY_DIR"):
        _ = SourceResource(source="replay", replay_dir=str(tmp_path / "nope")).adapter


def test_cli_selects_tickers_on_every_step_that_takes_them() -> None:
    assert ticker_config_ops(defs.resolve_job_def("all_assets")) == [
        "core__financials_annual",
        "raw__fundamentals_info",
        "raw__prices_daily",
        "raw__sec_facts",
    ]
