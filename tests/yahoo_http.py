"""Yahoo Finance over HTTP as yfinance meets it, served by ``responses`` from recorded bodies.

Shared by the adapter tests (tests/unit/test_yahoo_retry.py) and the fault matrix, which runs
the same server under the real price assets: every test goes through yfinance's own code and
the session YahooPrices makes for itself.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import requests
import responses

CRUMB = "Kq9CZZ0Da8a"
CHART_FILES = {
    "BABA": "devel_chart-BABA-2020-01-01-to-2020-01-03.json.gz",
    "EURUSD=X": "devel_chart-EURUSDX-2020-01-01-to-2020-01-03.json.gz",
}
# Yahoo's answer when it rate-limits the chart API: status 429, a plain-text body
TOO_MANY = (429, {"Content-Type": "text/html;charset=utf-8"}, "Too Many Requests\r\n")
NOT_FOUND_CHART = {"chart": {"result": None, "error": {"code": "Not Found", "description": "No data found"}}}
NOT_FOUND_SUMMARY = {"quoteSummary": {"result": None, "error": {"code": "Not Found", "description": "Quote not found"}}}


class Yahoo:
    """Yahoo's endpoints as yfinance meets them; the chart answers per symbol from a script.

    ``charts[symbol]`` is the recorded body; a symbol without one gets Yahoo's 404.

    ``script[symbol]`` yields what to answer before the recorded body: ``TOO_MANY`` or an
    exception to raise (a timeout). ``hits`` records every chart request as
    ``(symbol, "tz" | "history", status or exception name)``.
    """

    def __init__(self, rsps: responses.RequestsMock, charts: dict[str, dict]) -> None:
        self.rsps = rsps
        self.charts = charts
        self.script: dict[str, Iterator[object]] = {}
        self.hits: list[tuple[str, str, int | str]] = []
        # the cookie page: a 404 that sets Yahoo's A3 cookie (yfinance keeps it in its cookie cache)
        rsps.add(
            responses.GET,
            "https://fc.yahoo.com/",
            status=404,
            body="<html>Not Found</html>",
            headers={"Set-Cookie": "A3=d=AQABBFAKE; Expires=Wed, 01 Jan 2031 00:00:00 GMT; Domain=.yahoo.com; Path=/"},
        )
        # tried after a refused request (yfinance's "csrf" cookie strategy): a page without the
        # consent form sends yfinance back to the fc.yahoo.com cookie and a fresh crumb
        rsps.add(responses.GET, "https://guce.yahoo.com/consent", status=404, body="")
        for host in ("query1", "query2"):
            rsps.add(responses.GET, f"https://{host}.finance.yahoo.com/v1/test/getcrumb", body=CRUMB)
            rsps.add_callback(
                responses.GET,
                re.compile(rf"https://{host}\.finance\.yahoo\.com/v8/finance/chart/[^?]+(\?.*)?"),
                callback=self._chart,
            )
            rsps.add(
                responses.GET,
                re.compile(rf"https://{host}\.finance\.yahoo\.com/v10/finance/quoteSummary/.*"),
                status=404,
                json=NOT_FOUND_SUMMARY,
            )

    def _chart(self, request: requests.PreparedRequest) -> tuple[int, dict, str] | Exception:
        url = urlsplit(request.url)
        symbol = unquote(url.path.rsplit("/", 1)[-1])
        kind = "tz" if parse_qs(url.query).get("range") == ["1d"] else "history"
        answer = next(self.script.get(symbol, iter(())), None)
        if isinstance(answer, Exception):
            self.hits.append((symbol, kind, type(answer).__name__))
            return answer
        if answer is not None:
            self.hits.append((symbol, kind, answer[0]))
            return answer
        headers = {"Content-Type": "application/json;charset=utf-8"}
        if symbol not in self.charts:  # Yahoo's answer for a symbol it does not know
            self.hits.append((symbol, kind, 404))
            return 404, headers, json.dumps(NOT_FOUND_CHART)
        self.hits.append((symbol, kind, 200))
        return 200, headers, json.dumps(self.charts[symbol])

    def chart_hits(self, symbol: str) -> list[tuple[str, int | str]]:
        return [(kind, status) for sym, kind, status in self.hits if sym == symbol]

    def urls(self) -> list[str]:
        return [call.request.url for call in self.rsps.calls]


def recorded_chart(replay_dir: Path, symbol: str) -> dict:
    with gzip.open(replay_dir / "yahoo-http" / CHART_FILES[symbol], "rt") as f:
        return json.load(f)["response"]["bodyJson"]


# yfinance's tz and cookie cache objects keep the database they first opened: the yf_cache
# fixture's set_tz_cache_location does not reach them once used in this process, so entries
# this module relies on are set or deleted (store(..., None)) explicitly, before and after.


def set_cached_timezone(symbol: str, zone: str | None) -> None:
    """Known timezone (as after a first run) or none (the first run: yfinance looks it up)."""
    from yfinance import cache

    cache.get_tz_cache().store(symbol, zone)


def forget_cookie() -> None:
    from yfinance import cache

    cache.get_cookie_cache().store("curlCffi", None)
