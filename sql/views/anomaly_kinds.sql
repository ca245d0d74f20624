-- What each anomaly kind in dq.price_anomalies means for a reader of prices. A data error says
-- the row's value is wrong (marts leave the row out of returns and say so); a warning says the
-- value stands but deserves care (marts use the row). Adding a kind is one line here; a kind
-- found in dq.price_anomalies but missing here is reported by the marts' checks.
CREATE OR REPLACE VIEW dq.anomaly_kinds AS
SELECT * FROM (VALUES
    ('unit_error',              true,  'close about 100x (or 1/100) off its neighbours, reverting within a few rows'),
    ('unit_switch',             true,  'the listing changes scale by about 100x for good without a split'),
    ('unreported_split',        true,  'close jumps by a common split ratio with no split action that day'),
    ('split_not_back_adjusted', true,  'a split action whose date still shows the jump (history not back-adjusted)'),
    ('source_disagreement',     true,  'the two recorded shapes of the same bar disagree beyond rounding'),
    ('conflicting_duplicate',   true,  'two versions of one bar with different closes; one was dropped'),
    ('future_date',             true,  'a bar dated after the day it was fetched'),
    ('fx_nonpositive',          true,  'an FX rate that is zero, negative or missing'),
    ('stale_series',            false, 'close unchanged for weeks (suspension or frozen feed)'),
    ('gap',                     false, 'missing exchange sessions beyond the calendar''s holidays'),
    ('no_data',                 false, 'a universe ticker with no price rows at all'),
    ('ohlc_inconsistent',       false, 'high/low contradicted open/close and were set to NULL; the close stands'),
    ('non_session_day',         false, 'a bar on a day the exchange calendar has no session'),
    ('fx_jump',                 false, 'an FX move above the limit in one day'),
    ('fx_gap',                  false, 'no FX rate for more than a week'),
    ('currency_mismatch',       false, 'a reported P/E mixing price and earnings currencies')
) AS k(kind, is_data_error, meaning);
