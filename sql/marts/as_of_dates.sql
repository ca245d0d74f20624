-- marts.as_of_dates
--
-- The dates marts.performance is computed as of: the latest trading day held (of any
-- instrument that is not an FX rate), every calendar month end from the first one set in
-- assets/marts.toml, and every claim's date (assets/claims.csv). A date can have several
-- reasons. Add a date by adding a claim or changing month_ends_from, not by editing SQL.
--
-- Columns:
--   as_of_date      the date returns are measured to (the last close on or before it)
--   reasons         why it is here: 'latest trading day', 'month end', 'claim 1' (the claim's id)
--   has_prices      false when no instrument has a close on or before the date (nothing to measure)

-- name: mart
WITH latest AS (
    SELECT max(p.trade_date) AS d
    FROM core.prices_daily AS p
    JOIN _universe AS u USING (ticker)
    WHERE u."group" <> 'fx'
),
dates AS (
    SELECT d AS as_of_date, 'latest trading day' AS reason FROM latest WHERE d IS NOT NULL
    UNION ALL
    SELECT last_day(m)::DATE, 'month end'
    FROM latest, range(date_trunc('month', $month_ends_from::DATE), latest.d + INTERVAL 1 DAY, INTERVAL 1 MONTH) AS r(m)
    WHERE last_day(m)::DATE <= latest.d AND last_day(m)::DATE >= $month_ends_from::DATE
    UNION ALL
    SELECT as_of, 'claim ' || claim_id FROM _claims
)
SELECT
    as_of_date,
    list(DISTINCT reason ORDER BY reason) AS reasons,
    as_of_date >= (SELECT min(trade_date) FROM core.prices_daily) AS has_prices
FROM dates
GROUP BY as_of_date
ORDER BY as_of_date
