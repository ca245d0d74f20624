-- core.prices_daily with its data-quality flags: every row, plus the anomaly kinds raised on it.
CREATE OR REPLACE VIEW core.prices_daily_flagged AS
SELECT
    p.*,
    a.kinds IS NOT NULL AS is_flagged,
    coalesce(a.kinds, []) AS anomaly_kinds
FROM core.prices_daily AS p
LEFT JOIN (
    SELECT ticker, trade_date, list(DISTINCT kind ORDER BY kind) AS kinds
    FROM dq.price_anomalies
    WHERE trade_date IS NOT NULL
    GROUP BY ALL
) AS a USING (ticker, trade_date);
