"""The report opened in headless Chromium, offline: the charts render as SVG marks and a screenshot is taken.

Needs Debian's ``chromium`` package (``apt-get update && apt-get install -y chromium``);
skips with that reason when /usr/bin/chromium is absent. Network is off for the browser
(background networking disabled and every request sent to a dead proxy), so a chart that
needed a CDN would not render.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from assets.report import report_folder

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--proxy-server=http://127.0.0.1:9",  # nothing listens there: any network request fails
    "--proxy-bypass-list=<-loopback>",
]


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.skip("headless Chromium not installed: apt-get update && apt-get install -y chromium")
    return CHROMIUM


def _run(chromium: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(chromium), *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=20000", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _open_report(chromium: Path, warehouse: Path, tmp_path: Path) -> tuple[str, Path, Path]:
    """(rendered DOM, screenshot path, report path) of the report of a built warehouse."""
    page = report_folder(warehouse) / "index.html"
    assert page.exists(), f"no report at {page}"
    dom = _run(chromium, tmp_path / "profile-dom", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    shot = tmp_path / "screenshot.png"
    taken = _run(chromium, tmp_path / "profile-shot", "--window-size=1280,4200", f"--screenshot={shot}", page.as_uri())
    assert taken.returncode == 0, taken.stderr[-2000:]
    return dom.stdout, shot, page


def _marks(dom: str) -> dict[str, int]:
    return {k: dom.count(k) for k in ("mark-line", "mark-rect", "mark-text")}


def _charts(dom: str) -> int:
    """Rendered Vega SVGs: a root <svg class="marks"> per chart that was drawn."""
    return len(re.findall(r'<svg[^>]*class="marks"', dom))


def test_replay_report_renders_offline(chromium: Path, replay_run, tmp_path: Path) -> None:
    assert replay_run.result.success
    dom, shot, _ = _open_report(chromium, replay_run.warehouse, tmp_path)
    # basket vs US indexes, members ranking, capex by year; the ADR chart has no data in replay and says so
    assert _charts(dom) == 3
    marks = _marks(dom)
    assert marks["mark-line"] >= 1 and marks["mark-rect"] >= 2
    # axis labels drawn inside the SVG, not just present in the embedded spec
    assert re.search(r"<text[^>]*>HSTECH_BASKET</text>", dom)
    assert re.search(r"<text[^>]*>9888\.HK\s+Baidu</text>", dom)
    assert "Nothing to draw: no ADR prices in this warehouse" in dom
    assert 'id="scorecard"' in dom and "confirmed" in dom and "not verifiable" in dom
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 100_000  # a blank page compresses to a few kB


def test_sample_report_renders_every_chart_and_says_sample(chromium: Path, sample_run, tmp_path: Path) -> None:
    assert sample_run.result.success
    dom, shot, _ = _open_report(chromium, sample_run.warehouse, tmp_path)
    assert _charts(dom) == 4  # the sample has ADR prices: all four charts
    assert _marks(dom)["mark-line"] >= 2
    assert "SAMPLE DATA" in dom
    assert shot.stat().st_size > 100_000
