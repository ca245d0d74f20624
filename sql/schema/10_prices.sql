-- Daily bars exactly as the source gave them: one row per ticker, source, file shape and date.
-- `shape` is 'history' (Ticker.history().to_csv(): Date with offset, Dividends, Stock Splits,
-- Adj Close only when auto_adjust=False) or 'download' (yfinance.download(): three header rows).
CREATE TABLE IF NOT EXISTS raw.prices_daily (
    ticker        VARCHAR NOT NULL,
    source        VARCHAR NOT NULL,
    shape         VARCHAR NOT NULL,
    trade_date    DATE NOT NULL,
    source_date   VARCHAR NOT NULL,
    open          DOUBLE,
    high          DOUBLE,
    low           DOUBLE,
    close         DOUBLE,
    adj_close     DOUBLE,
    volume        DOUBLE,
    dividends     DOUBLE,
    stock_splits  DOUBLE,
    fetched_at    TIMESTAMPTZ NOT NULL,
    load_id       VARCHAR NOT NULL,
    PRIMARY KEY (ticker, source, shape, trade_date)
);

-- One row per (ticker, exchange-local trade date). `close` is the source's Close as given;
-- `price_basis` says whether the source had already adjusted every price for splits and
-- dividends ('adjusted': adj_close = close, never adjusted twice) or gave prices as traded
-- with a separate Adj Close ('unadjusted').
CREATE TABLE IF NOT EXISTS core.prices_daily (
    ticker       VARCHAR NOT NULL,
    trade_date   DATE NOT NULL,
    open         DOUBLE,
    high         DOUBLE,
    low          DOUBLE,
    close        DOUBLE NOT NULL,
    adj_close    DOUBLE NOT NULL,
    volume       BIGINT,
    dividend     DOUBLE NOT NULL,
    split_ratio  DOUBLE,
    currency     VARCHAR NOT NULL,
    price_basis  VARCHAR NOT NULL,
    source       VARCHAR NOT NULL,
    load_id      VARCHAR NOT NULL,
    loaded_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (ticker, trade_date)
);
