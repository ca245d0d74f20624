-- marts.group_members
--
-- Which tickers make up each group the marts report on: the universe's groups (hstech,
-- us_bigtech, ...) and the named groups of assets/groups.csv (china_big_four,
-- us_hyperscalers). capex_ticker is the ticker the company's capex is filed under (an ADR
-- for a Chinese SEC filer, so a company never counts twice).
--
-- Columns:
--   group_name      universe group or named group
--   ticker          price ticker of the member (a universe symbol)
--   capex_ticker    ticker of the member's capex in core.capex (null for universe groups)
--   company         company name
--   defined_in      where the membership comes from: universe.csv or groups.csv
--   in_universe     false when groups.csv names a ticker universe.csv does not have (a typo)

-- name: mart
SELECT
    "group" AS group_name, ticker, NULL::VARCHAR AS capex_ticker, name AS company,
    'universe.csv' AS defined_in, true AS in_universe
FROM _universe
UNION ALL
SELECT
    g."group" AS group_name, g.ticker, g.capex_ticker, g.company, 'groups.csv' AS defined_in,
    g.ticker IN (SELECT ticker FROM _universe) AS in_universe
FROM _groups AS g
ORDER BY group_name, ticker
