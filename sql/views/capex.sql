-- One latest annual capex value per company and fiscal year.
CREATE OR REPLACE VIEW core.capex_annual_latest AS
SELECT ticker, cik, fiscal_year, period_start, period_end, capex, currency, capex_usd,
       concept, source, form, accn, filed
FROM core.capex
WHERE duration = 'annual' AND is_latest
QUALIFY row_number() OVER (PARTITION BY ticker, fiscal_year ORDER BY period_end DESC) = 1;
