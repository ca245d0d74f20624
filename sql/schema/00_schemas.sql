-- The warehouse's layers: raw (as fetched), core (typed, deduped, keyed), dq (data quality), marts (answers).
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS core;
CREATE SCHEMA IF NOT EXISTS dq;
CREATE SCHEMA IF NOT EXISTS marts;

-- One row per load of any asset: which source, when, how many rows. Core assets read the
-- raw rows of the latest load through it.
CREATE TABLE IF NOT EXISTS raw.loads (
    load_id     VARCHAR NOT NULL,
    asset       VARCHAR NOT NULL,
    source      VARCHAR NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    tickers     VARCHAR[],
    full_tickers VARCHAR[],
    row_count   BIGINT,
    failures    JSON,
    PRIMARY KEY (load_id, asset)
);
