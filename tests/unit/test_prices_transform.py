"""Pure tests of assets/transforms/prices.py: the two yfinance CSV shapes and the core build."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from assets.sources.errors import SourceError
from assets.transforms.prices import (
    ANOMALY_SCHEMA,
    CORE_PRICES_SCHEMA,
    RAW_PRICES_SCHEMA,
    REJECTED_SCHEMA,
    SPLIT_ADJUSTED,
    SPLIT_DIVIDEND_ADJUSTED,
    build_core,
    conflict_anomalies,
    empty_raw,
    exchange_tz,
    new_actions,
    normalize_download,
    normalize_history,
    normalize_history_many,
    read_download_csv,
    resolve_duplicates,
    to_split_dividend_adjusted,
)
from assets.universe import load_universe

TODAY = date(2026, 8, 21)
MON = date(2024, 12, 2)

# Ticker.history().to_csv(): dividends folded in (auto_adjust=True), no Adj Close (real 9888.HK
# first rows, then made-up).
HISTORY_CSV = """Date,Open,High,Low,Close,Volume,Dividends,Stock Splits
2021-03-23 00:00:00+08:00,254.0,256.6000061035156,251.60000610351562,252.0,14625056,0.0,0.0
2021-03-24 00:00:00+08:00,254.1999969482422,254.1999969482422,249.39999389648438,250.8000030517578,5534503,0.0,0.0
2021-03-25 00:00:00+08:00,250.0,251.0,245.0,246.0,4000000,1.5,0.0
"""

# Ticker.history(auto_adjust=False).to_csv(): split-adjusted prices with a separate Adj Close.
HISTORY_ADJ_CSV = """Date,Open,High,Low,Close,Adj Close,Volume,Dividends,Stock Splits
2020-01-02 00:00:00-05:00,216.6,219.98,216.54,219.77,212.24,15873500,0.0,0.0
2020-01-03 00:00:00-05:00,214.0,218.0,213.0,217.0,210.0,12000000,0.0,2.0
"""

# yfinance.download(...).to_csv(): three header rows, dates without time.
DOWNLOAD_CSV = """Price,Adj Close,Close,High,Low,Open,Volume
Ticker,^NDX,^NDX,^NDX,^NDX,^NDX,^NDX
Date,,,,,,
2024-12-30,21000.0,21000.0,21100.0,20900.0,21050.0,5000
2024-12-31,21012.17,21012.17,21200.0,20950.0,21100.0,6000
"""

TWO_TICKER_CSV = """Price,Adj Close,Adj Close,Close,Close,High,High,Low,Low,Open,Open,Volume,Volume
Ticker,AAPL,MSFT,AAPL,MSFT,AAPL,MSFT,AAPL,MSFT,AAPL,MSFT,AAPL,MSFT
Date,,,,,,,,,,,,
2024-01-02,184.0,367.0,185.6,370.9,188.4,375.9,183.9,366.5,187.2,373.9,82488700,25258600
2024-01-03,182.6,367.5,184.3,370.6,185.9,373.3,183.4,368.5,184.2,369.0,58414500,23083500
2024-01-04,,366.0,,369.0,,372.0,,366.0,,370.0,,20000000
"""


def hist_frame(text: str) -> pl.DataFrame:
    """As the replay reader reads a file: every column as text."""
    return pl.read_csv(io.StringIO(text), infer_schema=False)


@pytest.fixture(scope="module")
def universe() -> pl.DataFrame:
    return load_universe()


def raw_rows(ticker: str, rows: list[dict], shape: str = "history", source: str = "test") -> pl.DataFrame:
    """Raw-schema rows from short dicts (trade_date, open, high, low, close, ... ; the rest null/0)."""
    full = []
    for r in rows:
        d = r["trade_date"]
        full.append(
            {
                "ticker": ticker,
                "source": source,
                "shape": shape,
                "trade_date": d,
                "source_date": d.isoformat(),
                "open": r.get("open", r.get("close")),
                "high": r.get("high", r.get("close")),
                "low": r.get("low", r.get("close")),
                "close": r.get("close"),
                "adj_close": r.get("adj_close"),
                "volume": r.get("volume", 1000.0),
                "dividends": r.get("dividends", 0.0),
                "stock_splits": r.get("stock_splits", 0.0),
            }
        )
    return pl.DataFrame(full, schema=RAW_PRICES_SCHEMA)


# ---------------------------------------------------------------- normalize_history


def test_history_date_header_and_offset_calendar_date() -> None:
    raw = normalize_history("9888.HK", hist_frame(HISTORY_CSV), "replay")

    assert raw.schema == pl.Schema(RAW_PRICES_SCHEMA)
    assert raw["trade_date"].to_list() == [date(2021, 3, 23), date(2021, 3, 24), date(2021, 3, 25)]
    assert raw["source_date"][0] == "2021-03-23 00:00:00+08:00"
    assert raw["close"].to_list() == pytest.approx([252.0, 250.8000030517578, 246.0])
    assert raw["volume"][0] == 14625056.0
    assert raw["adj_close"].is_null().all()  # no Adj Close column: left null
    assert raw["dividends"].to_list() == [0.0, 0.0, 1.5]
    assert set(raw["ticker"]) == {"9888.HK"}
    assert set(raw["source"]) == {"replay"}
    assert set(raw["shape"]) == {"history"}


def test_history_datetime_header_with_adj_close() -> None:
    text = HISTORY_ADJ_CSV.replace("Date,", "Datetime,", 1)
    raw = normalize_history("BABA", hist_frame(text), "live")

    assert raw["trade_date"].to_list() == [date(2020, 1, 2), date(2020, 1, 3)]
    assert raw["close"].to_list() == [219.77, 217.0]
    assert raw["adj_close"].to_list() == [212.24, 210.0]
    assert raw["stock_splits"].to_list() == [0.0, 2.0]


def test_history_columns_in_any_order() -> None:
    frame = hist_frame(HISTORY_ADJ_CSV)
    shuffled = frame.select(list(reversed(frame.columns)))
    assert shuffled.columns[0] == "Stock Splits"

    a = normalize_history("BABA", frame, "live")
    b = normalize_history("BABA", shuffled, "live")

    assert a.equals(b)


def test_history_columns_typed_numbers_also_work() -> None:
    """A frame read with type inference (numbers already floats/ints) gives the same rows."""
    typed = pl.read_csv(io.StringIO(HISTORY_CSV))
    assert typed.schema["Volume"] == pl.Int64
    assert normalize_history("9888.HK", typed, "replay").equals(
        normalize_history("9888.HK", hist_frame(HISTORY_CSV), "replay")
    )


def test_history_rows_in_any_order_are_sorted_and_deduplicated() -> None:
    lines = HISTORY_CSV.strip().splitlines()
    header, body = lines[0], lines[1:]
    messy = "\n".join([header, body[2], body[0], body[1], body[0], body[2]]) + "\n"

    raw = normalize_history("9888.HK", hist_frame(messy), "replay")
    assert raw["trade_date"].is_sorted()
    kept, conflicts = resolve_duplicates(raw)

    assert kept.height == 3 and conflicts.is_empty()  # exact copies vanish silently
    assert kept.equals(normalize_history("9888.HK", hist_frame(HISTORY_CSV), "replay"))


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2021-03-23 00:00:00+08:00", date(2021, 3, 23)),  # HK midnight is 16:00 UTC the day before
        ("2024-03-31 00:00:00+01:00", date(2024, 3, 31)),  # London BST FX bar: 23:00 UTC on the 30th
        ("2024-01-02 00:00:00+00:00", date(2024, 1, 2)),
        ("2024-11-01 00:00:00-04:00", date(2024, 11, 1)),  # New York EDT
        ("2024-12-02 00:00:00-05:00", date(2024, 12, 2)),
        ("2024-12-02 23:59:59-05:00", date(2024, 12, 2)),  # 04:59 UTC the next day
        ("2024-12-02", date(2024, 12, 2)),
    ],
)
def test_trade_date_is_calendar_date_in_its_own_offset(stamp: str, expected: date) -> None:
    frame = pl.DataFrame({"Date": [stamp], "Open": ["1"], "High": ["1"], "Low": ["1"], "Close": ["1"], "Volume": ["0"]})
    raw = normalize_history("X", frame, "test")
    assert raw["trade_date"].to_list() == [expected]
    assert raw["source_date"].to_list() == [stamp]


@pytest.mark.parametrize("bad", ["not-a-date", "2024-13-40 00:00:00+00:00", ""])
def test_bad_date_raises_source_error_naming_ticker(bad: str) -> None:
    one = ["1", "1"]
    frame = pl.DataFrame(
        {"Date": ["2024-01-02", bad], "Open": one, "High": one, "Low": one, "Close": one, "Volume": one}
    )
    with pytest.raises(SourceError) as err:
        normalize_history("0700.HK", frame, "test")
    assert err.value.key == "0700.HK"
    assert "0700.HK" in str(err.value)
    assert "date" in err.value.problem


def test_history_without_date_or_price_columns_raises() -> None:
    with pytest.raises(SourceError, match="AAPL"):
        normalize_history("AAPL", pl.DataFrame({"When": ["2024-01-02"], "Close": ["1"]}), "test")
    with pytest.raises(SourceError, match=r"AAPL.*Low"):
        frame = pl.DataFrame({"Date": ["2024-01-02"], "Open": ["1"], "High": ["1"], "Close": ["1"], "Volume": ["1"]})
        normalize_history("AAPL", frame, "test")


# ---------------------------------------------------------------- download shape


def test_read_download_csv_long_form() -> None:
    long = read_download_csv(DOWNLOAD_CSV)

    assert long.columns == ["ticker", "field", "Date", "value"]
    assert long.height == 2 * 6
    assert set(long["ticker"]) == {"^NDX"}
    assert set(long["field"]) == {"Adj Close", "Close", "High", "Low", "Open", "Volume"}
    close = long.filter((pl.col("field") == "Close") & (pl.col("Date") == "2024-12-31"))["value"]
    assert close.to_list() == [21012.17]


def test_read_download_csv_accepts_bytes_and_rejects_other_shapes() -> None:
    assert read_download_csv(DOWNLOAD_CSV.encode()).equals(read_download_csv(DOWNLOAD_CSV))
    with pytest.raises(SourceError, match="myfile"):
        read_download_csv(HISTORY_CSV, name="myfile")
    with pytest.raises(SourceError):
        read_download_csv("Price,Close\n")


def test_normalize_download_single_ticker() -> None:
    raw = normalize_download(read_download_csv(DOWNLOAD_CSV), "replay")

    assert raw.schema == pl.Schema(RAW_PRICES_SCHEMA)
    assert raw["trade_date"].to_list() == [date(2024, 12, 30), date(2024, 12, 31)]
    assert raw["close"].to_list() == [21000.0, 21012.17]
    assert raw["adj_close"].to_list() == [21000.0, 21012.17]
    assert raw["open"].to_list() == [21050.0, 21100.0]
    assert raw["volume"].to_list() == [5000.0, 6000.0]
    assert set(raw["shape"]) == {"download"}
    assert raw["dividends"].is_null().all() and raw["stock_splits"].is_null().all()


def test_normalize_download_two_tickers() -> None:
    raw = normalize_download(read_download_csv(TWO_TICKER_CSV), "replay").sort("ticker", "trade_date")

    assert raw.group_by("ticker").len().sort("ticker").rows() == [("AAPL", 2), ("MSFT", 3)]
    aapl = raw.filter(pl.col("ticker") == "AAPL")
    msft = raw.filter(pl.col("ticker") == "MSFT")
    assert aapl["close"].to_list()[:2] == [185.6, 184.3]
    assert aapl["adj_close"].to_list()[:2] == [184.0, 182.6]
    assert aapl.height == 2  # AAPL has no value on the third date: no bar, not a bad bar
    assert msft["close"].to_list() == [370.9, 370.6, 369.0]
    assert msft["high"].to_list() == [375.9, 373.3, 372.0]
    assert msft["volume"].to_list() == [25258600.0, 23083500.0, 20000000.0]


def test_normalize_download_empty() -> None:
    long = read_download_csv(DOWNLOAD_CSV).clear()
    assert normalize_download(long, "replay").equals(empty_raw())


# ---------------------------------------------------------------- build_core


def test_history_without_adj_close_is_split_dividend_adjusted_never_readjusted(universe: pl.DataFrame) -> None:
    raw = normalize_history("9888.HK", hist_frame(HISTORY_CSV), "replay")

    core, rejected, anomalies = build_core(raw, universe, today=TODAY)

    assert core.schema == pl.Schema(CORE_PRICES_SCHEMA)
    assert rejected.is_empty() and anomalies.is_empty()
    assert set(core["price_basis"]) == {SPLIT_DIVIDEND_ADJUSTED}
    assert core["adj_close"].to_list() == core["close"].to_list()
    # the 1.5 dividend on the last row is carried, but nothing before it is re-adjusted
    assert core["dividend"].to_list() == [0.0, 0.0, 1.5]
    assert core["close"].to_list() == pytest.approx([252.0, 250.8000030517578, 246.0])
    assert core["currency"].to_list() == ["HKD"] * 3
    assert core["volume"].dtype == pl.Int64
    assert core["volume"][0] == 14625056


def test_history_with_adj_close_is_split_adjusted(universe: pl.DataFrame) -> None:
    raw = normalize_history("BABA", hist_frame(HISTORY_ADJ_CSV), "live")

    core, rejected, _ = build_core(raw, universe, today=TODAY)

    assert rejected.is_empty()
    assert set(core["price_basis"]) == {SPLIT_ADJUSTED}
    assert core["close"].to_list() == [219.77, 217.0]
    assert core["adj_close"].to_list() == [212.24, 210.0]
    assert core["currency"].to_list() == ["USD", "USD"]
    assert set(core["source"]) == {"live"}


def test_split_ratio_null_when_no_split(universe: pl.DataFrame) -> None:
    raw = normalize_history("BABA", hist_frame(HISTORY_ADJ_CSV), "live")
    core, _, _ = build_core(raw, universe, today=TODAY)
    assert core["split_ratio"].to_list() == [None, 2.0]


def test_both_shapes_merge_by_date_preferring_history(universe: pl.DataFrame) -> None:
    d1, d2, d3 = date(2024, 12, 2), date(2024, 12, 3), date(2024, 12, 4)
    hist = raw_rows("^NDX", [{"trade_date": d1, "close": 100.0}, {"trade_date": d2, "close": 101.0}])
    down = raw_rows(
        "^NDX",
        [
            {"trade_date": d2, "close": 101.00002, "adj_close": 101.00002, "volume": 7.0},
            {"trade_date": d3, "close": 102.0, "adj_close": 102.0},
        ],
        shape="download",
    )
    # the adapter puts download rows onto the history file's basis (no Adj Close there)
    down = to_split_dividend_adjusted(down)

    core, rejected, anomalies = build_core(pl.concat([down, hist]), universe, today=TODAY)

    assert rejected.is_empty()
    assert core["trade_date"].to_list() == [d1, d2, d3]
    # d2 from history (its volume 1000, not the download's 7); d3 only in download
    assert core["close"].to_list() == [100.0, 101.0, 102.0]
    assert core["volume"].to_list() == [1000, 1000, 1000]
    assert core["price_basis"].to_list() == [SPLIT_DIVIDEND_ADJUSTED] * 3
    assert anomalies.is_empty()  # 101.0 vs 101.00002: within rounding


def test_shape_disagreement_beyond_rounding_is_an_anomaly(universe: pl.DataFrame) -> None:
    d = date(2024, 12, 2)
    hist = raw_rows("CNY=X", [{"trade_date": d, "close": 7.20}])
    down = raw_rows("CNY=X", [{"trade_date": d, "close": 7.30, "adj_close": 7.30}], shape="download")

    core, _, anomalies = build_core(pl.concat([hist, down]), universe, today=TODAY)

    assert core["close"].to_list() == [7.20]  # history kept
    assert anomalies.select("ticker", "trade_date", "kind").rows() == [("CNY=X", d, "source_disagreement")]
    assert "7.2" in anomalies["detail"][0] and "7.3" in anomalies["detail"][0]


@pytest.mark.parametrize(
    ("row", "bad"),
    [
        ({"open": 10.0, "high": 9.5, "low": 9.0, "close": 9.8}, "high below open"),
        ({"open": 9.0, "high": 9.5, "low": 8.5, "close": 9.9}, "high below close"),
        ({"open": 9.0, "high": 10.0, "low": 9.2, "close": 9.8}, "low above open"),
        ({"open": 9.9, "high": 10.0, "low": 9.5, "close": 9.4}, "low above close"),
    ],
)
def test_contradictory_high_low_keeps_close_and_is_flagged(universe: pl.DataFrame, row: dict, bad: str) -> None:
    d = date(2024, 12, 2)
    good = {"trade_date": date(2024, 12, 3), "open": 9.0, "high": 10.0, "low": 8.0, "close": 9.5}
    raw = raw_rows("0700.HK", [{"trade_date": d, **row}, good])

    core, rejected, anomalies = build_core(raw, universe, today=TODAY)

    assert rejected.is_empty(), bad
    first = core.row(0, named=True)
    assert first["close"] == row["close"] and first["open"] == row["open"]
    assert first["high"] is None and first["low"] is None
    assert core.row(1, named=True)["high"] == 10.0 and core.row(1, named=True)["low"] == 8.0
    assert anomalies.select("ticker", "trade_date", "kind").rows() == [("0700.HK", d, "ohlc_inconsistent")]


@pytest.mark.parametrize(
    ("ticker", "row", "reason"),
    [
        ("AAPL", {"trade_date": date(2024, 12, 2), "close": 0.0}, "non_positive_price"),
        ("AAPL", {"trade_date": date(2024, 12, 2), "close": 5.0, "low": -1.0}, "non_positive_price"),
        ("AAPL", {"trade_date": MON, "open": 1.0, "high": 1.0, "low": 1.0, "close": None}, "missing_close"),
        ("AAPL", {"trade_date": date(2024, 12, 2), "close": 5.0, "volume": -3.0}, "negative_volume"),
        ("AAPL", {"trade_date": date(2024, 12, 2), "close": 5.0, "dividends": -0.2}, "negative_dividend"),
        ("AAPL", {"trade_date": date(2024, 12, 2), "close": 5.0, "adj_close": 0.0}, "non_positive_price"),
        ("AAPL", {"trade_date": date(2024, 12, 2), "close": float("nan")}, "non_finite_price"),
        ("AAPL", {"trade_date": date(2024, 12, 2), "close": float("-inf")}, "non_finite_price"),
        ("AAPL", {"trade_date": date(2024, 12, 7), "close": 5.0}, "non_session_day"),  # Saturday
        ("AAPL", {"trade_date": date(2026, 8, 24), "close": 5.0}, "future_date"),
        ("CNY=X", {"trade_date": date(2024, 12, 7), "close": 7.26}, "weekend_fx_bar"),  # Saturday
        ("HKD=X", {"trade_date": date(2024, 12, 8), "close": 7.78}, "weekend_fx_bar"),  # Sunday
        ("ZZZZ", {"trade_date": date(2024, 12, 2), "close": 5.0}, "ticker_not_in_universe"),
    ],
)
def test_unusable_rows_are_rejected_with_reason(universe: pl.DataFrame, ticker: str, row: dict, reason: str) -> None:
    ok = raw_rows("AAPL", [{"trade_date": date(2024, 12, 3), "close": 5.0}])
    raw = pl.concat([raw_rows(ticker, [row]), ok])

    core, rejected, _ = build_core(raw, universe, today=TODAY)

    assert rejected.schema == pl.Schema(REJECTED_SCHEMA)
    assert rejected.select("ticker", "trade_date", "reason").rows() == [(ticker, row["trade_date"], reason)]
    assert json.loads(rejected["row_json"][0])["source_date"] == row["trade_date"].isoformat()
    assert core.select("ticker", "trade_date").rows() == [("AAPL", date(2024, 12, 3))]


def test_weekday_fx_bars_kept_and_weekend_equity_bars_are_non_session(universe: pl.DataFrame) -> None:
    fri, sat = date(2024, 12, 6), date(2024, 12, 7)
    raw = pl.concat(
        [raw_rows("CNY=X", [{"trade_date": fri, "close": 7.25}]), raw_rows("AAPL", [{"trade_date": sat, "close": 9.0}])]
    )
    core, rejected, _ = build_core(raw, universe, today=TODAY)
    assert rejected.select("ticker", "reason").rows() == [("AAPL", "non_session_day")]
    assert core.select("ticker", "trade_date").rows() == [("CNY=X", fri)]


def test_today_is_not_future(universe: pl.DataFrame) -> None:
    core, rejected, _ = build_core(raw_rows("AAPL", [{"trade_date": TODAY, "close": 1.0}]), universe, today=TODAY)
    assert rejected.is_empty() and core.height == 1


def test_build_core_empty(universe: pl.DataFrame) -> None:
    core, rejected, anomalies = build_core(empty_raw(), universe, today=TODAY)
    assert core.is_empty() and rejected.is_empty() and anomalies.is_empty()
    assert core.schema == pl.Schema(CORE_PRICES_SCHEMA)


def test_download_empty_cells_in_two_ticker_file_are_no_bar(universe: pl.DataFrame) -> None:
    """A date on which only one ticker of a multi-ticker file traded is absent for the other, not bad."""
    raw = normalize_download(read_download_csv(TWO_TICKER_CSV), "replay")
    core, rejected, _ = build_core(raw, universe, today=TODAY)
    assert rejected.is_empty()
    assert core.group_by("ticker").len().sort("ticker").rows() == [("AAPL", 2), ("MSFT", 3)]
    assert date(2024, 1, 4) not in core.filter(pl.col("ticker") == "AAPL")["trade_date"].to_list()


# ---------------------------------------------------------------- new_actions


def test_new_actions_only_after_held_date() -> None:
    held = date(2024, 6, 30)
    after = date(2024, 7, 1)
    raw = pl.concat(
        [
            raw_rows("DIVAFTER", [{"trade_date": date(2024, 7, 1), "close": 1.0, "dividends": 0.2}]),
            raw_rows("SPLITAFTER", [{"trade_date": date(2024, 7, 5), "close": 1.0, "stock_splits": 10.0}]),
            raw_rows("ONHELD", [{"trade_date": held, "close": 1.0, "dividends": 0.2}]),
            raw_rows("BEFORE", [{"trade_date": date(2024, 1, 2), "close": 1.0, "stock_splits": 2.0}]),
            raw_rows("QUIET", [{"trade_date": date(2024, 7, 1), "close": 1.0}]),
            raw_rows("NULLS", [{"trade_date": after, "close": 1.0, "dividends": None, "stock_splits": None}]),
            raw_rows("NOTHELD", [{"trade_date": date(2024, 7, 1), "close": 1.0, "dividends": 0.5}]),
        ]
    )
    held_until = {t: held for t in ("DIVAFTER", "SPLITAFTER", "ONHELD", "BEFORE", "QUIET", "NULLS")}

    assert new_actions(raw, held_until) == ["DIVAFTER", "SPLITAFTER"]
    assert new_actions(raw, {}) == []
    assert new_actions(empty_raw(), held_until) == []


def test_download_rows_filling_adjusted_history_are_rescaled(universe: pl.DataFrame) -> None:
    """A split-adjusted download day next to a dividend-adjusted history goes onto its basis."""
    d1, d2 = date(2024, 12, 2), date(2024, 12, 3)
    hist = raw_rows("^NDX", [{"trade_date": d1, "close": 50.0}])
    down = raw_rows(
        "^NDX",
        [{"trade_date": d2, "open": 100.0, "high": 104.0, "low": 98.0, "close": 102.0, "adj_close": 51.0}],
        shape="download",
    )
    rescaled = to_split_dividend_adjusted(down)
    assert rescaled["adj_close"].to_list() == [None]  # now shaped like auto_adjust=True
    core, _, _ = build_core(pl.concat([hist, rescaled]), universe, today=TODAY)
    day2 = core.filter(pl.col("trade_date") == d2).row(0, named=True)
    assert day2["close"] == pytest.approx(51.0)
    assert day2["adj_close"] == pytest.approx(51.0)
    assert (day2["open"], day2["high"], day2["low"]) == pytest.approx((50.0, 52.0, 49.0))
    assert day2["price_basis"] == SPLIT_DIVIDEND_ADJUSTED


# ---------------------------------------------------------------- non-finite numbers

# Real 9888.HK rows (2025-09-15..18) with NaN/inf written into some cells, as pandas writes them.
NAN_HISTORY_CSV = """Date,Open,High,Low,Close,Volume,Dividends,Stock Splits
2025-09-15 00:00:00+08:00,113.80000305175781,114.69999694824219,111.4000015258789,nan,29010044,0.0,0.0
2025-09-16 00:00:00+08:00,NaN,NaN,NaN,113.19999694824219,NaN,0.0,0.0
2025-09-17 00:00:00+08:00,121.0,inf,120.19999694824219,inf,68712957,0.0,0.0
2025-09-18 00:00:00+08:00,135.0,138.39999389648438,130.1999969482422,132.8000030517578,52096697,0.0,0.0
"""


def test_nan_and_inf_close_are_rejected_nan_ohlc_is_missing(universe: pl.DataFrame) -> None:
    raw = normalize_history("9888.HK", hist_frame(NAN_HISTORY_CSV), "replay", tz="Asia/Hong_Kong")
    assert raw["close"].is_nan().sum() == 1 and raw["close"].is_infinite().sum() == 1  # raw keeps them

    core, rejected, _ = build_core(raw, universe, today=TODAY)

    assert rejected.select("trade_date", "reason").rows() == [
        (date(2025, 9, 15), "non_finite_price"),
        (date(2025, 9, 17), "non_finite_price"),
    ]
    assert json.loads(rejected["row_json"][0])["non_finite"] == "close=NaN"
    assert json.loads(rejected["row_json"][1])["non_finite"] == "high=inf,close=inf"
    assert core["trade_date"].to_list() == [date(2025, 9, 16), date(2025, 9, 18)]
    nan_day = core.row(0, named=True)
    assert nan_day["close"] == pytest.approx(113.2)
    assert (nan_day["open"], nan_day["high"], nan_day["low"], nan_day["volume"]) == (None, None, None, None)
    assert core["close"].is_finite().all()


def test_nan_adj_close_is_rejected_not_read_as_dividend_adjusted(universe: pl.DataFrame) -> None:
    """An empty or NaN Adj Close cell must not turn the row into split_dividend_adjusted."""
    text = HISTORY_ADJ_CSV.replace(",212.24,", ",,").replace(",210.0,", ",NaN,")
    raw = normalize_history("BABA", hist_frame(text), "live")
    core, rejected, _ = build_core(raw, universe, today=TODAY)
    assert core.is_empty()
    assert rejected["reason"].to_list() == ["non_finite_price", "non_finite_price"]


# ---------------------------------------------------------------- time zones


@pytest.mark.parametrize(
    ("calendar", "tz"),
    [("XHKG", "Asia/Hong_Kong"), ("XNYS", "America/New_York"), ("24/5", None), (None, None), ("", None)],
)
def test_exchange_tz(calendar: str | None, tz: str | None) -> None:
    assert exchange_tz(calendar) == tz


def test_exchange_tz_unknown_calendar() -> None:
    with pytest.raises(ValueError, match="XXXX"):
        exchange_tz("XXXX")


@pytest.mark.parametrize(
    ("stamp", "tz", "expected"),
    [
        # 11:00 New York on the 16th is 00:00 on the 17th in Hong Kong: not a day early
        ("2025-09-16T11:00:00-05:00", "Asia/Hong_Kong", date(2025, 9, 17)),
        ("2025-09-16 11:00:00-05:00", "Asia/Hong_Kong", date(2025, 9, 17)),
        ("2025-09-17 00:00:00+08:00", "Asia/Hong_Kong", date(2025, 9, 17)),
        ("2025-09-17 00:00:00Z", "Asia/Hong_Kong", date(2025, 9, 17)),
        ("2024-12-02 00:00:00-05:00", "America/New_York", date(2024, 12, 2)),
        ("2026-05-25 00:00:00-06:00", "America/New_York", date(2026, 5, 25)),  # ^VIX in Chicago time
        ("2024-12-02 23:30:00+00:00", "America/New_York", date(2024, 12, 2)),
        ("2024-12-02", "Asia/Hong_Kong", date(2024, 12, 2)),  # download shape: no time, as written
        ("2024-12-02 00:00:00", "Asia/Hong_Kong", date(2024, 12, 2)),  # no offset: as written
        ("2025-09-16T11:00:00-05:00", None, date(2025, 9, 16)),  # no exchange: the stamp's own date
    ],
)
def test_trade_date_in_exchange_time_zone(stamp: str, tz: str | None, expected: date) -> None:
    frame = pl.DataFrame({"Date": [stamp], "Open": ["1"], "High": ["1"], "Low": ["1"], "Close": ["1"], "Volume": ["0"]})
    raw = normalize_history("9888.HK", frame, "test", tz=tz)
    assert raw["trade_date"].to_list() == [expected]
    assert raw["source_date"].to_list() == [stamp]


def test_hk_row_written_in_new_york_time_lands_on_its_hk_session(universe: pl.DataFrame) -> None:
    """Real 9888.HK +15.7% day, its row re-stamped in New York time: still 2025-09-17 in core."""
    text = (
        "Date,Open,High,Low,Close,Volume,Dividends,Stock Splits\n"
        "2025-09-16 00:00:00+08:00,112.4000015258789,114.4000015258789,111.69999694824219,113.19999694824219,"
        "20445842,0.0,0.0\n"
        "2025-09-16T11:00:00-05:00,121.0,135.39999389648438,120.19999694824219,131.0,68712957,0.0,0.0\n"
    )
    tz = exchange_tz("XHKG")
    core, rejected, anomalies = build_core(
        normalize_history("9888.HK", hist_frame(text), "replay", tz=tz), universe, today=TODAY
    )
    assert rejected.is_empty() and anomalies.is_empty()
    assert core["trade_date"].to_list() == [date(2025, 9, 16), date(2025, 9, 17)]
    assert core["close"].to_list() == pytest.approx([113.2, 131.0])
    # without the time zone the second row would collide with the first (the old behaviour)
    naive, conflicts = resolve_duplicates(normalize_history("9888.HK", hist_frame(text), "replay"))
    assert naive.height == 1 and conflicts.height == 1


# ---------------------------------------------------------------- non-session days

# Real 0700.HK rows: 2016-08-02 is typhoon Nida (HKEX closed); Yahoo fills it with a flat,
# zero-volume bar. The Saturday row is made up.
TYPHOON_CSV = """Date,Open,High,Low,Close,Volume,Dividends,Stock Splits
2016-08-01 00:00:00+08:00,163.21205491923882,163.8230040753211,160.76822940159425,161.0300750732422,22485710,0.0,0.0
2016-08-02 00:00:00+08:00,161.0300750732422,161.0300750732422,161.0300750732422,161.0300750732422,0,0.0,0.0
2016-08-03 00:00:00+08:00,158.84808674279083,159.720881523903,158.41168212890625,158.41168212890625,19972701,0.0,0.0
2016-08-06 00:00:00+08:00,158.84808674279083,159.720881523903,158.41168212890625,158.41168212890625,1000,0.0,0.0
"""
# Real ^VIX rows around Memorial Day 2026 (no NYSE session on 2026-05-25, yet a real-looking bar).
VIX_CSV = """Date,Open,High,Low,Close,Volume,Dividends,Stock Splits
2026-05-22 00:00:00-05:00,16.829999923706055,17.389999389648438,16.459999084472656,16.700000762939453,0,0.0,0.0
2026-05-25 00:00:00-05:00,16.809999465942383,16.8700008392334,16.530000686645508,16.59000015258789,0,0.0,0.0
2026-05-26 00:00:00-05:00,16.920000076293945,17.229999542236328,16.559999465942383,17.010000228881836,0,0.0,0.0
"""


def test_weekend_bar_rejected_weekday_holiday_kept_and_flagged(universe: pl.DataFrame) -> None:
    hk = normalize_history("0700.HK", hist_frame(TYPHOON_CSV), "replay", tz=exchange_tz("XHKG"))
    vix = normalize_history("^VIX", hist_frame(VIX_CSV), "replay", tz=exchange_tz("XNYS"))

    core, rejected, anomalies = build_core(pl.concat([hk, vix]), universe, today=TODAY)

    assert rejected.select("ticker", "trade_date", "reason").rows() == [
        ("0700.HK", date(2016, 8, 6), "non_session_day")
    ]
    assert date(2016, 8, 2) in core.filter(pl.col("ticker") == "0700.HK")["trade_date"].to_list()
    assert date(2026, 5, 25) in core.filter(pl.col("ticker") == "^VIX")["trade_date"].to_list()
    assert anomalies.schema == pl.Schema(ANOMALY_SCHEMA)
    assert anomalies.select("ticker", "trade_date", "kind").rows() == [
        ("0700.HK", date(2016, 8, 2), "non_session_day"),
        ("^VIX", date(2026, 5, 25), "non_session_day"),
    ]
    assert "XHKG" in anomalies["detail"][0] and "filler" in anomalies["detail"][0]
    assert "XNYS" in anomalies["detail"][1] and "filler" not in anomalies["detail"][1]


def test_fx_weekdays_are_never_non_session(universe: pl.DataFrame) -> None:
    # 2024-12-25 is a holiday everywhere but FX ('24/5') has no exchange calendar
    raw = raw_rows("CNY=X", [{"trade_date": date(2024, 12, 25), "close": 7.29}])
    core, rejected, anomalies = build_core(raw, universe, today=TODAY)
    assert core.height == 1 and rejected.is_empty() and anomalies.is_empty()


@pytest.mark.replay
def test_recorded_non_session_days(replay_dir: Path, universe: pl.DataFrame) -> None:
    """Measured on the recorded files: no weekend bar on an exchange; weekday closures only as
    Yahoo's flat zero-volume filler bars in Hong Kong (0700.HK: 12) and one ^VIX bar."""
    parts = []
    for ticker, group, cal in [("0700.HK", "HangSengTech", "XHKG"), ("^VIX", "Indexes", "XNYS")]:
        frame = pl.read_csv(replay_dir / "yfinance-history" / group / f"{ticker}.csv.gz", infer_schema=False)
        parts.append(normalize_history(ticker, frame, "replay", tz=exchange_tz(cal)))
    _, rejected, anomalies = build_core(pl.concat(parts), universe, today=TODAY)
    assert rejected.is_empty()
    flags = anomalies.filter(pl.col("kind") == "non_session_day")
    assert flags.group_by("ticker").len().sort("ticker").rows() == [("0700.HK", 12), ("^VIX", 1)]
    assert flags.filter(pl.col("ticker") == "0700.HK")["detail"].str.contains("filler").all()


# ---------------------------------------------------------------- conflicting duplicates

# Real 9888.HK rows; 2025-09-17 written twice (a revision: the later one is right) and
# 2025-09-16 copied exactly.
DUPLICATE_CSV = """Date,Open,High,Low,Close,Volume,Dividends,Stock Splits
2025-09-16 00:00:00+08:00,112.4000015258789,114.4000015258789,111.69999694824219,113.19999694824219,20445842,0.0,0.0
2025-09-17 00:00:00+08:00,121.0,135.39999389648438,120.19999694824219,130.5,60000000,0.0,0.0
2025-09-16 00:00:00+08:00,112.4000015258789,114.4000015258789,111.69999694824219,113.19999694824219,20445842,0.0,0.0
2025-09-17 00:00:00+08:00,121.0,135.39999389648438,120.19999694824219,131.0,68712957,0.0,0.0
"""


def test_conflicting_duplicate_keeps_last_and_reports_dropped() -> None:
    raw = normalize_history("9888.HK", hist_frame(DUPLICATE_CSV), "replay", tz="Asia/Hong_Kong")

    kept, conflicts = resolve_duplicates(raw)

    assert kept.select("trade_date", "close").rows() == [
        (date(2025, 9, 16), 113.19999694824219),
        (date(2025, 9, 17), 131.0),
    ]
    assert conflicts.schema == pl.Schema(REJECTED_SCHEMA)
    assert conflicts.select("ticker", "trade_date", "shape", "reason").rows() == [
        ("9888.HK", date(2025, 9, 17), "history", "conflicting_duplicate")
    ]
    dropped = json.loads(conflicts["row_json"][0])
    assert dropped["close"] == 130.5 and dropped["volume"] == 60000000.0
    assert dropped["kept"] == {"source_date": "2025-09-17 00:00:00+08:00", "close": 131.0}
    assert dropped["earlier"] is None

    flags = conflict_anomalies(conflicts)
    assert flags.schema == pl.Schema(ANOMALY_SCHEMA)
    assert flags.select("ticker", "trade_date", "kind").rows() == [
        ("9888.HK", date(2025, 9, 17), "conflicting_duplicate")
    ]
    assert "kept close 131.0" in flags["detail"][0] and "dropped close 130.5" in flags["detail"][0]


def test_three_versions_one_conflict_row_per_key() -> None:
    """dq.rejected_prices is keyed by (ticker, source, shape, trade_date, reason): one row."""
    d = date(2025, 9, 17)
    raw = raw_rows("9888.HK", [{"trade_date": d, "close": c} for c in (130.0, 130.5, 131.0)])
    kept, conflicts = resolve_duplicates(raw)
    assert kept["close"].to_list() == [131.0]
    assert conflicts.height == 1
    row = json.loads(conflicts["row_json"][0])
    assert row["close"] == 130.5 and row["earlier"] == [{"source_date": d.isoformat(), "close": 130.0}]
    assert conflict_anomalies(pl.DataFrame(schema=REJECTED_SCHEMA)).is_empty()


def test_download_duplicates_are_resolved_not_pivoted_away() -> None:
    text = DOWNLOAD_CSV + "2024-12-31,21012.5,21012.5,21200.0,20950.0,21100.0,6500\n"
    raw = normalize_download(read_download_csv(text), "replay")
    kept, conflicts = resolve_duplicates(raw)
    assert kept.filter(pl.col("trade_date") == date(2024, 12, 31))["close"].to_list() == [21012.5]
    assert json.loads(conflicts["row_json"][0])["close"] == 21012.17


# ---------------------------------------------------------------- schema drift


def test_history_without_volume_is_schema_drift() -> None:
    frame = hist_frame(HISTORY_CSV).drop("Volume")
    with pytest.raises(SourceError) as err:
        normalize_history("9888.HK", frame, "replay", name="HangSengTech/9888.HK.csv.gz")
    assert str(err.value) == (
        "9888.HK: HangSengTech/9888.HK.csv.gz: schema drift: missing column Volume; columns are "
        "['Date', 'Open', 'High', 'Low', 'Close', 'Dividends', 'Stock Splits']"
    )


@pytest.mark.parametrize("dropped", ["Open", "High", "Low", "Close"])
def test_history_without_a_price_column_is_schema_drift(dropped: str) -> None:
    with pytest.raises(SourceError, match=f"schema drift: missing column {dropped};"):
        normalize_history("9888.HK", hist_frame(HISTORY_CSV).drop(dropped), "replay")


@pytest.mark.parametrize(("old", "new"), [("Volume", "volume"), ("Adj Close", "Adj_Close"), ("Close", "close")])
def test_renamed_column_is_schema_drift(old: str, new: str) -> None:
    frame = hist_frame(HISTORY_ADJ_CSV).rename({old: new})
    with pytest.raises(SourceError, match=f"schema drift: renamed column '{new}' for '{old}'"):
        normalize_history("BABA", frame, "live")


def test_optional_columns_may_be_absent() -> None:
    frame = hist_frame(HISTORY_ADJ_CSV).drop("Adj Close", "Dividends", "Stock Splits")
    raw = normalize_history("BABA", frame, "live")
    assert raw.height == 2 and raw["dividends"].is_null().all()
    extra = hist_frame(HISTORY_ADJ_CSV).with_columns(pl.lit("0.0").alias("Capital Gains"))  # yfinance funds
    assert normalize_history("BABA", extra, "live").equals(
        normalize_history("BABA", hist_frame(HISTORY_ADJ_CSV), "live")
    )


def test_download_without_volume_is_schema_drift() -> None:
    lines = DOWNLOAD_CSV.splitlines()
    text = "\n".join(",".join(line.split(",")[:-1]) for line in lines) + "\n"
    with pytest.raises(SourceError, match=r"\^NDX: NDX\.csv: schema drift: missing column Volume"):
        normalize_download(read_download_csv(text), "replay", name="NDX.csv")


# ---------------------------------------------------------------- determinism


def determinism_rows() -> pl.DataFrame:
    """Both shapes, a disagreement, contradictory high/low in both shapes on one date, a
    holiday, rejected rows: everything whose pick used to depend on row order."""
    d1, d2, d3, d4 = date(2024, 12, 2), date(2024, 12, 3), date(2024, 12, 4), date(2024, 12, 25)
    hist = raw_rows(
        "AAPL",
        [
            {"trade_date": d1, "open": 10.0, "high": 9.5, "low": 9.0, "close": 9.8, "adj_close": 9.7},
            {"trade_date": d2, "close": 10.0, "adj_close": 9.9},
            {"trade_date": d3, "close": None},
            {"trade_date": d4, "close": 10.1, "adj_close": 10.0, "volume": 0.0},
        ],
    )
    down = raw_rows(
        "AAPL",
        [
            {"trade_date": d1, "open": 9.0, "high": 9.5, "low": 9.2, "close": 9.8, "adj_close": 9.7},
            {"trade_date": d2, "close": 10.5, "adj_close": 10.4},
            {"trade_date": d3, "close": 10.2, "adj_close": 10.1},
        ],
        shape="download",
    )
    fx = raw_rows("CNY=X", [{"trade_date": date(2024, 12, 7), "close": 7.26}, {"trade_date": d2, "close": 7.27}])
    return pl.concat([hist, down, fx])


def test_build_core_ignores_row_order(universe: pl.DataFrame) -> None:
    rows = determinism_rows()
    first = build_core(rows, universe, today=TODAY)
    assert first[2]["kind"].to_list().count("ohlc_inconsistent") == 1  # the kept (history) row's
    assert "history shape" in first[2].filter(pl.col("kind") == "ohlc_inconsistent")["detail"][0]
    for seed in range(5):
        again = build_core(rows.sample(fraction=1.0, shuffle=True, seed=seed), universe, today=TODAY)
        for a, b in zip(first, again, strict=True):
            assert a.equals(b), seed


def test_build_core_basis_does_not_depend_on_the_window(universe: pl.DataFrame) -> None:
    """The old rescale looked for history rows of the ticker in the same load: a window with
    only download rows left them on another basis. Now each row carries its own basis."""
    hist = raw_rows("CNY=X", [{"trade_date": date(2024, 12, 6), "close": 7.2592}])
    down = to_split_dividend_adjusted(
        raw_rows(
            "CNY=X",
            [{"trade_date": d, "close": 7.27, "adj_close": 7.27} for d in (date(2024, 12, 9), date(2024, 12, 10))],
            shape="download",
        )
    )
    whole, _, _ = build_core(pl.concat([hist, down]), universe, today=TODAY)
    window, _, _ = build_core(down.filter(pl.col("trade_date") >= date(2024, 12, 10)), universe, today=TODAY)
    assert set(whole["price_basis"]) == {SPLIT_DIVIDEND_ADJUSTED}
    assert window.equals(whole.filter(pl.col("trade_date") >= date(2024, 12, 10)))


def test_resolve_duplicates_is_deterministic_for_a_given_order() -> None:
    raw = normalize_history("9888.HK", hist_frame(DUPLICATE_CSV), "replay")
    a = resolve_duplicates(raw)
    b = resolve_duplicates(raw.clone())
    assert a[0].equals(b[0]) and a[1].equals(b[1])


# ---------------------------------------------------------------- bulk stamp parsing (distinct stamps once)

_DST_STAMPS = [
    # New York: spring forward (2024-03-10) and fall back (2024-11-03), around midnight
    "2024-03-08 00:00:00-05:00",
    "2024-03-10 00:00:00-05:00",
    "2024-03-11 00:00:00-04:00",
    "2024-03-11 00:00:00-05:00",  # a stale EST offset after the switch: 01:00 EDT, same day
    "2024-11-01 00:00:00-04:00",
    "2024-11-03 00:00:00-04:00",
    "2024-11-04 00:00:00-05:00",
    "2024-11-04 00:00:00-04:00",  # a stale EDT offset after the switch: 23:00 EST the day before
    # UTC-stamped rows: late evening UTC is still the day before in New York, not in Hong Kong
    "2024-03-11 00:00:00+00:00",
    "2024-11-04 03:30:00+00:00",
    "2024-11-04 23:30:00+00:00",
    # Hong Kong (no DST) and New York stamps read in the other zone
    "2025-09-17 00:00:00+08:00",
    "2025-09-16 11:00:00-05:00",
    "2025-09-16 11:00:00-04:00",
]


@pytest.mark.parametrize("tz", ["America/New_York", "Asia/Hong_Kong", "Europe/London"])
def test_bulk_trade_date_parses_each_distinct_stamp_once_with_the_same_dates(
    tz: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shared path gives the row-by-row dates (DST switch days, UTC and foreign offsets)."""
    from assets.transforms import prices

    stamps = pl.Series("source_date", _DST_STAMPS * 40)
    expected = stamps.to_frame().select(prices._trade_date(pl.col("source_date"), tz))["source_date"]
    seen: list[int] = []
    real = prices._stamp_dates
    monkeypatch.setattr(prices, "_stamp_dates", lambda s, z: seen.append(s.len()) or real(s, z))
    fast = prices._fast_trade_date(stamps, tz)
    assert fast is not None
    assert seen == [len(_DST_STAMPS)]  # only the distinct stamps were parsed
    assert fast.to_list() == expected.to_list()
    assert fast.name == "source_date"


def test_bulk_trade_date_mostly_distinct_stamps_parse_row_by_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing to share (every stamp distinct): the rows are parsed as they are, same dates."""
    from assets.transforms import prices

    stamps = pl.Series("source_date", _DST_STAMPS)
    seen: list[int] = []
    real = prices._stamp_dates
    monkeypatch.setattr(prices, "_stamp_dates", lambda s, z: seen.append(s.len()) or real(s, z))
    fast = prices._fast_trade_date(stamps, "America/New_York")
    assert seen == [len(_DST_STAMPS)]
    expected = stamps.to_frame().select(prices._trade_date(pl.col("source_date"), "America/New_York"))
    assert fast is not None and fast.to_list() == expected["source_date"].to_list()


@pytest.mark.parametrize("odd", ["2024-03-11", "2024-03-11T00:00:00-04:00", "2024-03-11 00:00:00Z", None])
def test_bulk_trade_date_other_formats_fall_back_to_the_general_rule(odd: str | None) -> None:
    """One stamp in another format (or missing) among many shared ones: no fast dates at all."""
    from assets.transforms import prices

    stamps = pl.Series("source_date", [*_DST_STAMPS * 40, odd], dtype=pl.String)
    assert prices._fast_trade_date(stamps, "America/New_York") is None


def test_bulk_normalize_matches_per_file_on_dst_and_utc_stamps() -> None:
    """normalize_history_many over many tickers' DST/UTC rows gives each file's own rows."""
    tickers = [f"T{i:02d}" for i in range(30)]
    rows = sorted(set(_DST_STAMPS))
    frame = pl.DataFrame(
        {
            "ticker": [t for t in tickers for _ in rows],
            "Date": rows * len(tickers),
            "Open": ["1"] * len(rows) * len(tickers),
            "High": ["2"] * len(rows) * len(tickers),
            "Low": ["0.5"] * len(rows) * len(tickers),
            "Close": ["1.5"] * len(rows) * len(tickers),
            "Volume": ["10"] * len(rows) * len(tickers),
        }
    )
    for tz in ("America/New_York", "Asia/Hong_Kong"):
        bulk = normalize_history_many(frame, "replay", tz=tz)
        one = pl.concat(
            [normalize_history(t, frame.filter(pl.col("ticker") == t).drop("ticker"), "replay", tz=tz) for t in tickers]
        )
        assert bulk.equals(one)


# ---------------------------------------------------------------- duplicates: the strict-order proof


def _random_raw(seed: int, *, sort: bool, dupes: bool) -> pl.DataFrame:
    import random

    rnd = random.Random(seed)
    parts = []
    for t in ("AAA", "BBB", "9888.HK"):
        for shape in ("history", "download"):
            days = sorted(rnd.sample(range(40), 12))
            if dupes:
                days += rnd.sample(days, 3)
            parts.append(
                raw_rows(
                    t,
                    [{"trade_date": date(2024, 1, 1 + d % 28), "close": float(rnd.randint(1, 3))} for d in days],
                    shape=shape,
                )
            )
    raw = pl.concat(parts)
    raw = (
        raw.sort("ticker", "trade_date", "source", "shape", maintain_order=True)
        if sort
        else raw.sample(fraction=1.0, shuffle=True, seed=seed)
    )
    return raw


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize(("sort", "dupes"), [(True, False), (True, True), (False, True), (False, False)])
def test_strict_order_proof_gives_the_general_result(
    seed: int, sort: bool, dupes: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shortcut (no hashing when keys strictly increase) changes no kept row or conflict."""
    from assets.transforms import prices

    raw = _random_raw(seed, sort=sort, dupes=dupes)
    fast_kept, fast_conflicts = resolve_duplicates(raw)
    monkeypatch.setattr(prices, "_keys_strictly_increasing", lambda _: False)
    kept, conflicts = resolve_duplicates(raw)
    assert fast_kept.equals(kept) and fast_conflicts.equals(conflicts)


def test_strict_order_proof_holds_only_for_strictly_increasing_keys() -> None:
    """Sorted and distinct: proven; an adjacent duplicate, a step back, or a null: not proven."""
    from assets.transforms import prices

    d1, d2 = date(2024, 1, 2), date(2024, 1, 3)
    ok = pl.concat([raw_rows("AAA", [{"trade_date": d1, "close": 1.0}, {"trade_date": d2, "close": 1.0}])])
    ok = pl.concat([ok, raw_rows("AAA", [{"trade_date": d2, "close": 1.0}], shape="zz"), raw_rows("BBB", [])])
    assert prices._keys_strictly_increasing(ok)
    same = raw_rows("AAA", [{"trade_date": d1, "close": 1.0}, {"trade_date": d1, "close": 2.0}])
    assert not prices._keys_strictly_increasing(same)
    back = raw_rows("AAA", [{"trade_date": d2, "close": 1.0}, {"trade_date": d1, "close": 2.0}])
    assert not prices._keys_strictly_increasing(back)
    other_ticker_back = pl.concat([raw_rows("BBB", [{"trade_date": d1}]), raw_rows("AAA", [{"trade_date": d2}])])
    assert not prices._keys_strictly_increasing(other_ticker_back)
    with_null = ok.with_columns(pl.when(pl.int_range(pl.len()) == 1).then(None).otherwise("source").alias("source"))
    assert not prices._keys_strictly_increasing(with_null)
    # sorted, but a key written twice: the general path finds the conflict
    kept, conflicts = resolve_duplicates(same)
    assert kept["close"].to_list() == [2.0] and conflicts.height == 1


def test_sorted_distinct_input_skips_the_key_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    """A parsed file (sorted, distinct dates) is returned without hashing its keys."""
    from assets.transforms import prices

    raw = normalize_history("9888.HK", hist_frame(HISTORY_CSV), "replay", tz="Asia/Hong_Kong")
    raw = raw.unique(["trade_date"], keep="last", maintain_order=True)
    monkeypatch.setattr(prices.pl, "struct", lambda *a, **k: pytest.fail("keys hashed"))
    kept, conflicts = resolve_duplicates(raw)
    assert kept.equals(raw) and conflicts.is_empty()


def _random_core_input(seed: int, *, two_shapes: bool, sort: bool) -> pl.DataFrame:
    """Raw rows for known and unknown tickers over weekdays, weekends and holidays, with bad values."""
    import random

    rnd = random.Random(seed)
    parts = []
    for t in ("0700.HK", "CNY=X", "ZZZ.UNKNOWN"):
        for shape in ("history", "download") if two_shapes else ("history",):
            days = sorted(rnd.sample(range(60), 25))
            rows = []
            for d in days:
                close = rnd.choice([10.0, 10.5, 11.0, None, float("nan"), -1.0])
                rows.append(
                    {
                        "trade_date": date(2024, 12, 1) + timedelta(days=d),
                        "close": close,
                        "high": rnd.choice([close, 12.0, 9.0]),
                        "volume": rnd.choice([0.0, 100.0, -5.0]),
                    }
                )
            parts.append(raw_rows(t, rows, shape=shape))
    raw = pl.concat(parts)
    if sort:
        return raw.sort("ticker", "trade_date", "source", "shape", maintain_order=True)
    return raw.sample(fraction=1.0, shuffle=True, seed=seed)


@pytest.mark.parametrize("seed", range(15))
@pytest.mark.parametrize(("two_shapes", "sort"), [(False, True), (True, True), (False, False), (True, False)])
def test_build_core_order_shortcuts_give_the_general_result(
    universe: pl.DataFrame, seed: int, two_shapes: bool, sort: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """build_core with the strict-order shortcuts equals build_core with every sort and hash."""
    from assets.transforms import prices

    raw = _random_core_input(seed, two_shapes=two_shapes, sort=sort)
    fast = build_core(raw, universe, today=TODAY)
    monkeypatch.setattr(prices, "in_strict_order", lambda *_: False)
    general = build_core(raw, universe, today=TODAY)
    for a, b in zip(fast, general, strict=True):
        assert a.equals(b)


def test_build_core_sorted_single_shape_skips_the_merge_sort(
    universe: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One shape in (ticker, date) order: the shape merge's sort and unique are not run."""
    raw = _random_core_input(3, two_shapes=False, sort=True)
    calls: list[tuple] = []
    real = pl.DataFrame.unique
    monkeypatch.setattr(pl.DataFrame, "unique", lambda self, *a, **k: calls.append(a) or real(self, *a, **k))
    build_core(raw, universe, today=TODAY)
    assert (["ticker", "trade_date"],) not in calls
    two = _random_core_input(3, two_shapes=True, sort=True)
    build_core(two, universe, today=TODAY)
    assert (["ticker", "trade_date"],) in calls  # two shapes on a date: merged the general way
