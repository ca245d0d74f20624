-- marts.hstech_basket
--
-- APPROXIMATION of the Hang Seng TECH index from the universe's Hong Kong 'hstech' lines,
-- beside ^NDX, ^IXIC and ^GSPC on the same scale. It is not the official index: membership is
-- today's lines back-filled to the base date (survivorship bias), and weights are market caps
-- (not free float) capped at 8% per stock where every member's cap is known from a
-- fundamentals snapshot no older than a quarter, equal weights otherwise; the method column
-- says which, per quarter. Weights reset at the last trading day of each quarter and drift
-- with prices in between (buy and hold, like the index). Levels use total-return closes
-- (marts.returns_daily, data-error rows left out; a member that did not trade carries its
-- last close). Each quarter's weights are in marts.hstech_basket_weights. Settings:
-- assets/marts.toml [basket].
--
-- Columns:
--   series          HSTECH_BASKET for the basket, else the index ticker it is compared with
--   kind            basket or index
--   trade_date      exchange-local trading date of the series
--   level           basket level (base_level on the base date), or the index's close rebased
--                   to base_level on the same date
--   source_close    the index's own close (null for the basket, which has no official level)
--   daily_return    level / previous level - 1
--   currency        currency of the level (HKD for the basket)
--   members         members in the basket that day (null for indexes)
--   members_traded  members with a close that day (the others carry their last close)
--   rebalance_date  the quarter-end trading day whose weights apply (null for indexes)
--   method          market_cap_capped (market caps, 8% cap) or equal_weight; 'index' for an index
--   is_approximation  true for the basket: an approximation, never the official index
--   label           what the series is, in words

-- name: member_closes
SELECT r.ticker, r.trade_date, r.adj_close AS close
FROM marts.returns_daily AS r
JOIN marts.group_members AS g ON g.ticker = r.ticker AND g.group_name = 'hstech'
WHERE NOT r.is_excluded AND r.currency = $currency
ORDER BY r.ticker, r.trade_date

-- name: market_caps
-- market caps in the basket's currency from every snapshot day held
SELECT s.ticker, s.as_of_date, s.market_cap
FROM core.fundamentals_snapshot AS s
JOIN marts.group_members AS g ON g.ticker = s.ticker AND g.group_name = 'hstech'
WHERE s.market_cap > 0 AND s.currency = $currency
ORDER BY s.ticker, s.as_of_date

-- name: index_closes
SELECT r.ticker AS series, r.trade_date, r.adj_close AS close, r.currency
FROM marts.returns_daily AS r
WHERE NOT r.is_excluded AND list_contains($compare_with, r.ticker)
ORDER BY r.ticker, r.trade_date
