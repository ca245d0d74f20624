-- FX views and the USD conversion macro; run after the tables exist (sql/schema/30_*.sql).

-- core.fx_daily plus the identity USD leg for every date that has any rate, so joins on
-- (trade_date, quote) work for USD amounts too. Non-positive rates are never exposed.
CREATE OR REPLACE VIEW core.fx_rates AS
SELECT trade_date, base, quote, rate, source
FROM core.fx_daily
WHERE rate > 0
UNION ALL
SELECT DISTINCT trade_date, 'USD' AS base, 'USD' AS quote, 1.0 AS rate, 'identity' AS source
FROM core.fx_daily;

-- amount in `currency` -> USD with the last rate on or before `at_date` (never a later one:
-- a Saturday amount uses Friday's rate). USD returns the amount; unknown currency or no
-- rate yet returns NULL. CNH and CNY are different currencies.
CREATE OR REPLACE MACRO core.to_usd(amount, currency, at_date) AS (
    CASE
        WHEN amount IS NULL OR currency IS NULL THEN NULL
        WHEN upper(currency) = 'USD' THEN amount
        ELSE amount / (
            SELECT f.rate
            FROM core.fx_daily AS f
            WHERE f.base = 'USD'
              AND f.quote = upper(currency)
              AND f.rate > 0
              AND f.trade_date <= CAST(at_date AS DATE)
            ORDER BY f.trade_date DESC
            LIMIT 1
        )
    END
);
