"""SEC EDGAR XBRL "company facts" adapter: polite HTTP client, replay reader and a flat parser.

Dagster-free on purpose: assets call these functions, tests call them directly.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import requests

from assets.sources.errors import SourceConfigError, SourceError, SourceUnavailable
from assets.sources.throttle import RateLimiter, RetryableError, with_retries

log = logging.getLogger(__name__)

COMPANYFACTS_URL = "https://data.sec.gov/api/xbrl/companyfacts/CIK{cik:010d}.json"
USER_AGENT_ENV = "CHINATECH_SEC_USER_AGENT"
REPLAY_FOLDERS = ("sec-companyfacts", "sec-companyfacts-reshaped")
_ASSETS = Path(__file__).resolve().parents[1]
CAPEX_CONCEPTS_CSV = _ASSETS / "capex_concepts.csv"
CAPEX_INCLUDE_INTANGIBLES_CSV = _ASSETS / "capex_include_intangibles.csv"

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")

RAW_SEC_FACTS_SCHEMA: dict[str, pl.DataType] = {
    "cik": pl.Int64(),
    "entity_name": pl.String(),
    "taxonomy": pl.String(),
    "concept": pl.String(),
    "unit": pl.String(),
    "period_start": pl.Date(),
    "period_end": pl.Date(),
    "value": pl.Float64(),
    "accn": pl.String(),
    "fiscal_year": pl.Int64(),
    "fiscal_period": pl.String(),
    "form": pl.String(),
    "filed": pl.Date(),
    "frame": pl.String(),
    "source": pl.String(),
}

CAPEX_CONCEPTS_SCHEMA = {
    "taxonomy": pl.String,
    "concept": pl.String,
    "priority": pl.Int64,
    "kind": pl.String,
    "note": pl.String,
}


def cik_key(cik: int) -> str:
    """The zero-padded form the SEC uses in URLs and file names (CIK0000320193)."""
    return f"CIK{int(cik):010d}"


class SecClient:
    """Fetches company facts under SEC fair-access rules: identified, paced, retried, cached."""

    def __init__(
        self,
        user_agent: str,
        cache_dir: Path,
        max_per_second: float = 10.0,
        session: requests.Session | None = None,
        cache_ttl_hours: float = 24.0,
        timeout: float = 30.0,
        *,
        attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        ua = (user_agent or "").strip()
        if not ua or not _EMAIL.search(ua):
            raise SourceConfigError(
                "SEC fair-access rules require a User-Agent with contact details (a name and an "
                f"e-mail address); got {user_agent!r}. Set {USER_AGENT_ENV}, e.g. "
                '"chinatech-warehouse you@example.com".'
            )
        self.user_agent = ua
        self.cache_dir = Path(cache_dir)
        self.cache_ttl_hours = cache_ttl_hours
        self.timeout = timeout
        self.attempts = attempts
        self._sleep = sleep
        self._limiter = RateLimiter(max_per_second)
        self._session = session or requests.Session()

    def cache_path(self, cik: int) -> Path:
        return self.cache_dir / f"{cik_key(cik)}.json.gz"

    def companyfacts(self, cik: int) -> dict:
        """The company-facts document for ``cik``: from a fresh cache file, else from the SEC."""
        key = cik_key(cik)
        cached = self._read_cache(cik)
        if cached is not None:
            return cached
        url = COMPANYFACTS_URL.format(cik=int(cik))
        try:
            body = with_retries(
                lambda: self._get(url, key),
                what=f"SEC companyfacts {key}",
                retry_on=(RetryableError,),
                attempts=self.attempts,
                sleep=self._sleep,
            )
        except RetryableError as exc:
            raise SourceError(key, f"gave up after {self.attempts} attempts: {exc}") from exc
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise SourceError(key, f"response from {url} is not valid JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise SourceError(key, f"response from {url} is not a JSON object")
        self._write_cache(cik, body)
        return doc

    def _get(self, url: str, key: str) -> bytes:
        self._limiter.wait()
        headers = {"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate"}
        try:
            resp = self._session.get(url, headers=headers, timeout=self.timeout)
        except requests.ConnectTimeout as exc:
            # A connect timeout means nothing answers at all: retrying only burns minutes.
            raise SourceUnavailable(f"{key}: cannot reach data.sec.gov ({exc})") from exc
        except requests.Timeout as exc:
            raise RetryableError(f"timed out after {self.timeout}s") from exc
        except requests.ConnectionError as exc:
            raise SourceUnavailable(f"{key}: cannot reach data.sec.gov ({exc})") from exc
        status = resp.status_code
        if status == 429 or status >= 500:
            raise RetryableError(f"HTTP {status}")
        if status == 404:
            raise SourceError(key, f"HTTP 404: the SEC has no XBRL company facts at {url}")
        if status != 200:
            raise SourceError(key, f"HTTP {status} from {url}")
        return resp.content

    def _read_cache(self, cik: int) -> dict | None:
        path = self.cache_path(cik)
        if not path.exists():
            return None
        age_hours = (time.time() - path.stat().st_mtime) / 3600
        if age_hours >= self.cache_ttl_hours:
            return None
        try:
            with gzip.open(path, "rb") as fh:
                return json.loads(fh.read())
        except (OSError, ValueError, EOFError):
            log.warning("ignoring unreadable SEC cache file %s", path)
            return None

    def _write_cache(self, cik: int, body: bytes) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        path = self.cache_path(cik)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(gzip.compress(body))
        tmp.replace(path)


def read_replay_companyfacts(replay_dir: Path, cik: int) -> dict | None:
    """A recorded company-facts document from the replay folder, or None when not recorded.

    An unreadable file (truncated or not gzip, not JSON, not an object) is a SourceError
    naming the CIK and the path, so the caller skips that filer instead of failing them all.
    """
    key = cik_key(cik)
    for folder in REPLAY_FOLDERS:
        for name in (f"{key}.json.gz", f"{key}.json"):
            path = Path(replay_dir) / folder / name
            if path.exists():
                return _read_companyfacts_file(path, key)
    return None


def _read_companyfacts_file(path: Path, key: str) -> dict:
    import zlib

    try:
        data = path.read_bytes()
        doc = json.loads(gzip.decompress(data) if path.name.endswith(".gz") else data)
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError, UnicodeDecodeError, ValueError) as exc:
        # ValueError covers json.JSONDecodeError; EOFError is what a cut-off gzip raises
        raise SourceError(key, f"{path}: truncated or not gzip / not JSON: {type(exc).__name__}: {exc}") from exc
    if not isinstance(doc, dict):
        raise SourceError(key, f"{path}: not a JSON object (got {type(doc).__name__})")
    return doc


def parse_companyfacts(doc: dict, source: str) -> pl.DataFrame:
    """Flatten every fact of every taxonomy into one row each (RAW_SEC_FACTS_SCHEMA).

    Column lists are built in one pass (no per-row frame work) so 10^5 facts take well
    under a second; dates are parsed once, vectorised.
    """
    raw_cik = doc.get("cik") if isinstance(doc, dict) else None
    try:
        cik = int(raw_cik) if raw_cik is not None else None
    except (TypeError, ValueError):
        cik = None
    key = cik_key(cik) if cik is not None else f"CIK?{raw_cik!r}"
    facts = doc.get("facts") if isinstance(doc, dict) else None
    if not isinstance(facts, dict) or not facts:
        raise SourceError(key, "company-facts document has no facts")
    entity = doc.get("entityName")

    cols: dict[str, list] = {k: [] for k in RAW_SEC_FACTS_SCHEMA if k not in ("cik", "entity_name", "source")}
    taxonomy, concept, unit = cols["taxonomy"], cols["concept"], cols["unit"]
    start, end, value, accn = cols["period_start"], cols["period_end"], cols["value"], cols["accn"]
    fy, fp, form, filed, frame = (
        cols["fiscal_year"],
        cols["fiscal_period"],
        cols["form"],
        cols["filed"],
        cols["frame"],
    )
    for tax, concepts in facts.items():
        for name, body in (concepts or {}).items():
            for unit_name, rows in ((body or {}).get("units") or {}).items():
                for f in rows:
                    taxonomy.append(tax)
                    concept.append(name)
                    unit.append(unit_name)
                    start.append(f.get("start"))
                    end.append(f.get("end"))
                    value.append(f.get("val"))
                    accn.append(f.get("accn"))
                    fy.append(f.get("fy"))
                    fp.append(f.get("fp"))
                    form.append(f.get("form"))
                    filed.append(f.get("filed"))
                    frame.append(f.get("frame"))
    n = len(taxonomy)
    if n == 0:
        raise SourceError(key, "company-facts document has no facts")

    def _dates(values: list) -> pl.Series:
        return pl.Series(values, dtype=pl.String).str.to_date("%Y-%m-%d", strict=True)

    def _floats(values: list) -> pl.Series:
        try:
            return pl.Series(values, dtype=pl.Float64, strict=False)
        except (TypeError, ValueError):
            return pl.Series([_to_float(v) for v in values], dtype=pl.Float64)

    def _ints(values: list) -> pl.Series:
        return pl.Series([_to_int(v) for v in values], dtype=pl.Int64)

    frame_df = pl.DataFrame(
        {
            "cik": pl.Series([cik] * n, dtype=pl.Int64),
            "entity_name": pl.Series([entity] * n, dtype=pl.String),
            "taxonomy": pl.Series(taxonomy, dtype=pl.String),
            "concept": pl.Series(concept, dtype=pl.String),
            "unit": pl.Series(unit, dtype=pl.String),
            "period_start": _dates(start),
            "period_end": _dates(end),
            "value": _floats(value),
            "accn": pl.Series(accn, dtype=pl.String),
            "fiscal_year": _ints(fy),
            "fiscal_period": pl.Series(fp, dtype=pl.String),
            "form": pl.Series(form, dtype=pl.String),
            "filed": _dates(filed),
            "frame": pl.Series(frame, dtype=pl.String),
            "source": pl.Series([source] * n, dtype=pl.String),
        }
    )
    return frame_df.select([pl.col(c).cast(t) for c, t in RAW_SEC_FACTS_SCHEMA.items()])


def _to_float(v: object) -> float | None:
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _to_int(v: object) -> int | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        return int(v)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def load_capex_concepts(path: Path | str = CAPEX_CONCEPTS_CSV) -> pl.DataFrame:
    """The capex concept list (taxonomy, concept, priority, kind, note) shipped with the assets."""
    return pl.read_csv(path, schema=CAPEX_CONCEPTS_SCHEMA)


def load_include_intangibles(path: Path | str = CAPEX_INCLUDE_INTANGIBLES_CSV) -> pl.DataFrame:
    """Companies whose own capex definition includes intangible purchases (cik, reason)."""
    return pl.read_csv(path, schema={"cik": pl.Int64, "reason": pl.String})
