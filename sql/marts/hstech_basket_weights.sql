-- marts.hstech_basket_weights
--
-- The weights of marts.hstech_basket at each quarterly rebalance: which members, with what
-- weight, from which market cap (and which snapshot day), and whether the 8% cap bound. The
-- evidence behind the basket's method column.
--
-- Columns:
--   rebalance_date  last trading day of the quarter: the weights apply from the next session
--   ticker          member (a Hong Kong 'hstech' line with a close near that day)
--   weight          fraction of the basket at the rebalance (weights of a date sum to 1)
--   market_cap      market cap used (HKD), null when the quarter is equal-weighted
--   market_cap_as_of  snapshot day the market cap comes from
--   base_close      member's total-return close at the rebalance
--   method          market_cap_capped or equal_weight
--   capped          true when the 8% cap bound this member

-- name: mart
SELECT * FROM _weights ORDER BY rebalance_date, ticker
