"""yfinance's real code on recorded Yahoo answers (yahoo-http/), served with ``responses``.

yfinance 1.7 with a plain requests session: GET https://fc.yahoo.com (cookie), GET
query1 /v1/test/getcrumb (crumb), then the data URLs with ``crumb=``: quoteSummary (query2) +
v7 quote (query1) + fundamentals-timeseries trailingPegRatio (query1) for ``.info``;
fundamentals-timeseries (query2) for statements. The recorded bodies answer them; the
handlers only select what was asked for (modules / types), as Yahoo does.
"""

from __future__ import annotations

import copy
import gzip
import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import polars as pl
import pytest
import requests
import responses

from assets.sources.errors import SourceError, SourceUnavailable
from assets.sources.yahoo import is_timeout, is_unreachable
from assets.sources.yahoo_fundamentals import (
    FINANCIALS_SCHEMA,
    fetch_financials,
    fetch_info,
    read_replay_financials,
    read_replay_info,
    statement_to_long,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CRUMB = "haT3oykhHqZ"  # the crumb the recorded requests carried
EMPTY_QUOTE = {"quoteResponse": {"result": [], "error": None}}
EMPTY_TS = {"timeseries": {"result": [], "error": None}}

pytestmark = pytest.mark.replay


def recorded(replay_dir: Path, name: str) -> dict:
    with gzip.open(replay_dir / "yahoo-http" / name, "rt") as f:
        return json.load(f)


class FakeYahoo:
    """Registers the cookie, crumb and data endpoints on a ``responses`` mock."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.rsps = rsps
        self.quote_summary: dict[str, tuple[int, dict]] = {}
        self.quote: dict[str, dict] = {}
        self.timeseries: dict[str, dict] = {}
        rsps.add(
            responses.GET,
            "https://fc.yahoo.com/",
            status=404,
            headers={"Set-Cookie": "A3=d=FAKE; Expires=Wed, 01 Jan 2031 00:00:00 GMT; Domain=.yahoo.com; Path=/"},
        )
        for host in ("query1", "query2"):
            rsps.add(responses.GET, f"https://{host}.finance.yahoo.com/v1/test/getcrumb", body=CRUMB)
            rsps.add_callback(
                responses.GET,
                re.compile(rf"https://{host}\.finance\.yahoo\.com/v10/finance/quoteSummary/.*"),
                callback=self._quote_summary,
            )
            rsps.add_callback(
                responses.GET,
                re.compile(rf"https://{host}\.finance\.yahoo\.com/v7/finance/quote.*"),
                callback=self._quote,
            )
            rsps.add_callback(
                responses.GET,
                re.compile(rf"https://{host}\.finance\.yahoo\.com/ws/fundamentals-timeseries/.*"),
                callback=self._timeseries,
            )

    @staticmethod
    def _reply(status: int, body: dict) -> tuple[int, dict, str]:
        return status, {"Content-Type": "application/json"}, json.dumps(body)

    def _quote_summary(self, request: requests.PreparedRequest) -> tuple[int, dict, str]:
        url = urlsplit(request.url)
        assert parse_qs(url.query).get("crumb") == [CRUMB]
        symbol = url.path.rsplit("/", 1)[-1]
        status, body = self.quote_summary[symbol]
        wanted = parse_qs(url.query)["modules"][0].split(",")
        body = copy.deepcopy(body)
        for result in (body.get("quoteSummary") or {}).get("result") or []:
            # Yahoo answers only the modules asked for, in its own order
            for module in [m for m in result if m not in wanted]:
                del result[module]
        return self._reply(status, body)

    def _quote(self, request: requests.PreparedRequest) -> tuple[int, dict, str]:
        symbol = parse_qs(urlsplit(request.url).query)["symbols"][0]
        return self._reply(200, self.quote.get(symbol, EMPTY_QUOTE))

    def _timeseries(self, request: requests.PreparedRequest) -> tuple[int, dict, str]:
        url = urlsplit(request.url)
        symbol = url.path.rsplit("/", 1)[-1]
        wanted = set(",".join(parse_qs(url.query).get("type", [])).split(","))
        body = copy.deepcopy(self.timeseries.get(symbol, EMPTY_TS))
        result = body["timeseries"]["result"]
        body["timeseries"]["result"] = [r for r in result if r["meta"]["type"][0] in wanted]
        return self._reply(200, body)


@pytest.fixture()
def fake_yahoo(yf_state):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeYahoo(rsps)


def test_info_from_recorded_baba_quote_summary(replay_dir: Path, fake_yahoo: FakeYahoo) -> None:
    rec = recorded(replay_dir, "devel_quoteSummary-all-BABA_2025-02-24.json.gz")
    fake_yahoo.quote_summary["BABA"] = (200, rec["response"]["bodyJson"])

    info = fetch_info("BABA", session=requests.Session(), sleep=lambda s: None)

    # summaryDetail comes after defaultKeyStatistics in Yahoo's answer, so its USD
    # forwardPE wins the flattening; the mixed 1.955 is hidden from .info
    assert info["forwardPE"] == pytest.approx(14.564337)
    assert info["trailingPE"] == pytest.approx(20.924309)
    assert info["currency"] == "USD"
    assert info["financialCurrency"] == "CNY"
    assert info["forwardEps"] == pytest.approx(9.87)
    assert info["currentPrice"] == pytest.approx(143.75)
    # the sequence yfinance used: cookie, crumb, then the data URLs
    urls = [c.request.url for c in fake_yahoo.rsps.calls]
    assert urls[0].startswith("https://fc.yahoo.com")
    assert "/v1/test/getcrumb" in urls[1]
    assert any("/v10/finance/quoteSummary/BABA" in u and f"crumb={CRUMB}" in u for u in urls[2:])


def test_info_module_order_decides_which_forward_pe_survives(replay_dir: Path, fake_yahoo: FakeYahoo) -> None:
    """Same recorded values, defaultKeyStatistics answered last: .info now says 1.955."""
    body = copy.deepcopy(recorded(replay_dir, "devel_quoteSummary-all-BABA_2025-02-24.json.gz")["response"]["bodyJson"])
    result = body["quoteSummary"]["result"][0]
    result["defaultKeyStatistics"] = result.pop("defaultKeyStatistics")
    fake_yahoo.quote_summary["BABA"] = (200, body)

    info = fetch_info("BABA", session=requests.Session(), sleep=lambda s: None)

    assert info["forwardPE"] == pytest.approx(1.9551755)


def test_info_v7_quote_overrides_quote_summary(replay_dir: Path, fake_yahoo: FakeYahoo) -> None:
    """When the v7 quote answers, its flat keys override the quoteSummary modules in .info."""
    summary = recorded(replay_dir, "devel_quoteSummary-all-BABA_2025-02-24.json.gz")
    fake_yahoo.quote_summary["BABA"] = (200, summary["response"]["bodyJson"])
    fake_yahoo.quote["BABA"] = recorded(replay_dir, "devel_quote-BABA_2025-02-17.json.gz")["response"]["bodyJson"]

    info = fetch_info("BABA", session=requests.Session(), sleep=lambda s: None)

    assert info["forwardPE"] == pytest.approx(12.637285)  # v7, 2025-02-14 close
    assert info["regularMarketPrice"] == pytest.approx(124.73)  # v7
    assert info["currentPrice"] == pytest.approx(143.75)  # financialData, not in v7
    assert info["dividendYield"] == pytest.approx(1.6)  # v7 gives percent, not a fraction
    assert info["epsCurrentYear"] == pytest.approx(62.9588)  # CNY, beside a USD price


def test_near_empty_info_is_a_source_error(replay_dir: Path, fake_yahoo: FakeYahoo) -> None:
    not_found = json.loads((FIXTURES / "yahoo_quote_summary_not_found_synthetic.json").read_text())
    fake_yahoo.quote_summary["NOPE"] = (404, not_found)

    with pytest.raises(SourceError) as err:
        fetch_info("NOPE", session=requests.Session(), sleep=lambda s: None)

    assert err.value.key == "NOPE"
    assert "NOPE" in str(err.value)


def test_network_down_is_source_unavailable_without_retries(yf_state) -> None:
    slept: list[float] = []
    with responses.RequestsMock(assert_all_requests_are_fired=False), pytest.raises(SourceUnavailable):
        # nothing registered: every request is refused like a dead network
        fetch_info("BABA", session=requests.Session(), sleep=slept.append)
    assert slept == []


def test_rate_limit_is_retried_with_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    import yfinance as yf
    from yfinance.exceptions import YFRateLimitError

    answers: list[object] = [YFRateLimitError(), YFRateLimitError(), {"quoteType": "EQUITY", "currentPrice": 1.0}]

    class FakeTicker:
        def __init__(self, ticker: str, session: object = None) -> None:
            pass

        @property
        def info(self) -> dict:
            answer = answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer  # type: ignore[return-value]

    monkeypatch.setattr(yf, "Ticker", FakeTicker)
    slept: list[float] = []
    assert fetch_info("BABA", sleep=slept.append)["currentPrice"] == 1.0
    assert len(slept) == 2 and slept[1] > slept[0]


def test_aapl_annual_capex_through_ticker_cashflow(replay_dir: Path, fake_yahoo: FakeYahoo) -> None:
    rec = recorded(replay_dir, "devel_fundamentalsTimeSeries-AAPL-cash-flow-annual_2025-02-21.json.gz")
    fake_yahoo.timeseries["AAPL"] = rec["response"]["bodyJson"]

    long = fetch_financials("AAPL", session=requests.Session(), sleep=lambda s: None)

    assert long.schema == pl.Schema(FINANCIALS_SCHEMA)
    capex = long.filter(pl.col("line_item") == "Capital Expenditure").sort("fiscal_period_end")
    assert capex["statement"].unique().to_list() == ["cash_flow"]
    assert capex["fiscal_period_end"].cast(pl.String).to_list() == ["2022-09-30", "2023-09-30", "2024-09-30"]
    assert capex["value"].to_list() == [-10_708_000_000.0, -10_959_000_000.0, -9_447_000_000.0]
    ocf = long.filter(pl.col("line_item") == "Operating Cash Flow").sort("fiscal_period_end")
    assert ocf["value"].to_list() == [122_151_000_000.0, 110_543_000_000.0, 118_254_000_000.0]
    assert long["value"].is_null().sum() == 0
    # yfinance asked the timeseries endpoint for annual types
    assert any("annualCapitalExpenditure" in c.request.url for c in fake_yahoo.rsps.calls)


def test_all_statements_empty_is_a_source_error(fake_yahoo: FakeYahoo) -> None:
    with pytest.raises(SourceError) as err:
        fetch_financials("ZZZZ", session=requests.Session(), sleep=lambda s: None)
    assert err.value.key == "ZZZZ"


def test_baba_quarterly_income_in_cny(replay_dir: Path, fake_yahoo: FakeYahoo) -> None:
    import yfinance as yf

    rec = recorded(replay_dir, "devel_fundamentalsTimeSeries-BABA-financials-quarterly_2025-02-21.json.gz")
    fake_yahoo.timeseries["BABA"] = rec["response"]["bodyJson"]
    labels: dict[str, set[str]] = {}
    for r in rec["response"]["bodyJson"]["timeseries"]["result"]:
        for k, vals in r.items():
            if k not in ("meta", "timestamp"):
                labels.setdefault(k, set()).update(v["currencyCode"] for v in vals if v)
    usd_labelled = {k for k, ccys in labels.items() if "USD" in ccys}
    # every amount is CNY; only per-share rows and share counts carry a (wrong) USD label
    assert usd_labelled == {
        "quarterlyBasicEPS",
        "quarterlyDilutedEPS",
        "quarterlyBasicAverageShares",
        "quarterlyDilutedAverageShares",
    }

    pdf = yf.Ticker("BABA", session=requests.Session()).quarterly_income_stmt
    long = statement_to_long("BABA", "income_statement", pdf)

    revenue = long.filter(pl.col("line_item") == "Total Revenue").sort("fiscal_period_end")
    assert revenue["value"].to_list() == [234_156_000_000.0, 224_790_000_000.0, 260_348_000_000.0]
    net = long.filter(pl.col("line_item") == "Net Income").sort("fiscal_period_end")
    assert net["value"].to_list() == [34_242_000_000.0, 27_847_000_000.0, 14_555_000_000.0]
    # the "USD" Basic EPS is really CNY per ADS: net income / average shares gives it back
    wide = long.pivot("line_item", index="fiscal_period_end", values="value").sort("fiscal_period_end")
    implied = wide["Net Income Common Stockholders"] / wide["Basic Average Shares"]
    assert (implied / wide["Basic EPS"] - 1).abs().max() < 0.02
    assert wide["Basic EPS"].to_list() == [13.44, 10.88, 5.76]


def test_statement_round_trips_through_to_csv(tmp_path: Path) -> None:
    """The replay files are ``statement_df.to_csv()``: same long rows as the live frame."""
    pdf = pd.DataFrame(
        {pd.Timestamp("2024-09-30"): [-9.447e9, 1.18254e11, None], pd.Timestamp("2023-09-30"): [-1.0959e10, None, 5.0]},
        index=["Capital Expenditure", "Operating Cash Flow", "Other"],
    )
    live = statement_to_long("AAPL", "cash_flow", pdf)
    folder = tmp_path / "yfinance-financials"
    folder.mkdir()
    pdf.to_csv(folder / "AAPL.cash_flow.csv")
    (tmp_path / "yfinance-info").mkdir()
    (tmp_path / "yfinance-info" / "AAPL.json.gz").write_bytes(gzip.compress(b'{"quoteType": "EQUITY"}'))

    replayed = read_replay_financials(tmp_path, "AAPL")

    assert replayed is not None
    assert replayed.equals(live)
    assert live.height == 4  # the two missing cells are dropped
    assert read_replay_financials(tmp_path, "MSFT") is None
    assert read_replay_info(tmp_path, "AAPL") == {"quoteType": "EQUITY"}
    assert read_replay_info(tmp_path, "MSFT") is None


def test_unknown_statement_is_rejected() -> None:
    with pytest.raises(ValueError):
        statement_to_long("AAPL", "cashflow", pd.DataFrame())


def test_unreachable_classification() -> None:
    assert is_unreachable(requests.exceptions.ConnectionError("refused"))
    assert not is_unreachable(requests.exceptions.ConnectTimeout("slow"))
    assert is_timeout(requests.exceptions.ReadTimeout("slow"))
