"""SEC adapter: the real requests code against recorded bodies, replay reading and parsing."""

from __future__ import annotations

import gzip
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
import requests
import responses

from assets.sources.errors import SourceConfigError, SourceError, SourceUnavailable
from assets.sources.sample_sec import sample_companyfacts
from assets.sources.sec import (
    COMPANYFACTS_URL,
    RAW_SEC_FACTS_SCHEMA,
    SecClient,
    load_capex_concepts,
    load_include_intangibles,
    parse_companyfacts,
    read_replay_companyfacts,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sec"
UA = "chinatech-warehouse tests@example.com"
APPLE, ALPHABET, NVIDIA, ALIBABA, BILIBILI, LPA = 320193, 1652044, 1045810, 1577552, 1723690, 1997711
URL = COMPANYFACTS_URL.format(cik=BILIBILI)


@pytest.fixture()
def recorded_body(replay_dir: Path) -> bytes:
    """Bilibili's recorded company-facts JSON, served as the HTTP body."""
    return gzip.decompress((replay_dir / "sec-companyfacts" / "CIK0001723690.json.gz").read_bytes())


def _client(tmp_path: Path, **kwargs) -> tuple[SecClient, list[float]]:
    sleeps: list[float] = []
    client = SecClient(UA, tmp_path / "cache", max_per_second=0, sleep=sleeps.append, **kwargs)
    return client, sleeps


# --- construction ---------------------------------------------------------------------------


@pytest.mark.parametrize("ua", ["", "   ", "chinatech-warehouse", "python-requests/2.32"])
def test_refuses_without_contact_user_agent(tmp_path: Path, ua: str) -> None:
    with pytest.raises(SourceConfigError, match="CHINATECH_SEC_USER_AGENT"):
        SecClient(ua, tmp_path)


# --- HTTP behaviour against recorded bodies ---------------------------------------------------


@responses.activate
def test_sends_user_agent_and_caches(tmp_path: Path, recorded_body: bytes) -> None:
    responses.get(URL, body=recorded_body, status=200, content_type="application/json")
    client, _ = _client(tmp_path)
    doc = client.companyfacts(BILIBILI)
    assert doc["entityName"] == "BILIBILI INC."
    assert len(responses.calls) == 1
    assert responses.calls[0].request.headers["User-Agent"] == UA
    cached = tmp_path / "cache" / "CIK0001723690.json.gz"
    assert json.loads(gzip.decompress(cached.read_bytes())) == doc
    # second call: served from the cache, no HTTP
    assert client.companyfacts(BILIBILI) == doc
    assert len(responses.calls) == 1


@responses.activate
def test_stale_cache_is_refetched(tmp_path: Path, recorded_body: bytes) -> None:
    responses.get(URL, body=recorded_body, status=200)
    client, _ = _client(tmp_path, cache_ttl_hours=1)
    client.companyfacts(BILIBILI)
    old = time.time() - 2 * 3600
    os.utime(client.cache_path(BILIBILI), (old, old))
    client.companyfacts(BILIBILI)
    assert len(responses.calls) == 2


@responses.activate
def test_retries_429_then_succeeds(tmp_path: Path, recorded_body: bytes) -> None:
    responses.get(URL, status=429)
    responses.get(URL, status=503)
    responses.get(URL, body=recorded_body, status=200)
    client, sleeps = _client(tmp_path)
    assert client.companyfacts(BILIBILI)["cik"] == BILIBILI
    assert len(responses.calls) == 3
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0]  # backoff, via the injected sleep


@responses.activate
def test_retries_timeouts_then_gives_up_as_source_error(tmp_path: Path) -> None:
    responses.get(URL, body=requests.ReadTimeout("slow"))
    client, sleeps = _client(tmp_path, attempts=3)
    with pytest.raises(SourceError, match="CIK0001723690") as err:
        client.companyfacts(BILIBILI)
    assert "3 attempts" in err.value.problem
    assert len(responses.calls) == 3 and len(sleeps) == 2


@responses.activate
def test_404_is_source_error_naming_cik(tmp_path: Path) -> None:
    responses.get(URL, status=404, json={"message": "Not Found"})
    client, sleeps = _client(tmp_path)
    with pytest.raises(SourceError) as err:
        client.companyfacts(BILIBILI)
    assert err.value.key == "CIK0001723690" and "404" in err.value.problem
    assert len(responses.calls) == 1 and sleeps == []


@responses.activate
def test_bad_json_is_source_error_and_not_cached(tmp_path: Path) -> None:
    responses.get(URL, body=b"<html>rate limited</html>", status=200)
    client, _ = _client(tmp_path)
    with pytest.raises(SourceError, match=r"CIK0001723690.*not valid JSON"):
        client.companyfacts(BILIBILI)
    assert not client.cache_path(BILIBILI).exists()


@responses.activate
def test_connection_error_fails_fast(tmp_path: Path) -> None:
    responses.get(URL, body=requests.ConnectionError("Name or service not known"))
    client, sleeps = _client(tmp_path)
    started = time.monotonic()
    with pytest.raises(SourceUnavailable, match="CIK0001723690"):
        client.companyfacts(BILIBILI)
    assert time.monotonic() - started < 1.0
    assert len(responses.calls) == 1 and sleeps == []


# --- replay and parsing -----------------------------------------------------------------------


def test_read_replay_absent_is_none(tmp_path: Path, replay_dir: Path) -> None:
    assert read_replay_companyfacts(tmp_path, APPLE) is None
    assert read_replay_companyfacts(replay_dir, 1) is None


def _recorded_copy(tmp_path: Path, cik_file: str, data: bytes) -> Path:
    """A (damaged) copy of a recorded company-facts file in a replay folder under tmp_path."""
    target = tmp_path / "sec-companyfacts" / cik_file
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


def test_read_replay_truncated_gzip_is_source_error_naming_cik_and_file(replay_dir: Path, tmp_path: Path) -> None:
    whole = (replay_dir / "sec-companyfacts" / "CIK0000320193.json.gz").read_bytes()
    path = _recorded_copy(tmp_path, "CIK0000320193.json.gz", whole[: len(whole) // 2])
    with pytest.raises(EOFError):  # what the bare gzip module raises: it used to escape
        gzip.decompress(path.read_bytes())

    with pytest.raises(SourceError) as err:
        read_replay_companyfacts(tmp_path, APPLE)

    assert err.value.key == "CIK0000320193"
    assert str(path) in err.value.problem
    assert "truncated or not gzip / not JSON" in err.value.problem
    assert "EOFError" in err.value.problem


@pytest.mark.parametrize(
    ("name", "make"),
    [
        # a gzip cut inside its header, plain text under a .gz name, gzip of a cut JSON body,
        # a cut plain .json, bytes that are not UTF-8, and JSON that is not an object
        ("CIK0000320193.json.gz", lambda whole: whole[:5]),
        ("CIK0000320193.json.gz", lambda whole: gzip.decompress(whole)[:1000]),
        ("CIK0000320193.json.gz", lambda whole: gzip.compress(gzip.decompress(whole)[:1000])),
        ("CIK0000320193.json", lambda whole: gzip.decompress(whole)[:1000]),
        ("CIK0000320193.json", lambda whole: b"\xff\xfe" + gzip.decompress(whole)[:100]),
        ("CIK0000320193.json", lambda whole: b"[1, 2]"),
    ],
)
def test_read_replay_unreadable_files_are_source_errors(
    replay_dir: Path, tmp_path: Path, name: str, make: Callable[[bytes], bytes]
) -> None:
    whole = (replay_dir / "sec-companyfacts" / "CIK0000320193.json.gz").read_bytes()
    path = _recorded_copy(tmp_path, name, make(whole))
    with pytest.raises(SourceError) as err:
        read_replay_companyfacts(tmp_path, APPLE)
    assert err.value.key == "CIK0000320193" and str(path) in err.value.problem


def test_read_replay_one_bad_filer_does_not_hide_the_others(replay_dir: Path, tmp_path: Path) -> None:
    whole = (replay_dir / "sec-companyfacts" / "CIK0001723690.json.gz").read_bytes()
    _recorded_copy(tmp_path, "CIK0001723690.json.gz", whole)
    _recorded_copy(tmp_path, "CIK0000320193.json.gz", whole[:-100])
    results: dict[int, str] = {}
    for cik in (APPLE, BILIBILI):
        try:
            results[cik] = read_replay_companyfacts(tmp_path, cik)["entityName"]
        except SourceError as exc:
            results[cik] = exc.key
    assert results == {APPLE: "CIK0000320193", BILIBILI: "BILIBILI INC."}


def test_parse_real_files_schema_and_counts(replay_dir: Path) -> None:
    for cik, n_facts in [(APPLE, 24579), (NVIDIA, 26903), (ALIBABA, 5332), (BILIBILI, 1679)]:
        df = parse_companyfacts(read_replay_companyfacts(replay_dir, cik), "replay")
        assert df.schema == pl.Schema(RAW_SEC_FACTS_SCHEMA)
        assert df.height == n_facts
        assert df["cik"].unique().to_list() == [cik]
    apple = parse_companyfacts(read_replay_companyfacts(replay_dir, APPLE), "replay")
    assert set(apple["taxonomy"].unique()) == {"dei", "us-gaap"}
    instants = apple.filter(pl.col("period_start").is_null())
    assert instants.height > 0 and instants["period_end"].null_count() == 0
    assert apple["fiscal_year"].null_count() > 0  # 8-K facts without fy are kept, as null
    assert apple["frame"].null_count() > 0


def test_parse_every_taxonomy(replay_dir: Path) -> None:
    nvda = parse_companyfacts(read_replay_companyfacts(replay_dir, NVIDIA), "replay")
    assert {"dei", "us-gaap", "srt", "ecd", "ffd", "invest"} <= set(nvda["taxonomy"].unique())


def test_parse_reshaped_ifrs_file(replay_dir: Path) -> None:
    doc = read_replay_companyfacts(replay_dir, LPA)
    assert doc is not None and isinstance(doc["cik"], str)
    df = parse_companyfacts(doc, "replay")
    assert df["cik"].unique().to_list() == [LPA]
    assert "ifrs-full" in set(df["taxonomy"])
    assert {"USD", "COP", "CRC", "PEN"} <= set(df["unit"])
    ppe = df.filter(pl.col("concept") == "PurchaseOfPropertyPlantAndEquipmentClassifiedAsInvestingActivities")
    assert ppe.height == 6


def test_parse_is_fast_on_the_biggest_file(replay_dir: Path) -> None:
    doc = read_replay_companyfacts(replay_dir, NVIDIA)
    facts = doc["facts"]["us-gaap"]
    # scale to ~10^5 facts by repeating concepts under new names
    big = {"cik": NVIDIA, "entityName": "x", "facts": {f"t{i}": facts for i in range(4)}}
    started = time.perf_counter()
    df = parse_companyfacts(big, "replay")
    assert df.height > 90_000
    assert time.perf_counter() - started < 5.0


def test_parse_without_facts_names_cik() -> None:
    with pytest.raises(SourceError, match="CIK0001329099"):
        parse_companyfacts({"cik": 1329099, "entityName": "x", "facts": {}}, "live")
    with pytest.raises(SourceError, match="CIK0001329099"):
        parse_companyfacts({"cik": "0001329099", "facts": {"us-gaap": {"X": {"units": {}}}}}, "live")


def test_parse_synthetic_fixtures() -> None:
    for path in sorted(FIXTURES.glob("CIK*.synthetic.json")):
        doc = json.loads(path.read_text())
        df = parse_companyfacts(doc, "fixture")
        assert df.height > 0 and df["source"].unique().to_list() == ["fixture"]
        assert {"20-F", "6-K"} <= set(df["form"])
        assert {"CNY", "USD"} <= set(df["unit"])
        if "1329099" in path.name:
            assert "20-F/A" in set(df["form"])


# --- synthetic sample source ------------------------------------------------------------------


def test_sample_is_deterministic_and_real_shaped() -> None:
    a = sample_companyfacts(1577552, "Alibaba (sample)", "CNY", seed=7, fiscal_year_end_month=3)
    assert a == sample_companyfacts(1577552, "Alibaba (sample)", "CNY", seed=7, fiscal_year_end_month=3)
    assert a != sample_companyfacts(1577552, "Alibaba (sample)", "CNY", seed=8, fiscal_year_end_month=3)
    df = parse_companyfacts(a, "sample")
    capex = df.filter(pl.col("concept") == "PaymentsToAcquirePropertyPlantAndEquipment")
    assert {"20-F", "20-F/A", "6-K"} <= set(capex["form"])
    assert "10-K" not in set(df["form"])
    assert {"CNY", "USD"} <= set(capex["unit"])
    # USD translation shares concept and accession with a CNY fact of the same period
    usd = capex.filter(pl.col("unit") == "USD").select("accn", "period_start", "period_end")
    cny = capex.filter(pl.col("unit") == "CNY").select("accn", "period_start", "period_end")
    assert usd.join(cny, on=usd.columns, how="anti").height == 0
    # annual periods repeated by later filings; frame only on one duplicate
    annual = capex.filter(
        (pl.col("unit") == "CNY") & ((pl.col("period_end") - pl.col("period_start")).dt.total_days() > 300)
    )
    per_period = annual.group_by("period_start", "period_end").agg(
        pl.len().alias("n"), pl.col("frame").is_not_null().sum().alias("framed")
    )
    assert per_period["n"].max() >= 3
    assert per_period["framed"].to_list() == [1] * per_period.height
    assert set(annual["period_end"].dt.month()) == {3}


def test_sample_usd_filer_uses_10k() -> None:
    df = parse_companyfacts(sample_companyfacts(320193, "Apple (sample)", "USD", seed=1), "sample")
    assert {"10-K", "10-K/A", "10-Q"} <= set(df["form"])
    assert set(df.filter(pl.col("unit") != "shares")["unit"]) == {"USD"}


# --- shipped data files -----------------------------------------------------------------------


def test_capex_concepts_file() -> None:
    concepts = load_capex_concepts()
    assert set(concepts["kind"]) == {"ppe", "intangible"}
    assert concepts.select("taxonomy", "concept").is_duplicated().sum() == 0
    us = dict(
        concepts.filter((pl.col("taxonomy") == "us-gaap") & (pl.col("kind") == "ppe"))
        .select("concept", "priority")
        .iter_rows()
    )
    assert us["PaymentsToAcquirePropertyPlantAndEquipment"] == 1
    assert us["PaymentsToAcquireProductiveAssets"] == 2
    assert us["PaymentsToAcquireOtherPropertyPlantAndEquipment"] == 3
    assert concepts["note"].null_count() == 0
    assert load_include_intangibles().columns == ["cik", "reason"]
