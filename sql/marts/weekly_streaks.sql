-- marts.weekly_streaks
--
-- Weekly closes and runs of consecutive weekly gains or losses for every instrument (FX
-- rates included) and for the HSTECH basket. A week runs Monday to Sunday and ends at the
-- close of its last trading day on the series' own exchange (a holiday Friday in Hong Kong
-- ends the week on Thursday). Total-return closes, data-error rows left out. The latest week
-- of a series is complete only when its last trading day is the calendar's last session of
-- that week (is_complete); a streak "up to a date" counts complete weeks ending on or before it.
--
-- Columns:
--   series          instrument ticker or HSTECH_BASKET
--   week_start      Monday of the week
--   week_end_date   the week's last trading day (its close ends the week)
--   close           total-return close (or basket level) on week_end_date
--   prev_week_end_date  last trading day of the previous week held
--   weekly_return   close / previous week's close - 1
--   direction       up, down or flat (null for the first week of a series)
--   streak_weeks    consecutive weeks in this direction up to and including this one
--   streak_start_week_end  week_end_date of the first week of the run
--   is_complete     false for a latest week that is not over (a week to date)

-- name: levels
SELECT r.ticker AS series, r.trade_date, r.adj_close AS level, i.calendar
FROM marts.returns_daily AS r
JOIN marts.instruments AS i USING (ticker)
WHERE NOT r.is_excluded
UNION ALL
SELECT series, trade_date, level, $basket_calendar AS calendar
FROM marts.hstech_basket
WHERE kind = 'basket'
ORDER BY series, trade_date
