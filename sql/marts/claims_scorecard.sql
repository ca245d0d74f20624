-- marts.claims_scorecard
--
-- Every claim of assets/claims.csv recomputed from the warehouse, with a verdict: confirmed
-- (within tolerance), close (within close_within), contradicted, or not verifiable (the data
-- to check it is not in the warehouse; evidence says what is missing, nothing is invented).
-- A claim on Hang Seng TECH is checked on the basket approximation and flagged
-- is_approximation. Adding a claim is one line in assets/claims.csv when its metric exists
-- (metrics: assets/transforms/claims.py). A warehouse built from sample data marks every
-- row is_sample: such a scorecard says nothing about the real world.
--
-- Columns:
--   claim_id        the claim's id in assets/claims.csv
--   statement       the claim in plain words
--   claimed_value   the number claimed
--   computed_value  the number recomputed from the warehouse (null: not verifiable)
--   unit            unit of both numbers (% = percent, pp = percentage points, x = P/E multiple)
--   verdict         confirmed, close, contradicted or not verifiable
--   evidence        method, tickers, dates and sources used, the figures, and what is missing
--   as_of           date the claim is about
--   is_sample       true when the warehouse holds sample (synthetic) data
--   is_approximation  true when the value comes from an approximation (the HSTECH basket)
--   metric          metric that recomputes it
--   params          the metric's parameters as written in the claims file
--   test            approx, at_most or at_least: how computed and claimed are compared
--   tolerance       largest gap still confirmed
--   close_within    largest gap still close
--   claim_source    where the claim was made

-- name: performance
SELECT * FROM marts.performance WHERE list_contains($dates, as_of_date)

-- name: returns_daily
SELECT * FROM marts.returns_daily WHERE list_contains($dates, trade_date)

-- name: inputs
-- which tickers and series the warehouse has at all (a claim naming another is reported)
SELECT ticker AS name, price_rows > 0 AS present FROM marts.instruments
UNION ALL
SELECT DISTINCT series, true FROM marts.hstech_basket
UNION ALL
SELECT DISTINCT group_name, true FROM marts.group_members
