-- Daily bars exactly as the source gave them: one row per ticker, source, file shape and date.
-- `shape` is 'history' (Ticker.history().to_csv(): Date with offset, Dividends, Stock Splits,
-- Adj Close only when auto_adjust=False) or 'download' (yfinance.download(): three header rows).
CREATE TABLE IF NOT EXISTS raw.prices_daily (
    ticker        VARCHAR NOT NULL,
    source        VARCHAR NOT NULL CHECK (source IN ('live', 'replay', 'sample')),
    shape         VARCHAR NOT NULL CHECK (shape IN ('history', 'download')),
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
    load_id       VARCHAR NOT NULL
    -- key: ticker, source, shape, trade_date
    -- (unique by the write path, assets/warehouse.py: an index over 12 M keys would hold GBs in memory)
);

-- One row per (ticker, exchange-local trade date). Every price is split-adjusted (Yahoo serves
-- Open/High/Low/Close adjusted for splits in both yfinance modes). `price_basis` says what else:
--   'split_adjusted'           close is Yahoo's Close (dividends not taken out); adj_close is
--                              Yahoo's Adj Close (splits and dividends): the total-return series
--   'split_dividend_adjusted'  the source adjusted close for dividends too (auto_adjust=True);
--                              adj_close = close
-- The invariants live here, so no write path can break them.
CREATE TABLE IF NOT EXISTS core.prices_daily (
    ticker       VARCHAR NOT NULL,
    trade_date   DATE NOT NULL,
    open         DOUBLE CHECK (open > 0 AND isfinite(open)),
    high         DOUBLE CHECK (high > 0 AND isfinite(high)),
    low          DOUBLE CHECK (low > 0 AND isfinite(low)),
    close        DOUBLE NOT NULL CHECK (close > 0 AND isfinite(close)),
    adj_close    DOUBLE NOT NULL CHECK (adj_close > 0 AND isfinite(adj_close)),
    volume       BIGINT CHECK (volume >= 0),
    dividend     DOUBLE NOT NULL CHECK (dividend >= 0),
    split_ratio  DOUBLE CHECK (split_ratio > 0),
    currency     VARCHAR NOT NULL,
    price_basis  VARCHAR NOT NULL CHECK (price_basis IN ('split_adjusted', 'split_dividend_adjusted')),
    source       VARCHAR NOT NULL CHECK (source IN ('live', 'replay', 'sample')),
    load_id      VARCHAR NOT NULL,
    loaded_at    TIMESTAMPTZ NOT NULL,
    -- key: ticker, trade_date (unique by the write path, like raw.prices_daily)
    CHECK (high IS NULL OR low IS NULL OR high >= low),
    CHECK (high IS NULL OR (high >= close AND (open IS NULL OR high >= open))),
    CHECK (low IS NULL OR (low <= close AND (open IS NULL OR low <= open)))
);

-- What the replay reader has read of each recorded price file, written with the raw load that
-- read it: `size` bytes, whose SHA-1 digest is `digest`. Recorders append (a gzip member or
-- lines per day), so once core has built that load, the next incremental load reads only the
-- bytes after `size` and skips a file unchanged; a file whose first `size` bytes differ, or that
-- shrank, is read whole again (assets/sources/replay.py).
CREATE TABLE IF NOT EXISTS raw.replay_files (
    path      VARCHAR NOT NULL PRIMARY KEY,  -- under the replay folder
    ticker    VARCHAR NOT NULL,
    size      BIGINT NOT NULL CHECK (size >= 0),
    digest    VARCHAR NOT NULL,
    load_id   VARCHAR NOT NULL,
    read_at   TIMESTAMPTZ NOT NULL
);
