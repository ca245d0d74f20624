-- marts.performance
--
-- Returns per ticker, per basket and per group over YTD, 1M, 3M and 1Y, as of every date in
-- marts.as_of_dates (the latest trading day, each month end, every claim's date), in local
-- currency and in USD. Total-return basis: adj_close of marts.returns_daily, rows flagged as
-- data errors left out. FX rates are not instruments here (they are what converts to USD).
--
-- The end of a period is the last valid close on or before the as-of date (no older than
-- max_close_age_days, or the series has no row for that date). The start is the last valid
-- close on or before the period's start target: 31 December of the previous year for YTD
-- (so YTD starts from the last close of the previous year), the same day one or three months
-- or a year earlier otherwise. A series that did not trade near the start target has no
-- return, and note says why. return_usd converts both ends at the USD rate of their own day
-- (core.fx_daily, last rate on or before, no older than max_fx_age_days); without a rate it
-- is null, never a guess. A group row is the equal-weighted mean of its members' returns.
-- For returns between any two dates use the table macro marts.return_between(start, end).
--
-- Columns:
--   ticker          instrument symbol, basket series (HSTECH_BASKET) or group name
--   kind            instrument, basket or group
--   as_of_date      the date the return is measured to (from marts.as_of_dates)
--   period          YTD, 1M, 3M or 1Y
--   start_target    the date the period starts from (31 Dec of the previous year for YTD)
--   start_date      date of the close the return starts from (last valid close on or before
--                   start_target)
--   end_date        date of the close the return ends at (last valid close on or before
--                   as_of_date)
--   start_level     total-return close (or basket level) on start_date
--   end_level       total-return close (or basket level) on end_date
--   currency        local currency of the series (null for groups)
--   return_local    end_level / start_level - 1 in local currency (a fraction)
--   fx_start        units of currency per USD used for start_date (1 for USD)
--   fx_end          units of currency per USD used for end_date
--   return_usd      the same return for a USD investor; null without an FX rate for both ends
--   members         for a group, its members with a row on this date; 1 otherwise
--   members_with_return  for a group, members whose return is known (the mean is over them)
--   note            why a return is missing, or what a group mean left out

-- name: mart
WITH levels AS (
    SELECT r.ticker, 'instrument' AS kind, r.trade_date, r.adj_close AS level, r.currency
    FROM marts.returns_daily AS r
    JOIN marts.instruments AS i USING (ticker)
    WHERE NOT r.is_excluded AND i."group" <> 'fx'
    UNION ALL
    SELECT series, kind, trade_date, level, currency
    FROM marts.hstech_basket
    WHERE kind = 'basket'
),
fx AS (
    -- USD rates, leaving out days whose FX price row is flagged as a data error
    SELECT f.quote AS currency, f.trade_date AS fx_date, f.rate
    FROM core.fx_daily AS f
    WHERE f.base = 'USD'
      AND NOT EXISTS (
          SELECT 1 FROM marts.returns_daily AS r
          WHERE r.ticker = f.quote || '=X' AND r.trade_date = f.trade_date AND r.is_excluded
      )
),
series AS (
    SELECT ticker, kind, any_value(currency) AS currency FROM levels GROUP BY ticker, kind
),
periods AS (
    SELECT * FROM (VALUES ('YTD', 1), ('1M', 2), ('3M', 3), ('1Y', 4)) AS p(period, period_order)
),
targets AS (
    SELECT
        s.ticker, s.kind, s.currency, a.as_of_date, p.period, p.period_order,
        CASE p.period
            WHEN 'YTD' THEN make_date(year(a.as_of_date) - 1, 12, 31)
            WHEN '1M' THEN (a.as_of_date - INTERVAL 1 MONTH)::DATE
            WHEN '3M' THEN (a.as_of_date - INTERVAL 3 MONTH)::DATE
            WHEN '1Y' THEN (a.as_of_date - INTERVAL 1 YEAR)::DATE
        END AS start_target
    FROM series AS s
    CROSS JOIN marts.as_of_dates AS a
    CROSS JOIN periods AS p
),
ends AS (
    SELECT t.*, e.trade_date AS end_date, e.level AS end_level
    FROM targets AS t
    ASOF JOIN levels AS e ON e.ticker = t.ticker AND t.as_of_date >= e.trade_date
    WHERE e.trade_date >= t.as_of_date - CAST($max_close_age_days AS INTEGER)
),
spans AS (
    SELECT
        x.*,
        CASE WHEN s.trade_date >= x.start_target - CAST($max_close_age_days AS INTEGER) THEN s.trade_date END
            AS start_date,
        CASE WHEN s.trade_date >= x.start_target - CAST($max_close_age_days AS INTEGER) THEN s.level END
            AS start_level,
        s.trade_date AS nearest_start
    FROM ends AS x
    ASOF LEFT JOIN levels AS s ON s.ticker = x.ticker AND x.start_target >= s.trade_date
),
with_fx_end AS (
    SELECT sp.*, fe.fx_date AS fx_end_date, fe.rate AS fx_end_rate
    FROM spans AS sp
    ASOF LEFT JOIN fx AS fe ON fe.currency = sp.currency AND sp.end_date >= fe.fx_date
),
with_fx AS (
    SELECT w.*, fs.fx_date AS fx_start_date, fs.rate AS fx_start_rate
    FROM with_fx_end AS w
    ASOF LEFT JOIN fx AS fs ON fs.currency = w.currency AND w.start_date >= fs.fx_date
),
rows AS (
    SELECT
        ticker, kind, as_of_date, period, period_order, start_target, start_date, end_date,
        start_level, end_level, currency,
        end_level / start_level - 1 AS return_local,
        CASE
            WHEN currency = 'USD' THEN 1.0
            WHEN fx_start_date >= start_date - CAST($max_fx_age_days AS INTEGER) THEN fx_start_rate
        END AS fx_start,
        CASE
            WHEN currency = 'USD' THEN 1.0
            WHEN fx_end_date >= end_date - CAST($max_fx_age_days AS INTEGER) THEN fx_end_rate
        END AS fx_end,
        CASE
            WHEN start_date IS NULL AND nearest_start IS NULL
                THEN 'no close on or before ' || start_target || ': the series starts later'
            WHEN start_date IS NULL
                THEN 'no close within ' || $max_close_age_days || ' days before ' || start_target
                     || ' (nearest ' || nearest_start || ')'
        END AS start_note
    FROM with_fx
),
instrument_rows AS (
    SELECT
        *,
        (end_level / fx_end) / (start_level / fx_start) - 1 AS return_usd,
        1 AS members,
        CASE WHEN start_level IS NOT NULL THEN 1 ELSE 0 END AS members_with_return,
        coalesce(
            start_note,
            CASE WHEN fx_start IS NULL OR fx_end IS NULL
                THEN 'no ' || currency || ' per USD rate within ' || $max_fx_age_days || ' days of '
                     || CASE WHEN fx_start IS NULL THEN start_date ELSE end_date END
            END
        ) AS note
    FROM rows
),
group_rows AS (
    SELECT
        g.group_name AS ticker, 'group' AS kind, r.as_of_date, r.period, any_value(r.period_order) AS period_order,
        any_value(r.start_target) AS start_target,
        min(r.start_date) AS start_date, max(r.end_date) AS end_date,
        NULL::DOUBLE AS start_level, NULL::DOUBLE AS end_level, NULL::VARCHAR AS currency,
        avg(r.return_local) AS return_local,
        NULL::DOUBLE AS fx_start, NULL::DOUBLE AS fx_end,
        CASE WHEN count(r.return_usd) = count(r.return_local) THEN avg(r.return_usd) END AS return_usd,
        count(*) AS members,
        count(r.return_local) AS members_with_return,
        CASE
            WHEN count(r.return_local) < count(*)
                THEN 'mean over ' || count(r.return_local) || ' of ' || count(*) || ' members; no return for '
                     || string_agg(r.ticker, ', ' ORDER BY r.ticker) FILTER (WHERE r.return_local IS NULL)
            WHEN count(r.return_usd) < count(r.return_local)
                THEN 'no USD mean: no FX rate for ' || string_agg(r.ticker, ', ' ORDER BY r.ticker)
                     FILTER (WHERE r.return_usd IS NULL)
        END AS note
    FROM instrument_rows AS r
    JOIN marts.group_members AS g ON g.ticker = r.ticker
    WHERE r.kind = 'instrument'
      AND g.group_name IN (
          SELECT gm.group_name
          FROM marts.group_members AS gm
          JOIN marts.instruments AS i USING (ticker)
          GROUP BY gm.group_name
          HAVING bool_and(i.is_equity)
      )
    GROUP BY g.group_name, r.as_of_date, r.period
)
SELECT
    ticker, kind, as_of_date, period, start_target, start_date, end_date, start_level, end_level,
    currency, return_local, fx_start, fx_end, return_usd, members, members_with_return, note
FROM (
    SELECT * EXCLUDE (start_note) FROM instrument_rows
    UNION ALL BY NAME
    SELECT * FROM group_rows
)
ORDER BY kind DESC, ticker, as_of_date, period_order

-- name: macro
-- marts.return_between(start_date, end_date): every series' total return between two dates,
-- from the last valid close on or before each. Example:
--   SELECT * FROM marts.return_between(DATE '2025-01-01', DATE '2025-09-17') WHERE ticker = '9888.HK'
CREATE OR REPLACE MACRO marts.return_between(start_date, end_date) AS TABLE
WITH levels AS (
    SELECT r.ticker, r.trade_date, r.adj_close AS level, r.currency
    FROM marts.returns_daily AS r
    JOIN marts.instruments AS i USING (ticker)
    WHERE NOT r.is_excluded AND i."group" <> 'fx'
    UNION ALL
    SELECT series, trade_date, level, currency FROM marts.hstech_basket WHERE kind = 'basket'
),
bounds AS (
    SELECT CAST(start_date AS DATE) AS d0, CAST(end_date AS DATE) AS d1
),
series AS (
    SELECT l.ticker, any_value(l.currency) AS currency, any_value(b.d0) AS d0, any_value(b.d1) AS d1
    FROM levels AS l, bounds AS b
    GROUP BY l.ticker
),
ends AS (
    SELECT s.*, e.trade_date AS end_date, e.level AS end_level
    FROM series AS s ASOF JOIN levels AS e ON e.ticker = s.ticker AND s.d1 >= e.trade_date
)
SELECT
    x.ticker, x.currency, b.trade_date AS start_date, x.end_date, b.level AS start_level, x.end_level,
    x.end_level / b.level - 1 AS return_local
FROM ends AS x
ASOF JOIN levels AS b ON b.ticker = x.ticker AND x.d0 >= b.trade_date
ORDER BY x.ticker
