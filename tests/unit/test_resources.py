"""The source setting is validated once, for every kind of data; the CLI finds the ticker-config steps."""

import pytest

from assets.sources.errors import SourceConfigError
from orchestration.definitions import defs
from orchestration.resources import SourceResource
from orchestration.run import ticker_config_ops

ROW = {"ticker": "0700.HK", "group": "hstech", "currency": "HKD", "cik": None, "name": "Tencent"}


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.prices(),
        lambda s: s.fetch_info(ROW, 300.0),
        lambda s: s.fetch_financials(ROW),
        lambda s: s.fetch_companyfacts({**ROW, "cik": 1577552}),
    ],
)
def test_unknown_source_is_refused_everywhere(call) -> None:
    with pytest.raises(SourceConfigError, match="samples"):
        call(SourceResource(source="samples"))


def test_cli_selects_tickers_on_every_step_that_takes_them() -> None:
    assert ticker_config_ops(defs.resolve_job_def("all_assets")) == [
        "core__financials_annual",
        "raw__fundamentals_info",
        "raw__prices_daily",
        "raw__sec_facts",
    ]
