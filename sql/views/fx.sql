-- FX views and the USD conversion macro; run after the tables exist (sql/schema/30_*.sql).


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
