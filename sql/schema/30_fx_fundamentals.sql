-- FX rates and Yahoo fundamentals. Schemas raw/core/dq come from 00_schemas.sql.

-- Daily USD rates from Yahoo XXX=X closes: `rate` = units of `quote` per 1 `base` (base is
-- USD), weekday bars only (Yahoo's partial Saturday bar is dropped).
CREATE TABLE IF NOT EXISTS core.fx_daily (
    trade_date  DATE NOT NULL,
    base        VARCHAR NOT NULL CHECK (base = 'USD'),
    quote       VARCHAR NOT NULL CHECK (regexp_full_match(quote, '[A-Z]{3}')),
    rate        DOUBLE NOT NULL CHECK (rate > 0 AND isfinite(rate)),
    source      VARCHAR NOT NULL CHECK (source IN ('live', 'replay', 'sample')),
    PRIMARY KEY (trade_date, base, quote)
);

-- yfinance's Ticker.info exactly as fetched (or replayed), one document per ticker and day.
CREATE TABLE IF NOT EXISTS raw.fundamentals_info (
    ticker      VARCHAR NOT NULL,
    as_of_date  DATE NOT NULL,
    fetched_at  TIMESTAMPTZ NOT NULL,
    source      VARCHAR NOT NULL CHECK (source IN ('live', 'replay', 'sample')),
    info        JSON NOT NULL,
    PRIMARY KEY (ticker, as_of_date)
);

-- Typed snapshot of the info fields the marts use, with P/E recomputed in one currency.
-- `currency` is the quote currency of `price`; `financial_currency` the reporting currency.
-- Yahoo mixes the two in some fields (see assets/transforms/fundamentals.py): `eps_currency`
-- is the currency the EPS fields were found to be in, `eps_fx_rate` converts one unit of
-- financial_currency into the quote currency as of as_of_date.
CREATE TABLE IF NOT EXISTS core.fundamentals_snapshot (
    ticker                  VARCHAR NOT NULL,
    as_of_date              DATE NOT NULL,
    price                   DOUBLE,
    market_cap              DOUBLE CHECK (market_cap > 0),
    enterprise_value        DOUBLE,
    shares_outstanding      DOUBLE,
    trailing_pe             DOUBLE,
    forward_pe              DOUBLE,
    trailing_eps            DOUBLE,
    forward_eps             DOUBLE,
    price_to_book           DOUBLE,
    dividend_yield          DOUBLE,
    net_income_to_common    DOUBLE,
    currency                VARCHAR CHECK (regexp_full_match(currency, '[A-Z]{3}')),
    financial_currency      VARCHAR CHECK (regexp_full_match(financial_currency, '[A-Z]{3}')),
    source                  VARCHAR NOT NULL CHECK (source IN ('live', 'replay', 'sample')),
    fetched_at              TIMESTAMPTZ NOT NULL,
    eps_fx_rate             DOUBLE,
    eps_currency            VARCHAR,
    trailing_pe_recomputed  DOUBLE,
    forward_pe_recomputed   DOUBLE,
    PRIMARY KEY (ticker, as_of_date)
);

-- Annual statements in long form, values in `currency` (the ticker's financial currency),
-- line items under yfinance's own names ('Capital Expenditure', 'Total Revenue', ...).
CREATE TABLE IF NOT EXISTS core.financials_annual (
    ticker              VARCHAR NOT NULL,
    fiscal_period_end   DATE NOT NULL,
    statement           VARCHAR NOT NULL CHECK (statement IN ('income_statement', 'balance_sheet', 'cash_flow')),
    line_item           VARCHAR NOT NULL,
    value               DOUBLE NOT NULL CHECK (isfinite(value)),
    currency            VARCHAR,
    source              VARCHAR NOT NULL CHECK (source IN ('live', 'replay', 'sample')),
    fetched_at          TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (ticker, fiscal_period_end, statement, line_item)
);
