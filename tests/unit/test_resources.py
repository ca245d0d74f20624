"""One adapter object per source mode, picked once; settings validated before anything is fetched."""

import pytest

from assets.sources.adapters import LiveSource, ReplaySource, SampleSource
from assets.sources.errors import SourceConfigError
from assets.sources.resource import SourceResource
from orchestration.definitions import defs


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


def test_one_scope_setting_reaches_every_asset_that_takes_tickers() -> None:
    """The launchpad has one place for the tickers: the `scope` resource, with a description per field."""
    from assets.scope import RunScope

    takers = sorted(
        a.key.to_user_string()
        for a in defs.resolve_asset_graph().assets_defs
        if "scope" in getattr(a, "required_resource_keys", set())
    )
    assert takers == [
        "core/capex",
        "core/financials_annual",
        "core/fundamentals_snapshot",
        "core/fx_daily",
        "dq/price_anomalies",
        "raw/fundamentals_info",
        "raw/prices_daily",
        "raw/sec_facts",
    ]
    fields = RunScope.model_fields
    assert set(fields) == {"tickers", "full_refresh", "as_of"}
    assert all(f.description for f in fields.values())


def test_lock_wait_is_a_setting(monkeypatch) -> None:
    from orchestration.resources import build_resources, lock_wait_seconds

    monkeypatch.delenv("CHINATECH_LOCK_WAIT_SECONDS", raising=False)
    assert lock_wait_seconds() == 120.0
    monkeypatch.setenv("CHINATECH_LOCK_WAIT_SECONDS", "7.5")
    assert build_resources()["warehouse"].lock_wait_seconds == 7.5
    for bad in ("soon", "-1", "nan", "inf"):
        monkeypatch.setenv("CHINATECH_LOCK_WAIT_SECONDS", bad)
        with pytest.raises(ValueError, match="CHINATECH_LOCK_WAIT_SECONDS"):
            lock_wait_seconds()
