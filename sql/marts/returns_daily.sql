-- marts.returns_daily
--
-- Daily simple and log returns per ticker on the total-return basis: adj_close, which Yahoo
-- adjusts for splits and dividends, so dividends are in. Read through core.prices_daily_flagged.
--
-- A row flagged with a data-error kind (dq.anomaly_kinds.is_data_error: unit errors, unreported
-- splits, source disagreements...) is kept, marked is_excluded with the kinds that excluded it,
-- and has no return; the next valid row's return then runs from the last valid close before it
-- (prev_date says from when). Warnings (gaps, stale series...) do not exclude a row and are
-- listed in warning_kinds.
--
-- Columns:
--   ticker          universe symbol (9888.HK, ^IXIC, CNY=X...)
--   trade_date      exchange-local trading date
--   currency        quote currency of the prices
--   close           split-adjusted close as the source gave it
--   adj_close       total-return close (splits and dividends), the basis of every return here
--   prev_date       date of the previous valid (not excluded) row; null on the first row and on
--                   excluded rows
--   prev_adj_close  adj_close on prev_date
--   simple_return   adj_close / prev_adj_close - 1 (a fraction: 0.157 = +15.7%); null when excluded
--   log_return      ln(adj_close / prev_adj_close); null when excluded
--   days_spanned    calendar days from prev_date to trade_date (more than a weekend when a row
--                   before was excluded or sessions are missing)
--   is_excluded     true when the row carries a data-error flag: no return is computed from it
--   excluded_kinds  the data-error kinds that excluded the row (empty when not excluded)
--   warning_kinds   anomaly kinds on the row that are warnings only (the row is used)
--   source          source mode of the price row (live, replay, sample)

-- name: mart
WITH kinds AS (
    SELECT
        coalesce(list(kind) FILTER (WHERE is_data_error), []) AS errors,
        coalesce(list(kind) FILTER (WHERE NOT is_data_error), []) AS warnings
    FROM dq.anomaly_kinds
),
flagged AS (
    SELECT
        p.ticker, p.trade_date, p.currency, p.close, p.adj_close, p.source,
        list_sort(list_intersect(p.anomaly_kinds, k.errors)) AS excluded_kinds,
        list_sort(list_intersect(p.anomaly_kinds, k.warnings)) AS warning_kinds
    FROM core.prices_daily_flagged AS p, kinds AS k
),
valid AS (
    SELECT
        ticker, trade_date,
        lag(trade_date) OVER w AS prev_date,
        lag(adj_close) OVER w AS prev_adj_close
    FROM flagged
    WHERE len(excluded_kinds) = 0
    WINDOW w AS (PARTITION BY ticker ORDER BY trade_date)
)
SELECT
    f.ticker,
    f.trade_date,
    f.currency,
    f.close,
    f.adj_close,
    v.prev_date,
    v.prev_adj_close,
    f.adj_close / v.prev_adj_close - 1 AS simple_return,
    ln(f.adj_close / v.prev_adj_close) AS log_return,
    date_diff('day', v.prev_date, f.trade_date) AS days_spanned,
    len(f.excluded_kinds) > 0 AS is_excluded,
    f.excluded_kinds,
    f.warning_kinds,
    f.source
FROM flagged AS f
LEFT JOIN valid AS v USING (ticker, trade_date)
ORDER BY f.ticker, f.trade_date

-- name: unlisted_kinds
-- anomaly kinds present in dq.price_anomalies that dq.anomaly_kinds does not classify
SELECT a.kind, count(*) AS rows, list(DISTINCT a.ticker ORDER BY a.ticker) AS tickers
FROM dq.price_anomalies AS a
WHERE a.kind NOT IN (SELECT kind FROM dq.anomaly_kinds)
GROUP BY a.kind
ORDER BY a.kind
