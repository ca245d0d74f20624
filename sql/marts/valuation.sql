-- marts.valuation
--
-- Group forward and trailing P/E on every fundamentals snapshot date, as the market-cap
-- weighted harmonic mean: total market cap over total earnings, sum(cap) / sum(cap / PE). P/E
-- are the fundamentals layer's recomputed ones (price over EPS converted to the quote
-- currency: Yahoo mixes HKD/USD prices with CNY earnings), so every member is in one
-- currency; market caps are converted to USD at the snapshot day's rate to weight across
-- currencies. Members without a positive P/E (losses, no estimate) are left out and the
-- coverage columns say how much of the group's market cap the figure stands for. HSTECH
-- members are compared with US big tech as a Nasdaq-100 proxy (relative_forward_pe). Before
-- the first snapshot there is no valuation: no row is made up.
--
-- Columns:
--   as_of_date      snapshot date (core.fundamentals_snapshot partition)
--   group_name      group (assets/marts.toml [valuation] groups)
--   members         members of the group with a snapshot that day
--   members_with_market_cap  members whose market cap converts to USD
--   market_cap_usd  the group's total market cap in USD
--   forward_pe      sum(cap) / sum(cap / forward P/E) over members with a positive forward P/E
--   members_forward  members in forward_pe
--   coverage_forward  share of the group's market cap in forward_pe
--   trailing_pe     the same with trailing P/E
--   members_trailing  members in trailing_pe
--   coverage_trailing  share of the group's market cap in trailing_pe
--   benchmark_group  the group compared against (US big tech, a Nasdaq-100 proxy)
--   relative_forward_pe  forward_pe / the benchmark's forward_pe that day (0.78 = 22% cheaper)
--   is_sample       true when the warehouse holds sample (synthetic) data

-- name: mart
WITH fx AS (
    SELECT quote AS currency, trade_date AS fx_date, rate FROM core.fx_daily WHERE base = 'USD'
),
snap AS (
    SELECT
        s.ticker, s.as_of_date, s.market_cap, s.currency,
        s.forward_pe_recomputed AS forward_pe, s.trailing_pe_recomputed AS trailing_pe,
        f.fx_date, f.rate
    FROM core.fundamentals_snapshot AS s
    ASOF LEFT JOIN fx AS f ON f.currency = s.currency AND s.as_of_date >= f.fx_date
),
usd AS (
    SELECT
        *,
        CASE
            WHEN currency = 'USD' THEN market_cap
            WHEN fx_date >= as_of_date - CAST($max_fx_age_days AS INTEGER) THEN market_cap / rate
        END AS cap_usd
    FROM snap
),
grouped AS (
    SELECT
        u.as_of_date, g.group_name,
        count(*) AS members,
        count(u.cap_usd) AS members_with_market_cap,
        sum(u.cap_usd) AS market_cap_usd,
        sum(u.cap_usd) FILTER (WHERE u.forward_pe > 0) / sum(u.cap_usd / u.forward_pe) FILTER (WHERE u.forward_pe > 0)
            AS forward_pe,
        count(u.cap_usd) FILTER (WHERE u.forward_pe > 0) AS members_forward,
        sum(u.cap_usd) FILTER (WHERE u.forward_pe > 0) / sum(u.cap_usd) AS coverage_forward,
        sum(u.cap_usd) FILTER (WHERE u.trailing_pe > 0) / sum(u.cap_usd / u.trailing_pe) FILTER (WHERE u.trailing_pe > 0)
            AS trailing_pe,
        count(u.cap_usd) FILTER (WHERE u.trailing_pe > 0) AS members_trailing,
        sum(u.cap_usd) FILTER (WHERE u.trailing_pe > 0) / sum(u.cap_usd) AS coverage_trailing
    FROM usd AS u
    JOIN marts.group_members AS g ON g.ticker = u.ticker
    WHERE list_contains($groups, g.group_name)
    GROUP BY u.as_of_date, g.group_name
)
SELECT
    g.*,
    $benchmark_group AS benchmark_group,
    g.forward_pe / b.forward_pe AS relative_forward_pe,
    (SELECT source_mode = 'sample' FROM meta.warehouse) AS is_sample
FROM grouped AS g
LEFT JOIN grouped AS b ON b.as_of_date = g.as_of_date AND b.group_name = $benchmark_group
ORDER BY g.as_of_date, g.group_name
