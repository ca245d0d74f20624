-- marts.capex_trend
--
-- Capital expenditure by company and year, in the reporting currency and in USD, with the
-- year-over-year change, on two bases: fiscal (each company's own fiscal year, Alibaba's
-- ending 31 March, Apple's in September, NVIDIA's in January) and calendar. A calendar year
-- says how it was aligned: fiscal_year_is_calendar (exact), calendarised_from_quarters (the
-- fiscal year holding most of the calendar year, minus and plus filed quarters: exact to
-- within days) or fiscal_year_majority (that fiscal year alone: an approximation, flagged).
-- Group totals (assets/groups.csv: China big four, US hyperscalers) are calendar-year USD
-- sums, present only when every member has the year; otherwise null, and missing names the
-- company-years without data. A company-year without data is a row with status 'no data',
-- never a zero. Input: the latest filed value per period of core.capex.
--
-- Columns:
--   entity          company ticker (as in core.capex: BABA for Alibaba) or group name
--   entity_kind     company or group
--   company         company name or group name
--   basis           fiscal or calendar
--   year            fiscal year (year of the period end) or calendar year
--   period_start    first day the figure covers
--   period_end      last day the figure covers
--   capex           capex in currency (null when there is no data)
--   currency        reporting currency (USD for group totals)
--   capex_usd       capex in USD at the average daily rate of each period (null without data or rate)
--   yoy_change      capex / previous year's capex - 1 on the same basis and currency
--   yoy_change_usd  the same in USD
--   alignment       fiscal_year, fiscal_year_is_calendar, calendarised_from_quarters or
--                   fiscal_year_majority (for a group: its members' alignments)
--   is_approximation  true when a calendar figure stands in for a fiscal year it does not match
--   status          reported, no data, no USD rate (companies); complete or incomplete (groups)
--   components      the fiscal year and quarters used, or why there is no figure
--   members         for a group, its members' capex tickers
--   missing         for a group, the member-years without a USD figure and why
--   source          where the figures come from: sec, curated, yfinance

-- name: capex
SELECT ticker, fiscal_year, duration, period_start, period_end, capex, currency, capex_usd, source
FROM core.capex
WHERE is_latest
ORDER BY ticker, period_end

-- name: companies
SELECT DISTINCT g.capex_ticker AS ticker, g.company
FROM marts.group_members AS g
WHERE g.capex_ticker IS NOT NULL
UNION
SELECT DISTINCT c.ticker, coalesce(i.name, c.ticker) AS company
FROM core.capex AS c
LEFT JOIN marts.instruments AS i USING (ticker)
ORDER BY ticker

-- name: groups
SELECT group_name AS "group", capex_ticker
FROM marts.group_members
WHERE capex_ticker IS NOT NULL
ORDER BY group_name, capex_ticker
