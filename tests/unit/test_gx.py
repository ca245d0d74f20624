"""Every great-expectations expectation fails on input shaped like real data, and passes on the real data.

Each case builds the frames an asset audits (staged rows and their profiles) from the recorded
files in ../shared/data where they hold the fault, or from rows shaped like Yahoo's and the SEC's
answers where they do not. GX is slow to import, so its context is built once per module.
"""

from __future__ import annotations

import functools
import gzip
import json
import threading
import tomllib
import types
from collections.abc import Callable
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from assets.quality.gx import SUITES_FILE, load_suite, validate
from assets.quality.profiles import (
    flagged_share_profile,
    freshness_profile,
    history_profile,
    recency_profile,
    returns_profile,
    snapshot_price_profile,
)
from assets.sources.replay import ReplayPrices
from assets.sources.sec import parse_companyfacts, read_replay_companyfacts
from assets.transforms.prices import build_core
from assets.universe import load_universe
from tests.unit.gx_mart_cases import MART_CASES

TODAY = date(2026, 8, 21)
Frames = dict[str, pl.DataFrame]


@pytest.fixture(scope="module", autouse=True)
def gx_context() -> None:
    from assets.quality import gx

    gx._context()


@pytest.fixture(scope="module")
def universe() -> pl.DataFrame:
    return load_universe()


def _core(replay_dir: Path, universe: pl.DataFrame, tickers: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Recorded bars through the real replay reader and build_core: (raw rows, core rows)."""
    fetch = ReplayPrices(replay_dir).fetch_prices(universe.filter(pl.col("ticker").is_in(tickers)), {})
    core, _, _ = build_core(fetch.frame, universe, today=TODAY)
    return fetch.frame, core


def _held(core: pl.DataFrame) -> pl.DataFrame:
    return core.group_by("ticker").agg(
        pl.len().alias("rows"),
        pl.col("trade_date").min().alias("first_date"),
        pl.col("trade_date").max().alias("last_date"),
    )


def outcome(suite: str, name: str, frames: Frames, today: date = TODAY):
    (exp,) = [e for e in load_suite(suite) if e.name == name]
    (out,) = validate(frames, [exp], today=today)
    return out


# ---------------------------------------------------------------------------------------- cases
# name -> (suite, build failing frames, build passing frames, an id the failure must name)


def shrunk_history(replay_dir: Path, universe: pl.DataFrame) -> tuple[Frames, Frames, str]:
    """9888.HK held whole, then Yahoo answers period=max with its last 250 days only."""
    raw, core = _core(replay_dir, universe, ["9888.HK"])
    short = raw.sort("trade_date").tail(250)
    return (
        {"rows": short, "history": history_profile(short, _held(core), ["9888.HK"])},
        {"rows": raw, "history": history_profile(raw, _held(core), ["9888.HK"])},
        "9888.HK",
    )


def late_start(replay_dir: Path, universe: pl.DataFrame) -> tuple[Frames, Frames, str]:
    """A whole reload of 0700.HK that starts years later, though it is not much shorter in rows."""
    raw, core = _core(replay_dir, universe, ["0700.HK"])
    late = raw.filter(pl.col("trade_date") >= date(2005, 1, 1))
    held = _held(core).with_columns(pl.col("rows").clip(upper_bound=late.height))
    return (
        {"rows": late, "history": history_profile(late, held, ["0700.HK"])},
        {"rows": raw, "history": history_profile(raw, _held(core), ["0700.HK"])},
        "0700.HK",
    )


def missing_close(replay_dir: Path, universe: pl.DataFrame) -> tuple[Frames, Frames, str]:
    """Yahoo's empty cells on a day one listing did not trade (the download shape has them)."""
    raw, _ = _core(replay_dir, universe, ["9888.HK"])
    holed = raw.with_columns(
        pl.when(pl.col("trade_date") == date(2025, 9, 17)).then(None).otherwise(pl.col("close")).alias("close")
    )
    return {"rows": holed}, {"rows": raw}, "2025-09-17"


def stale_listing(replay_dir: Path, universe: pl.DataFrame) -> tuple[Frames, Frames, str]:
    """HKD=X's recorded history stops on 2024-12-06 while the listings run to 2026-08-21."""
    _, core = _core(replay_dir, universe, ["HKD=X", "0700.HK"])
    last = core.group_by("ticker").agg(pl.col("trade_date").max().alias("last_date"))
    fresh = last.filter(pl.col("ticker") == "0700.HK")
    return (
        {"freshness": freshness_profile(last, universe, TODAY)},
        {"freshness": freshness_profile(fresh, universe, TODAY)},
        "HKD=X",
    )


def outlier_return(replay_dir: Path, universe: pl.DataFrame) -> tuple[Frames, Frames, str]:
    """0241.HK (Alibaba Health) +372% on 2014-01-24: real, but beyond any robust bound, and no action."""
    _, core = _core(replay_dir, universe, ["0241.HK", "9888.HK"])
    hit = core.filter(pl.col("ticker") == "0241.HK")
    baidu = core.filter(pl.col("ticker") == "9888.HK")  # +15.7% on 2025-09-17 is news-sized
    return (
        {"returns": returns_profile(hit, hit)},
        {"returns": returns_profile(baidu, baidu)},
        "0241.HK",
    )


def degraded_feed(replay_dir: Path, universe: pl.DataFrame) -> tuple[Frames, Frames, str]:
    """Yahoo's adjusted CNY=X history: high/low contradict open/close on more than 5% of days."""
    raw, core = _core(replay_dir, universe, ["CNY=X", "0700.HK"])
    _, _, flags = build_core(raw, universe, today=TODAY)
    counts = core.group_by("ticker").agg(pl.len().alias("rows"))
    clean = flags.filter(pl.col("ticker") != "CNY=X")
    return (
        {"flagged_share": flagged_share_profile(flags, counts)},
        {"flagged_share": flagged_share_profile(clean, counts)},
        "CNY=X",
    )


def _fx_rows(replay_dir: Path, universe: pl.DataFrame, ticker: str) -> pl.DataFrame:
    from assets.transforms.fx import fx_daily_from_prices

    _, core = _core(replay_dir, universe, [ticker])
    return fx_daily_from_prices(core, universe)


def inverted_cny(replay_dir: Path, universe: pl.DataFrame) -> tuple[Frames, Frames, str]:
    """The last three CNY=X rates quoted the other way round (USD per CNY, 0.14)."""
    rates = _fx_rows(replay_dir, universe, "CNY=X").sort("trade_date")
    n = rates.height
    bad = rates.with_columns(
        pl.when(pl.int_range(pl.len()) >= n - 3).then(1 / pl.col("rate")).otherwise(pl.col("rate")).alias("rate")
    )
    return {"rows": bad}, {"rows": rates}, "CNY"


def hkd_unit_error(replay_dir: Path, universe: pl.DataFrame) -> tuple[Frames, Frames, str]:
    """One HKD=X bar 100x off (778 HKD per USD), Yahoo's classic unit fault."""
    rates = _fx_rows(replay_dir, universe, "HKD=X").sort("trade_date")
    bad = rates.with_columns(
        pl.when(pl.int_range(pl.len()) == 100).then(pl.col("rate") * 100).otherwise(pl.col("rate")).alias("rate")
    )
    return {"rows": bad}, {"rows": rates}, "HKD"


def info_without_market_cap(replay_dir: Path, universe: pl.DataFrame) -> tuple[Frames, Frames, str]:
    """A recorded BABA quoteSummary whose summaryDetail carries no marketCap (older answers lack it)."""
    path = sorted((replay_dir / "yahoo-http").glob("*quoteSummary*BABA*"))[0]
    raw = path.read_bytes()
    body = json.loads(gzip.decompress(raw) if path.suffix == ".gz" else raw)
    modules = body["response"]["bodyJson"]["quoteSummary"]["result"][0]
    cap = (modules.get("summaryDetail") or {}).get("marketCap") or (modules.get("price") or {}).get("marketCap")
    cap = cap.get("raw") if isinstance(cap, dict) else cap
    good = pl.DataFrame({"ticker": ["BABA"], "market_cap": [float(cap)]})
    bad = pl.DataFrame({"ticker": ["BABA", "9999.HK"], "market_cap": [float(cap), None]})
    return {"info": bad}, {"info": good}, "9999.HK"


def price_in_pence(replay_dir: Path, universe: pl.DataFrame) -> tuple[Frames, Frames, str]:
    """.info quoting a London line in pounds while core holds pence (Yahoo's GBp/GBP switch)."""
    closes = pl.DataFrame({"ticker": ["HSBA.L", "0700.HK"], "close": [1014.5, 599.0]})
    bad = pl.DataFrame({"ticker": ["HSBA.L", "0700.HK"], "price": [10.145, 601.0]})
    good = pl.DataFrame({"ticker": ["HSBA.L", "0700.HK"], "price": [1016.0, 601.0]})
    return (
        {"price_gap": snapshot_price_profile(bad, closes)},
        {"price_gap": snapshot_price_profile(good, closes)},
        "HSBA.L",
    )


def no_financial_currency(replay_dir: Path, universe: pl.DataFrame) -> tuple[Frames, Frames, str]:
    """Yahoo's .info for a newly listed line sometimes has no financialCurrency."""
    good = pl.DataFrame({"ticker": ["BABA", "0700.HK"], "financial_currency": ["CNY", "CNY"]})
    bad = good.with_columns(
        pl.when(pl.col("ticker") == "0700.HK")
        .then(None)
        .otherwise(pl.col("financial_currency"))
        .alias("financial_currency")
    )
    return {"rows": bad}, {"rows": good}, "0700.HK"


def stale_statements(replay_dir: Path, universe: pl.DataFrame) -> tuple[Frames, Frames, str]:
    """Yahoo's annual statements for a delisted line stopped at fiscal 2021."""
    frame = pl.DataFrame(
        {
            "ticker": ["AAPL", "AAPL", "OLD"],
            "fiscal_period_end": [date(2024, 9, 28), date(2025, 9, 27), date(2021, 3, 31)],
        }
    )
    return (
        {"recency": recency_profile(frame, "ticker", "fiscal_period_end", TODAY)},
        {"recency": recency_profile(frame.filter(pl.col("ticker") == "AAPL"), "ticker", "fiscal_period_end", TODAY)},
        "OLD",
    )


def statements_without_currency(replay_dir: Path, universe: pl.DataFrame) -> tuple[Frames, Frames, str]:
    good = pl.DataFrame({"ticker": ["AAPL"], "fiscal_period_end": [date(2025, 9, 27)], "currency": ["USD"]})
    bad = pl.concat(
        [good, pl.DataFrame({"ticker": ["3690.HK"], "fiscal_period_end": [date(2025, 12, 31)], "currency": [None]})],
        how="vertical_relaxed",
    )
    return {"rows": bad}, {"rows": good}, "3690.HK"


def stale_filings(replay_dir: Path, universe: pl.DataFrame) -> tuple[Frames, Frames, str]:
    """The recorded Alibaba company facts end with fiscal 2020 filings; NVIDIA's are recent."""
    baba = parse_companyfacts(read_replay_companyfacts(replay_dir, 1577552), "replay")
    nvda = parse_companyfacts(read_replay_companyfacts(replay_dir, 1045810), "replay")
    as_of = nvda["filed"].max() + (date(2026, 1, 1) - date(2025, 12, 1))
    both = pl.concat([baba, nvda])
    return (
        {"recency": recency_profile(both, "cik", "filed", as_of)},
        {"recency": recency_profile(nvda, "cik", "filed", as_of)},
        "1577552",
    )


def capex_without_fx(replay_dir: Path, universe: pl.DataFrame) -> tuple[Frames, Frames, str]:
    """A 20-F filer reporting in TWD, a currency with no FX series here: no USD value."""
    good = pl.DataFrame({"ticker": ["BABA"], "fiscal_year": [2020], "currency": ["CNY"], "capex_usd": [3.483e9]})
    bad = pl.concat(
        [good, pl.DataFrame({"ticker": ["TSM"], "fiscal_year": [2020], "currency": ["TWD"], "capex_usd": [None]})],
        how="vertical_relaxed",
    )
    return {"rows": bad}, {"rows": good}, "TSM"


CASES: dict[str, tuple[str, Callable[[Path, pl.DataFrame], tuple[Frames, Frames, str]]]] = {
    "history_not_shrunk": ("raw_prices_daily", shrunk_history),
    "history_start_kept": ("raw_prices_daily", late_start),
    "close_present": ("raw_prices_daily", missing_close),
    "fresh_against_calendar": ("prices_daily", stale_listing),
    "returns_within_robust_bound": ("prices_daily", outlier_return),
    "flagged_share_below_5pct": ("price_anomalies", degraded_feed),
    "cny_rate_plausible": ("fx_daily", inverted_cny),
    "hkd_rate_plausible": ("fx_daily", hkd_unit_error),
    "market_cap_reported": ("raw_fundamentals_info", info_without_market_cap),
    "price_matches_last_close": ("fundamentals_snapshot", price_in_pence),
    "financial_currency_present": ("fundamentals_snapshot", no_financial_currency),
    "latest_statement_recent": ("financials_annual", stale_statements),
    "currency_known": ("financials_annual", statements_without_currency),
    "filings_recent": ("raw_sec_facts", stale_filings),
    "usd_converted": ("capex", capex_without_fx),
}
CASES.update(MART_CASES)  # the marts' expectations (tests/unit/gx_mart_cases.py)


def test_every_expectation_has_a_failing_case() -> None:
    with SUITES_FILE.open("rb") as fh:
        suites = tomllib.load(fh)
    declared = {(suite, e["name"]) for suite, exps in suites.items() for e in exps}
    assert declared == {(suite, name) for name, (suite, _) in CASES.items()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_expectation_fails_on_real_shaped_input_and_names_the_row(name, replay_dir, universe) -> None:
    suite, build = CASES[name]
    failing, passing, culprit = build(replay_dir, universe)
    bad = outcome(suite, name, failing)
    assert not bad.passed, bad
    assert bad.unexpected_count >= 1
    assert culprit in json.dumps(bad.offending, default=str), bad.offending
    good = outcome(suite, name, passing)
    assert good.passed, good


def test_blocking_expectations_are_few_and_named() -> None:
    blocking = {
        e.name
        for suite in ("raw_prices_daily", "prices_daily", "fx_daily", "capex")
        for e in load_suite(suite)
        if e.severity == "ERROR"
    }
    assert blocking == {"history_not_shrunk", "history_start_kept", "cny_rate_plausible", "hkd_rate_plausible"}


def test_every_expectation_says_what_it_checks_in_words(tmp_path) -> None:
    for suite in ("raw_prices_daily", "prices_daily", "capex"):
        assert all(len(e.description.split()) >= 6 and "{" not in e.description for e in load_suite(suite))
    bad = tmp_path / "suites.toml"
    bad.write_text('[[x]]\nname = "n"\nexpectation = "ExpectColumnValuesToNotBeNull"\nkwargs = { column = "a" }\n')
    with pytest.raises(ValueError, match="no description"):
        load_suite("x", bad)


def test_an_empty_frame_passes_and_says_so() -> None:
    (exp,) = [e for e in load_suite("capex") if e.name == "usd_converted"]
    (out,) = validate({"rows": pl.DataFrame(schema={"capex_usd": pl.Float64})}, [exp])
    assert out.passed and json.loads(out.observed) == {"rows": 0}


def test_unknown_suite_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        load_suite("no_such_table")


def test_an_expectation_without_ids_names_offending_rows_by_position() -> None:
    from assets.quality.gx import Expectation

    exp = Expectation(
        name="close_positive",
        expectation="ExpectColumnValuesToBeBetween",
        severity="WARN",
        kwargs={"column": "close", "min_value": 0},
        description="no ids: GX names rows by position",
    )
    (outcome,) = validate(pl.DataFrame({"close": [1.0, -2.0, 3.0, -4.0]}), [exp], today=TODAY)
    assert not outcome.passed and outcome.unexpected_count == 2
    assert outcome.offending == [{"row": 1}, {"row": 3}]


def _warm_up_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "gx-warm-up"]


def test_warm_up_builds_the_context_once_in_the_background(monkeypatch: pytest.MonkeyPatch) -> None:
    from assets.quality import gx

    built = []
    real = gx._build_context.__wrapped__

    @functools.lru_cache(maxsize=1)
    def counted() -> object:
        built.append(threading.current_thread().name)
        return real()

    monkeypatch.setattr(gx, "_build_context", counted)
    gx.warm_up()
    for thread in _warm_up_threads():
        thread.join(timeout=120)
    assert built == ["gx-warm-up"]
    assert gx._context() is counted()  # the step gets the context the thread built
    gx.warm_up()  # built already: no second thread, no second build
    assert not _warm_up_threads() and built == ["gx-warm-up"]


def test_prepare_audit_loads_gx_only_for_a_run_with_the_suites_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    import dagster as dg

    from assets.quality import checks

    started = []
    monkeypatch.setattr(checks, "warm_up", lambda: started.append(True))
    key = dg.AssetKey(["raw", "prices_daily"])
    name = load_suite("raw_prices_daily")[0].name
    without = types.SimpleNamespace(selected_asset_check_keys=set())
    checks.prepare_audit("raw_prices_daily", without, key)  # type: ignore[arg-type]
    assert started == []
    with_one = types.SimpleNamespace(selected_asset_check_keys={dg.AssetCheckKey(key, name)})
    checks.prepare_audit("raw_prices_daily", with_one, key)  # type: ignore[arg-type]
    assert started == [True]
