-- Day-over-day FX moves above 5% that have no fx_jump flag in dq.price_anomalies. Computed
-- in SQL, independently of the Polars rule that writes the flags, so the check can catch it.
CREATE OR REPLACE VIEW dq.fx_unflagged_moves AS
WITH moves AS (
    SELECT
        trade_date, base, quote, rate,
        lag(rate) OVER (PARTITION BY base, quote ORDER BY trade_date) AS prev_rate
    FROM core.fx_daily
    WHERE rate > 0
)
SELECT m.*, m.rate / m.prev_rate - 1 AS move
FROM moves AS m
WHERE abs(m.rate / m.prev_rate - 1) > 0.05
  AND NOT EXISTS (
      SELECT 1 FROM dq.price_anomalies AS a
      WHERE a.kind = 'fx_jump'
        AND a.trade_date = m.trade_date
        AND a.ticker = CASE WHEN m.base = 'USD' THEN m.quote || '=X' ELSE m.base || m.quote || '=X' END
  );
