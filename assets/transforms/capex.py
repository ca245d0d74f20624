"""Capital expenditure from SEC company facts (plus curated and yfinance fall-backs).

Pure Polars: no I/O, no Dagster. Decisions, each pinned by a unit test:

* Capex is purchases of PP&E: per (company, period_end, duration) the highest-priority ``ppe``
  concept of ``capex_concepts.csv`` that an annual (10-K/20-F/40-F, or /A) or quarterly
  (10-Q/6-K, or /A) form tagged for that period. Intangible purchases are added only for the
  CIKs listed in ``capex_include_intangibles.csv`` (``include_intangibles``).
* Annual = 350..380 days, quarterly = 80..100 days; 6- and 9-month year-to-date facts are
  ignored. A period exists only when a form of its own kind tagged it; a 6-K/8-K/10-Q (annual)
  or 10-K/8-K (quarterly) fact with the same start and end is a later filing of that period.
* Reporting currency per company = the unit carrying most of its capex-concept facts (ties go
  to the non-USD unit): 20-F filers tag CNY for every year and a USD convenience translation
  for the latest year only, so the translation never wins and is dropped. The concepts are
  monetary, so every unit there is meant as a currency; one that is not an ISO 4217 code
  (RMB, NTD, "cny") is refused, the filer's SEC capex left out and listed
  (``unknown_currencies``): never guessed, never replaced by the USD translation.
* Filing versions: per period, filings are ordered by (filed, accn); a filing that repeats the
  value of the one before it collapses onto it, so each row is the first filing of a distinct
  value. ``is_first_reported`` marks the first row, ``is_latest`` the row whose value the latest
  filing carries (its accn is the filing that first reported that value). Exactly one of each
  per (ticker, period_end, duration); summing ``capex`` where ``is_latest`` never double counts.
* fiscal_year = year of the period end (Apple's late-September, NVIDIA's late-January and
  Alibaba's 31-March years keep their true end dates), except that an end in the first week
  of January belongs to the year before (52/53-week years ending around 1 January would
  otherwise put two annual periods in one year). A quarter gets the fiscal year of the annual
  period containing it (projected forward from the last known annual end when not yet filed).
"""

from __future__ import annotations

import polars as pl

from assets.currencies import ISO_4217

ANNUAL_FORMS = ("10-K", "20-F", "40-F")
QUARTERLY_FORMS = ("10-Q", "6-K")
ANNUAL_DAYS = (350, 380)
QUARTER_DAYS = (80, 100)

CAPEX_SCHEMA: dict[str, pl.DataType] = {
    "ticker": pl.String(),
    "cik": pl.Int64(),
    "fiscal_year": pl.Int64(),
    "period_start": pl.Date(),
    "period_end": pl.Date(),
    "duration": pl.String(),
    "capex": pl.Float64(),
    "currency": pl.String(),
    "capex_usd": pl.Float64(),
    "concept": pl.String(),
    "form": pl.String(),
    "accn": pl.String(),
    "filed": pl.Date(),
    "source": pl.String(),
    "is_first_reported": pl.Boolean(),
    "is_latest": pl.Boolean(),
}

GAPS_SCHEMA: dict[str, pl.DataType] = {
    "ticker": pl.String(),
    "cik": pl.Int64(),
    "fiscal_year": pl.Int64(),
    "duration": pl.String(),
    "reason": pl.String(),
}

UNKNOWN_CURRENCY_SCHEMA: dict[str, pl.DataType] = {
    "ticker": pl.String(),
    "cik": pl.Int64(),
    "fiscal_year": pl.Int64(),
    "unit": pl.String(),
    "facts": pl.Int64(),
}

JUMPS_SCHEMA: dict[str, pl.DataType] = {
    "ticker": pl.String(),
    "fiscal_year": pl.Int64(),
    "detail": pl.String(),
}

_PERIOD = ["cik", "period_end", "duration"]


def fiscal_year_of(end: pl.Expr) -> pl.Expr:
    """Year of the period end; an end in 1..7 January counts for the year before."""
    return (end - pl.duration(days=7)).dt.year().cast(pl.Int64)


def _base_form() -> pl.Expr:
    return pl.col("form").str.replace(r"/A$", "")


def _duration_kind() -> pl.Expr:
    days = (pl.col("period_end") - pl.col("period_start")).dt.total_days()
    return (
        pl.when(days.is_between(*ANNUAL_DAYS))
        .then(pl.lit("annual"))
        .when(days.is_between(*QUARTER_DAYS))
        .then(pl.lit("quarterly"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def _empty(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


def reporting_currency(facts: pl.DataFrame, concepts: pl.DataFrame) -> pl.DataFrame:
    """(cik, currency): the unit with most facts of the capex ``concepts`` per company, ties to non-USD.

    A 20-F filer's USD convenience translation covers only the latest year of each filing
    while the reporting currency covers every year shown, so it can never outnumber it.
    Every unit counts, ISO code or not: a filer tagging its figures "RMB" must not end up
    reporting in USD because its translation is the only ISO-looking unit. Callers check
    the result against ISO 4217.
    """
    return (
        facts.join(concepts.select("taxonomy", "concept").unique(), on=["taxonomy", "concept"], how="semi")
        .group_by("cik", "unit")
        .agg(pl.len().alias("n"))
        .with_columns((pl.col("unit") == "USD").alias("_usd"))
        .sort(["cik", "n", "_usd", "unit"], descending=[False, True, False, False])
        .unique("cik", keep="first", maintain_order=True)
        .select("cik", pl.col("unit").alias("currency"))
    )


def _annual_periods(facts: pl.DataFrame) -> pl.DataFrame:
    """Distinct (cik, period_start, period_end) of annual-duration facts from annual forms."""
    return (
        facts.filter(pl.col("period_start").is_not_null())
        .filter(_base_form().is_in(ANNUAL_FORMS) & (_duration_kind() == "annual"))
        .select("cik", "period_start", "period_end")
        .unique()
    )


def _quarter_fiscal_years(quarters: pl.DataFrame, facts: pl.DataFrame) -> pl.DataFrame:
    """(cik, period_end, fiscal_year) for quarter ends: the annual period that contains them."""
    ends = quarters.select("cik", "period_end").unique().sort("period_end")
    annual = (
        _annual_periods(facts)
        .group_by("cik", "period_end")
        .agg(pl.col("period_start").min().alias("a_start"))
        .rename({"period_end": "a_end"})
        .sort("a_end")
    )
    if annual.height == 0:
        return ends.with_columns(fiscal_year_of(pl.col("period_end")).alias("fiscal_year"))
    fwd = ends.join_asof(
        annual,
        left_on="period_end",
        right_on="a_end",
        by="cik",
        strategy="forward",
        check_sortedness=False,
    )
    back = ends.join_asof(
        annual.select("cik", pl.col("a_end").alias("last_end")),
        left_on="period_end",
        right_on="last_end",
        by="cik",
        strategy="backward",
        check_sortedness=False,
    )
    days_after = (pl.col("period_end") - pl.col("last_end")).dt.total_days()
    projected = fiscal_year_of(pl.col("last_end")) + ((days_after - 7) / 364).ceil().cast(pl.Int64)
    return (
        fwd.join(back, on=["cik", "period_end"], how="left")
        .with_columns(
            pl.when(pl.col("a_end").is_not_null() & (pl.col("a_start") <= pl.col("period_end")))
            .then(fiscal_year_of(pl.col("a_end")))
            .when(pl.col("last_end").is_not_null())
            .then(projected)
            .otherwise(fiscal_year_of(pl.col("period_end")))
            .alias("fiscal_year")
        )
        .select("cik", "period_end", "fiscal_year")
    )


def select_capex(
    facts: pl.DataFrame,
    filers: pl.DataFrame,
    concepts: pl.DataFrame,
    include_intangibles: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Capex rows (CAPEX_SCHEMA) from raw SEC facts of many companies; see module docstring."""
    filers = filers.select(pl.col("cik").cast(pl.Int64), pl.col("ticker").cast(pl.String))
    concepts = concepts.select("taxonomy", "concept", pl.col("priority").cast(pl.Int64), "kind")
    base = (
        facts.filter(pl.col("period_start").is_not_null() & pl.col("value").is_not_null())
        .join(concepts, on=["taxonomy", "concept"], how="inner")
        .with_columns(_duration_kind().alias("duration"))
        .filter(pl.col("duration").is_not_null())
        .join(reporting_currency(facts, concepts).filter(_is_iso()), on="cik", how="inner")
        .filter(pl.col("unit") == pl.col("currency"))
        .join(filers, on="cik", how="inner")
        .with_columns(
            (
                ((pl.col("duration") == "annual") & _base_form().is_in(ANNUAL_FORMS))
                | ((pl.col("duration") == "quarterly") & _base_form().is_in(QUARTERLY_FORMS))
            ).alias("anchor")
        )
    )
    ppe = base.filter(pl.col("kind") == "ppe")
    if ppe.height == 0:
        return _empty(CAPEX_SCHEMA)

    # One concept (and one canonical start) per period, chosen among forms that define it.
    chosen = (
        ppe.filter(pl.col("anchor"))
        .sort(
            ["priority", "taxonomy", "concept", "filed", "accn"],
            descending=[False, False, False, True, True],
        )
        .unique(_PERIOD, keep="first", maintain_order=True)
        .select(*_PERIOD, "taxonomy", "concept", "period_start")
    )
    rows = (
        ppe.join(chosen, on=[*_PERIOD, "taxonomy", "concept", "period_start"], how="inner")
        .sort([*_PERIOD, "filed", "accn"])
        .unique([*_PERIOD, "accn"], keep="first", maintain_order=True)
    )

    if include_intangibles is not None and include_intangibles.height:
        extra_ciks = include_intangibles["cik"].cast(pl.Int64).to_list()
        # The intangible figure of the same filing, else of the latest earlier filing of the
        # period (a 6-K repeating only the PP&E line must not look like a restatement).
        intangible = (
            base.filter((pl.col("kind") == "intangible") & pl.col("cik").is_in(extra_ciks))
            .sort(["priority", "taxonomy", "concept"])
            .unique([*_PERIOD, "period_start", "accn"], keep="first", maintain_order=True)
            .select(
                *_PERIOD,
                "period_start",
                pl.col("filed").alias("_int_filed"),
                pl.col("value").alias("_intangible"),
                pl.col("concept").alias("_intangible_concept"),
            )
            .sort("_int_filed")
        )
        rows = (
            rows.sort("filed").join_asof(
                intangible,
                left_on="filed",
                right_on="_int_filed",
                by=[*_PERIOD, "period_start"],
                strategy="backward",
                check_sortedness=False,
            )
        ).with_columns(
            (pl.col("value") + pl.col("_intangible").fill_null(0.0)).alias("value"),
            pl.when(pl.col("_intangible").is_not_null())
            .then(pl.col("concept") + "+" + pl.col("_intangible_concept"))
            .otherwise(pl.col("concept"))
            .alias("concept"),
        )

    # Collapse repeats of the same value onto the filing that first reported it.
    versions = (
        rows.sort([*_PERIOD, "filed", "accn"])
        .filter(
            pl.col("value").shift(1).over(_PERIOD).is_null()
            | (pl.col("value") != pl.col("value").shift(1).over(_PERIOD))
        )
        .with_columns(
            (pl.int_range(pl.len()).over(_PERIOD) == 0).alias("is_first_reported"),
            (pl.int_range(pl.len()).over(_PERIOD) == pl.len().over(_PERIOD) - 1).alias("is_latest"),
        )
    )

    quarter_fy = _quarter_fiscal_years(versions.filter(pl.col("duration") == "quarterly"), facts)
    out = (
        versions.join(quarter_fy.rename({"fiscal_year": "_qfy"}), on=["cik", "period_end"], how="left")
        .with_columns(
            pl.when(pl.col("duration") == "annual")
            .then(fiscal_year_of(pl.col("period_end")))
            .otherwise(pl.col("_qfy"))
            .alias("fiscal_year"),
            pl.col("value").alias("capex"),
            pl.lit(None, dtype=pl.Float64).alias("capex_usd"),
            pl.lit("sec").alias("source"),
        )
        .select([pl.col(c).cast(t) for c, t in CAPEX_SCHEMA.items()])
        .sort("ticker", "duration", "period_end", "filed", "accn")
    )
    return out


def _is_iso() -> pl.Expr:
    return pl.col("currency").is_in(sorted(ISO_4217))


def unknown_currencies(facts: pl.DataFrame, filers: pl.DataFrame, concepts: pl.DataFrame) -> pl.DataFrame:
    """Filers whose capex facts are in a unit that is not an ISO 4217 code: what select_capex refused.

    One row per fiscal year with annual capex facts in that unit (one row with no year when
    there are none), with the unit as written and how many facts, so the filer and the years
    are named in dq.capex_issues instead of silently missing.
    """
    filers = filers.select(pl.col("cik").cast(pl.Int64), pl.col("ticker").cast(pl.String))
    refused = reporting_currency(facts, concepts).filter(~_is_iso()).rename({"currency": "unit"})
    if refused.is_empty():
        return _empty(UNKNOWN_CURRENCY_SCHEMA)
    rows = (
        facts.join(concepts.select("taxonomy", "concept").unique(), on=["taxonomy", "concept"], how="semi")
        .join(refused, on=["cik", "unit"], how="inner")
        .join(filers, on="cik", how="inner")
        .with_columns(
            pl.when(pl.col("period_start").is_not_null() & (_duration_kind() == "annual"))
            .then(fiscal_year_of(pl.col("period_end")))
            .alias("fiscal_year")
        )
    )
    # per fiscal year of the annual facts; a filer with none gets one row for all its facts
    dated = pl.col("fiscal_year").is_not_null().any().over("cik")
    return (
        rows.filter(pl.col("fiscal_year").is_not_null() | ~dated)
        .group_by("ticker", "cik", "unit", "fiscal_year")
        .agg(pl.len().alias("facts"))
        .select([pl.col(c).cast(t) for c, t in UNKNOWN_CURRENCY_SCHEMA.items()])
        .sort("ticker", "fiscal_year", nulls_last=True)
    )


def capex_gaps(facts: pl.DataFrame, selected: pl.DataFrame, filers: pl.DataFrame) -> pl.DataFrame:
    """Fiscal years with an annual report on file but no capex row: reported, never guessed.

    An annual report's fiscal year is the latest annual-duration period end among the facts
    of that accession. ``selected`` may be SEC-only or combined output (a curated or yfinance
    fill then closes the gap; matched on ticker and fiscal year).
    """
    filers = filers.select(pl.col("cik").cast(pl.Int64), pl.col("ticker").cast(pl.String))
    annual = facts.filter(pl.col("period_start").is_not_null()).filter(
        _base_form().is_in(ANNUAL_FORMS) & (_duration_kind() == "annual")
    )
    if annual.height == 0:
        return _empty(GAPS_SCHEMA)
    reports = (
        annual.group_by("cik", "accn")
        .agg(pl.col("period_end").max(), pl.col("form").first())
        .with_columns(fiscal_year_of(pl.col("period_end")).alias("fiscal_year"))
        .sort("accn")
        .group_by("cik", "fiscal_year")
        .agg(
            pl.col("period_end").max(),
            (pl.col("form") + " " + pl.col("accn")).str.join(", ").alias("filings"),
        )
        .join(filers, on="cik", how="inner")
    )
    have = (
        selected.filter(pl.col("duration") == "annual")
        .select(pl.col("ticker").cast(pl.String), pl.col("fiscal_year").cast(pl.Int64))
        .unique()
    )
    return (
        reports.join(have, on=["ticker", "fiscal_year"], how="anti")
        .with_columns(
            pl.lit("annual").alias("duration"),
            pl.format(
                "annual report for the period ending {} on file ({}) but no standard capex "
                "concept (capex_concepts.csv) tagged for it; left missing, not estimated",
                pl.col("period_end").cast(pl.String),
                pl.col("filings"),
            ).alias("reason"),
        )
        .select([pl.col(c).cast(t) for c, t in GAPS_SCHEMA.items()])
        .sort("ticker", "fiscal_year")
    )


def capex_from_financials(financials: pl.DataFrame) -> pl.DataFrame:
    """yfinance 'Capital Expenditure' (a negative cash flow) as positive annual capex rows.

    When several fetches hold the same period the latest fetch wins (one row, both flags);
    accn is a stable id ``yfinance:<ticker>:<period_end>`` and filed is the fetch date.
    """
    df = financials.filter((pl.col("line_item") == "Capital Expenditure") & pl.col("value").is_not_null())
    if df.height == 0:
        return _empty(CAPEX_SCHEMA)
    fetched = pl.col("fetched_at")
    if df.schema["fetched_at"] == pl.String:
        fetched = fetched.str.to_datetime(strict=False)
    end = pl.col("fiscal_period_end").cast(pl.Date)
    return (
        df.with_columns(fetched.alias("_fetched"), end.alias("period_end"))
        .sort("ticker", "period_end", "_fetched")
        .unique(["ticker", "period_end"], keep="last", maintain_order=True)
        .with_columns(
            pl.lit(None, dtype=pl.Int64).alias("cik"),
            fiscal_year_of(pl.col("period_end")).alias("fiscal_year"),
            pl.col("period_end").dt.offset_by("-1y").dt.offset_by("1d").alias("period_start"),
            pl.lit("annual").alias("duration"),
            (-pl.col("value").cast(pl.Float64)).alias("capex"),
            pl.lit(None, dtype=pl.Float64).alias("capex_usd"),
            pl.lit("Capital Expenditure").alias("concept"),
            pl.lit("yfinance cashflow").alias("form"),
            pl.format("yfinance:{}:{}", pl.col("ticker"), pl.col("period_end").cast(pl.String)).alias("accn"),
            pl.col("_fetched").cast(pl.Date).alias("filed"),
            pl.lit("yfinance").alias("source"),
            pl.lit(True).alias("is_first_reported"),
            pl.lit(True).alias("is_latest"),
        )
        .select([pl.col(c).cast(t) for c, t in CAPEX_SCHEMA.items()])
        .sort("ticker", "period_end")
    )


def capex_from_curated(curated: pl.DataFrame) -> pl.DataFrame:
    """Hand-curated figures with their citation: form = document, accn = ``p.<page>``.

    Duration follows the dates (annual 350..380 or quarterly 80..100 days); any other span,
    or a row without a document, is an error naming the row (never silently dropped).
    """
    if curated.height == 0:
        return _empty(CAPEX_SCHEMA)
    dates = {}
    for col in ("period_start", "period_end"):
        c = pl.col(col)
        dates[col] = c.str.to_date("%Y-%m-%d") if curated.schema[col] == pl.String else c.cast(pl.Date)
    df = curated.with_columns(**dates).with_columns(_duration_kind().alias("duration"))
    bad = df.filter(pl.col("duration").is_null() | pl.col("document").is_null())
    if bad.height:
        raise ValueError(
            "curated capex rows need a document and an annual (350-380 days) or quarterly "
            f"(80-100 days) period: {bad.select('ticker', 'period_start', 'period_end').rows()}"
        )
    return (
        df.with_columns(
            pl.lit(None, dtype=pl.Int64).alias("cik"),
            pl.coalesce(pl.col("fiscal_year").cast(pl.Int64), fiscal_year_of(pl.col("period_end"))).alias(
                "fiscal_year"
            ),
            pl.col("capex").cast(pl.Float64),
            pl.lit(None, dtype=pl.Float64).alias("capex_usd"),
            pl.lit("curated").alias("concept"),
            pl.col("document").cast(pl.String).alias("form"),
            pl.format("p.{}", pl.col("page").cast(pl.String)).alias("accn"),
            pl.lit(None, dtype=pl.Date).alias("filed"),
            pl.lit("curated").alias("source"),
            pl.lit(True).alias("is_first_reported"),
            pl.lit(True).alias("is_latest"),
        )
        .select([pl.col(c).cast(t) for c, t in CAPEX_SCHEMA.items()])
        .sort("ticker", "period_end")
    )


def combine_capex(sec: pl.DataFrame, yfinance: pl.DataFrame, curated: pl.DataFrame) -> pl.DataFrame:
    """SEC rows win; a (ticker, fiscal_year, duration) without SEC rows takes curated, then yfinance."""
    key = ["ticker", "fiscal_year", "duration"]
    parts = [f.select([pl.col(c).cast(t) for c, t in CAPEX_SCHEMA.items()]) for f in (sec, curated, yfinance)]
    out = parts[0]
    for part in parts[1:]:
        out = pl.concat([out, part.join(out.select(key).unique(), on=key, how="anti")])
    return out.sort("ticker", "duration", "period_end", "source", "filed", "accn", nulls_last=True)


def add_capex_usd(capex: pl.DataFrame, fx_daily: pl.DataFrame) -> pl.DataFrame:
    """capex_usd = capex / the mean daily rate (units per USD) over the fiscal period.

    fx_daily holds USD->X rows (base USD, quote X) and/or X->USD rows (inverted). The mean
    uses every trade date in [period_start, period_end] (a fiscal-period average rate, as
    cash flows accrue through the year); no rate in the period leaves capex_usd null.
    """
    per_usd = pl.concat(
        [
            fx_daily.filter(pl.col("base") == "USD").select(
                "trade_date", pl.col("quote").alias("currency"), pl.col("rate").cast(pl.Float64)
            ),
            fx_daily.filter((pl.col("quote") == "USD") & (pl.col("base") != "USD")).select(
                "trade_date",
                pl.col("base").alias("currency"),
                (1.0 / pl.col("rate").cast(pl.Float64)).alias("rate"),
            ),
        ]
    )
    cum = (
        per_usd.filter(pl.col("rate").is_not_null() & (pl.col("rate") > 0))
        .with_columns(pl.col("trade_date").cast(pl.Date))
        .group_by("currency", "trade_date")
        .agg(pl.col("rate").mean())
        .sort("currency", "trade_date")
        .with_columns(
            pl.col("rate").cum_sum().over("currency").alias("_cs"),
            (pl.int_range(pl.len()).over("currency") + 1).alias("_n"),
        )
        .sort("trade_date")
    )
    df = capex.with_row_index("_row").with_columns((pl.col("period_start") - pl.duration(days=1)).alias("_before"))
    at_end = df.sort("period_end").join_asof(
        cum.select("currency", "trade_date", pl.col("_cs").alias("_cs_end"), pl.col("_n").alias("_n_end")),
        left_on="period_end",
        right_on="trade_date",
        by="currency",
        strategy="backward",
        check_sortedness=False,
    )
    both = at_end.sort("_before").join_asof(
        cum.select(
            "currency", pl.col("trade_date").alias("_td0"), pl.col("_cs").alias("_cs0"), pl.col("_n").alias("_n0")
        ),
        left_on="_before",
        right_on="_td0",
        by="currency",
        strategy="backward",
        check_sortedness=False,
    )
    n = pl.col("_n_end") - pl.col("_n0").fill_null(0)
    mean_rate = (pl.col("_cs_end") - pl.col("_cs0").fill_null(0.0)) / n
    return (
        both.with_columns(
            pl.when(pl.col("currency") == "USD")
            .then(pl.col("capex"))
            .when(pl.col("_n_end").is_not_null() & (n > 0))
            .then(pl.col("capex") / mean_rate)
            .otherwise(pl.lit(None, dtype=pl.Float64))
            .alias("capex_usd")
        )
        .sort("_row")
        .select(capex.columns)
    )


def yoy_jumps(capex: pl.DataFrame, factor: float = 5.0) -> pl.DataFrame:
    """Latest annual capex moving more than ``factor``x (up or down) against the prior year.

    Compares consecutive fiscal years only, in the reporting currency (capex_usd when the
    currency changed between the two years); a move to or from zero is always flagged.
    """
    if "capex_usd" not in capex.columns:
        capex = capex.with_columns(pl.lit(None, dtype=pl.Float64).alias("capex_usd"))
    latest = (
        capex.filter(pl.col("is_latest") & (pl.col("duration") == "annual"))
        .group_by("ticker", "fiscal_year")
        .agg(
            pl.col("capex").sum(),
            pl.when(pl.col("capex_usd").is_not_null().any()).then(pl.col("capex_usd").sum()),
            pl.col("currency").first(),
        )
        .sort("ticker", "fiscal_year")
    )
    rows = []
    prev: dict | None = None
    for row in latest.iter_rows(named=True):
        if prev and prev["ticker"] == row["ticker"] and prev["fiscal_year"] == row["fiscal_year"] - 1:
            cur_v, prev_v, ccy = row["capex"], prev["capex"], row["currency"]
            if row["currency"] != prev["currency"]:
                cur_v, prev_v, ccy = row["capex_usd"], prev["capex_usd"], "USD"
            detail = _jump_detail(cur_v, prev_v, ccy, prev["fiscal_year"], factor)
            if detail:
                rows.append((row["ticker"], row["fiscal_year"], detail))
        prev = row
    return pl.DataFrame(rows, schema=JUMPS_SCHEMA, orient="row")


def _jump_detail(cur: float | None, prev: float | None, ccy: str, prev_year: int, factor: float) -> str | None:
    if cur is None or prev is None:
        return None
    text = f"capex {cur:,.0f} {ccy} against {prev:,.0f} in FY{prev_year}"
    if cur <= 0 or prev <= 0:
        return f"{text} (to or from zero/negative)" if (cur > 0) != (prev > 0) else None
    ratio = cur / prev
    if ratio > factor or ratio < 1.0 / factor:
        return f"{text} ({ratio:.2f}x, threshold {factor:g}x)"
    return None


def to_company_tickers(capex: pl.DataFrame, universe: pl.DataFrame, filers: pl.DataFrame) -> pl.DataFrame:
    """Put fallback rows under the ticker the company's SEC rows use (9988.HK -> BABA).

    One company listed twice (HK line and ADR) would otherwise count twice. Where both
    listings gave a row for the same period, the one already under the company ticker wins.
    """
    lines = universe.filter(pl.col("cik").is_not_null()).select("ticker", pl.col("cik").cast(pl.Int64).alias("_cik"))
    company = filers.select(pl.col("cik").cast(pl.Int64).alias("_cik"), pl.col("ticker").alias("_company"))
    mapped = (
        capex.join(lines, on="ticker", how="left")
        .join(company, on="_cik", how="left")
        .with_columns(
            (pl.col("_company").is_null() | (pl.col("_company") == pl.col("ticker"))).alias("_own"),
            pl.coalesce("_company", "ticker").alias("ticker"),
            pl.coalesce("cik", "_cik").alias("cik"),
        )
        .sort("_own", descending=True)
        .unique(["ticker", "period_end", "duration", "accn"], keep="first", maintain_order=True)
        .unique(
            ["ticker", "fiscal_year", "duration", "is_latest", "is_first_reported"], keep="first", maintain_order=True
        )
    )
    return mapped.select(list(CAPEX_SCHEMA))
