-- Every check run, blocking or warning, as Dagster reported it.
CREATE TABLE IF NOT EXISTS dq.check_results (
    asset        VARCHAR NOT NULL,
    check_name   VARCHAR NOT NULL,
    passed       BOOLEAN NOT NULL,
    severity     VARCHAR NOT NULL,
    observed     VARCHAR,
    run_id       VARCHAR,
    checked_at   TIMESTAMPTZ NOT NULL
);

-- Warnings per ticker and date. Flagged rows stay in core (never silently dropped); marts
-- read them through core.prices_daily_flagged to decide what to use.
CREATE TABLE IF NOT EXISTS dq.price_anomalies (
    ticker       VARCHAR NOT NULL,
    trade_date   DATE,
    kind         VARCHAR NOT NULL,
    detail       VARCHAR,
    detected_at  TIMESTAMPTZ NOT NULL
);

-- Per ticker, the newest core.prices_daily.loaded_at the anomaly rules have judged: a daily
-- run re-judges only the rows loaded since (from a window of recent rows), so a core load whose
-- dq step failed or was skipped is judged by the next run that reaches the ticker.
CREATE TABLE IF NOT EXISTS dq.anomaly_marks (
    ticker          VARCHAR NOT NULL,
    judged_through  TIMESTAMPTZ NOT NULL,
    judged_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (ticker)
);

-- Rows that break a hard invariant (non-positive price, high below open/close, ...): kept
-- here with the reason instead of in core, so they are neither lost nor used.
CREATE TABLE IF NOT EXISTS dq.rejected_prices (
    ticker       VARCHAR NOT NULL,
    trade_date   DATE,
    source       VARCHAR NOT NULL,
    shape        VARCHAR NOT NULL,
    reason       VARCHAR NOT NULL,
    row_json     VARCHAR NOT NULL,
    load_id      VARCHAR NOT NULL,
    rejected_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (ticker, source, shape, trade_date, reason)
);
