-- The warehouse's layers: raw (as fetched), core (typed, deduped, keyed), dq (data quality),
-- marts (answers), meta (what the file is).
CREATE SCHEMA IF NOT EXISTS meta;
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS core;
CREATE SCHEMA IF NOT EXISTS dq;
CREATE SCHEMA IF NOT EXISTS marts;

-- Provenance: a warehouse file holds data of exactly one source mode, recorded with its first
-- load. A run with another mode refuses before writing (assets/warehouse.py).
CREATE TABLE IF NOT EXISTS meta.warehouse (
    one_row      BOOLEAN PRIMARY KEY DEFAULT true CHECK (one_row),
    source_mode  VARCHAR NOT NULL CHECK (source_mode IN ('live', 'replay', 'sample')),
    created_at   TIMESTAMPTZ NOT NULL,
    path         VARCHAR
);

-- One row per load of any asset: which source, which Dagster run, when, how many rows. Each
-- core step reads the raw rows of the load its own run wrote (run_id), never another run's.
CREATE TABLE IF NOT EXISTS raw.loads (
    load_id     VARCHAR NOT NULL,
    asset       VARCHAR NOT NULL,
    source      VARCHAR NOT NULL CHECK (source IN ('live', 'replay', 'sample')),
    started_at  TIMESTAMPTZ NOT NULL,
    tickers     VARCHAR[],
    full_tickers VARCHAR[],
    row_count   BIGINT,
    failures    JSON,
    run_id      VARCHAR,
    PRIMARY KEY (load_id, asset)
);
