-- Every fact of every fetched company (XBRL company facts), long form. Reloaded per CIK, so a
-- re-run replaces that company's facts; key (cik, taxonomy, concept, unit, period_start,
-- period_end, accn). period_start is NULL for instant facts.
CREATE TABLE IF NOT EXISTS raw.sec_facts (
    cik            BIGINT NOT NULL,
    entity_name    VARCHAR,
    taxonomy       VARCHAR NOT NULL,
    concept        VARCHAR NOT NULL,
    unit           VARCHAR NOT NULL,
    period_start   DATE,
    period_end     DATE NOT NULL,
    value          DOUBLE,
    accn           VARCHAR NOT NULL,
    fiscal_year    BIGINT,
    fiscal_period  VARCHAR,
    form           VARCHAR,
    filed          DATE,
    frame          VARCHAR,
    source         VARCHAR NOT NULL CHECK (source IN ('live', 'replay', 'sample')),
    fetched_at     TIMESTAMPTZ NOT NULL,
    load_id        VARCHAR NOT NULL,
    CHECK (period_start IS NULL OR period_end >= period_start)
);

-- Capital expenditure per company, period and filing version: a positive outflow in the
-- reporting currency, capex_usd at the fiscal-period average rate. `source` is the upstream
-- kind (sec, yfinance, curated); `source_mode` the mode that produced the row (live, replay,
-- sample), so a sample-made filing is never indistinguishable from a real one. Exactly one
-- is_latest and one is_first_reported row per (ticker, period_end, duration).
CREATE TABLE IF NOT EXISTS core.capex (
    ticker             VARCHAR NOT NULL,
    cik                BIGINT,
    fiscal_year        BIGINT NOT NULL,
    period_start       DATE,
    period_end         DATE NOT NULL,
    duration           VARCHAR NOT NULL CHECK (duration IN ('annual', 'quarterly')),
    capex              DOUBLE NOT NULL CHECK (capex >= 0 AND isfinite(capex)),
    currency           VARCHAR NOT NULL CHECK (regexp_full_match(currency, '[A-Z]{3}')),
    capex_usd          DOUBLE,
    concept            VARCHAR,
    form               VARCHAR,
    accn               VARCHAR NOT NULL,
    filed              DATE,
    source             VARCHAR NOT NULL CHECK (source IN ('sec', 'yfinance', 'curated')),
    source_mode        VARCHAR NOT NULL CHECK (source_mode IN ('live', 'replay', 'sample')),
    is_first_reported  BOOLEAN NOT NULL,
    is_latest          BOOLEAN NOT NULL,
    loaded_at          TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (ticker, period_end, duration, accn)
);

-- What the capex layer could not answer: fiscal years with an annual report but no standard
-- capex concept, year-over-year jumps beyond 5x, companies with no capex at all, failures.
CREATE TABLE IF NOT EXISTS dq.capex_issues (
    ticker       VARCHAR NOT NULL,
    cik          BIGINT,
    fiscal_year  BIGINT,
    kind         VARCHAR NOT NULL,
    detail       VARCHAR,
    detected_at  TIMESTAMPTZ NOT NULL
);
