-- marts.instruments
--
-- Every instrument of the universe (assets/universe.csv) with what the warehouse holds for
-- it: first and last price date and the number of price rows. The marts join it for a
-- ticker's name, group, exchange calendar and currency.
--
-- Columns:
--   ticker          universe symbol
--   name            company, index or currency pair
--   group           universe group: hstech, adr, us_bigtech, us_index, fx
--   is_equity       true for shares (hstech, adr, us_bigtech), false for indexes and FX rates
--   exchange        listing venue
--   currency        quote currency
--   calendar        exchange-calendars code of its sessions (XHKG, XNYS, 24/5)
--   hk_ticker       for an ADR, the Hong Kong line of the same company
--   adr_ratio       for an ADR, Hong Kong shares per ADS
--   first_date      first trade date held in core.prices_daily (null: no prices at all)
--   last_date       last trade date held
--   price_rows      rows held in core.prices_daily

-- name: mart
SELECT
    u.ticker, u.name, u."group", u."group" IN ('hstech', 'adr', 'us_bigtech') AS is_equity,
    u.exchange, u.currency, u.calendar, u.hk_ticker, u.adr_ratio,
    p.first_date, p.last_date, coalesce(p.price_rows, 0) AS price_rows
FROM _universe AS u
LEFT JOIN (
    SELECT ticker, min(trade_date) AS first_date, max(trade_date) AS last_date, count(*) AS price_rows
    FROM core.prices_daily
    GROUP BY ticker
) AS p USING (ticker)
ORDER BY u."group", u.ticker
