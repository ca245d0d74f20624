-- marts.adr_hk_premium
--
-- The premium of each US ADR over its Hong Kong line, in percent: the ADR close divided by
-- its ratio (Hong Kong shares per ADS, assets/universe.csv), converted to HKD at the USD/HKD
-- rate, against the Hong Kong close. Time zones line up: Hong Kong closes (16:00 HKT, 08:00
-- UTC) before New York opens on the same date, so each Hong Kong close is compared with the
-- last New York close before it in UTC (normally the previous US session; close instants
-- from the exchange calendars, half days and daylight saving included). Split-adjusted
-- closes of both lines (not dividend-adjusted: the premium is about prices traded), data
-- error rows left out. A pair without prices for either line has no rows, and the asset
-- says so; nothing is filled in.
--
-- Columns:
--   hk_ticker       Hong Kong line (9988.HK)
--   adr_ticker      US ADR (BABA)
--   hk_trade_date   Hong Kong trading date
--   hk_close        Hong Kong close, HKD
--   hk_close_utc    when that close happened (UTC)
--   adr_trade_date  New York trading date of the ADR close compared (before the HK close)
--   adr_close       ADR close, USD
--   adr_close_utc   when the ADR close happened (UTC)
--   hours_apart     hours from the ADR close to the Hong Kong close
--   adr_ratio       Hong Kong shares per ADS
--   fx_date         date of the USD/HKD rate used (last on or before the ADR's date)
--   hkd_per_usd     the rate
--   adr_hkd_per_share  ADR close / ratio x rate: the ADR's price of one Hong Kong share, HKD
--   premium_pct     100 x (adr_hkd_per_share / hk_close - 1)

-- name: pairs
SELECT ticker AS adr_ticker, hk_ticker, adr_ratio
FROM marts.instruments
WHERE "group" = 'adr' AND hk_ticker IS NOT NULL AND adr_ratio > 0
ORDER BY adr_ticker

-- name: closes
SELECT r.ticker, r.trade_date, r.close
FROM marts.returns_daily AS r
WHERE NOT r.is_excluded AND list_contains($tickers, r.ticker)
ORDER BY r.ticker, r.trade_date

-- name: hkd_rates
SELECT f.trade_date, f.rate
FROM core.fx_daily AS f
WHERE f.base = 'USD' AND f.quote = 'HKD'
ORDER BY f.trade_date
