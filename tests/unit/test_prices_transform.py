"""Pure tests of assets/transforms/prices.py: the two yfinance CSV shapes and the core build."""

from __future__ import annotations

import io
import json
from datetime import date

import polars as pl
import pytest

from assets.sources.errors import SourceError
from assets.transforms.prices import (
    CORE_PRICES_SCHEMA,
    RAW_PRICES_SCHEMA,
    REJECTED_SCHEMA,
    build_core,
    empty_raw,
    new_actions,
    normalize_download,
    normalize_history,
    read_download_csv,
)
from assets.universe import load_universe

TODAY = date(2026, 8, 21)
MON = date(2024, 12, 2)

# Ticker.history().to_csv(): auto-adjusted, no Adj Close (real 9888.HK first rows, then made-up).
HISTORY_CSV = """Date,Open,High,Low,Close,Volume,Dividends,Stock Splits
2021-03-23 00:00:00+08:00,254.0,256.6000061035156,251.60000610351562,252.0,14625056,0.0,0.0
2021-03-24 00:00:00+08:00,254.1999969482422,254.1999969482422,249.39999389648438,250.8000030517578,5534503,0.0,0.0
2021-03-25 00:00:00+08:00,250.0,251.0,245.0,246.0,4000000,1.5,0.0
"""

# Ticker.history(auto_adjust=False).to_csv(): raw prices with a separate Adj Close.
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

    assert raw.height == 3
    assert raw["trade_date"].is_sorted()
    assert raw.equals(normalize_history("9888.HK", hist_frame(HISTORY_CSV), "replay"))


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
    frame = pl.DataFrame({"Date": [stamp], "Open": ["1"], "High": ["1"], "Low": ["1"], "Close": ["1"]})
    raw = normalize_history("X", frame, "test")
    assert raw["trade_date"].to_list() == [expected]
    assert raw["source_date"].to_list() == [stamp]


@pytest.mark.parametrize("bad", ["not-a-date", "2024-13-40 00:00:00+00:00", ""])
def test_bad_date_raises_source_error_naming_ticker(bad: str) -> None:
    frame = pl.DataFrame(
        {"Date": ["2024-01-02", bad], "Open": ["1", "1"], "High": ["1", "1"], "Low": ["1", "1"], "Close": ["1", "1"]}
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
        frame = pl.DataFrame({"Date": ["2024-01-02"], "Open": ["1"], "High": ["1"], "Close": ["1"]})
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


def test_history_without_adj_close_is_adjusted_and_never_readjusted(universe: pl.DataFrame) -> None:
    raw = normalize_history("9888.HK", hist_frame(HISTORY_CSV), "replay")

    core, rejected, anomalies = build_core(raw, universe, today=TODAY)

    assert core.schema == pl.Schema(CORE_PRICES_SCHEMA)
    assert rejected.is_empty() and anomalies.is_empty()
    assert set(core["price_basis"]) == {"adjusted"}
    assert core["adj_close"].to_list() == core["close"].to_list()
    # the 1.5 dividend on the last row is carried, but nothing before it is re-adjusted
    assert core["dividend"].to_list() == [0.0, 0.0, 1.5]
    assert core["close"].to_list() == pytest.approx([252.0, 250.8000030517578, 246.0])
    assert core["currency"].to_list() == ["HKD"] * 3
    assert core["volume"].dtype == pl.Int64
    assert core["volume"][0] == 14625056


def test_history_with_adj_close_is_unadjusted(universe: pl.DataFrame) -> None:
    raw = normalize_history("BABA", hist_frame(HISTORY_ADJ_CSV), "live")

    core, rejected, _ = build_core(raw, universe, today=TODAY)

    assert rejected.is_empty()
    assert set(core["price_basis"]) == {"unadjusted"}
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

    core, rejected, anomalies = build_core(pl.concat([down, hist]), universe, today=TODAY)

    assert rejected.is_empty()
    assert core["trade_date"].to_list() == [d1, d2, d3]
    # d2 from history (its volume 1000, not the download's 7); d3 only in download
    assert core["close"].to_list() == [100.0, 101.0, 102.0]
    assert core["volume"].to_list() == [1000, 1000, 1000]
    # the download-only day joins the adjusted history on its basis (scaled by Adj Close / Close)
    assert core["price_basis"].to_list() == ["adjusted", "adjusted", "adjusted"]
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


def test_weekday_fx_bars_and_weekend_equity_bars_are_not_weekend_fx(universe: pl.DataFrame) -> None:
    fri, sat = date(2024, 12, 6), date(2024, 12, 7)
    raw = pl.concat(
        [raw_rows("CNY=X", [{"trade_date": fri, "close": 7.25}]), raw_rows("AAPL", [{"trade_date": sat, "close": 9.0}])]
    )
    core, rejected, _ = build_core(raw, universe, today=TODAY)
    assert rejected.is_empty()
    assert core.height == 2


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
    """An as-traded download day next to an auto-adjusted history is put on the adjusted basis."""
    d1, d2 = date(2024, 12, 2), date(2024, 12, 3)
    hist = raw_rows("^NDX", [{"trade_date": d1, "close": 50.0}])
    down = raw_rows(
        "^NDX",
        [{"trade_date": d2, "open": 100.0, "high": 104.0, "low": 98.0, "close": 102.0, "adj_close": 51.0}],
        shape="download",
    )
    core, _, _ = build_core(pl.concat([hist, down]), universe, today=TODAY)
    day2 = core.filter(pl.col("trade_date") == d2).row(0, named=True)
    assert day2["close"] == pytest.approx(51.0)
    assert day2["adj_close"] == pytest.approx(51.0)
    assert (day2["open"], day2["high"], day2["low"]) == pytest.approx((50.0, 52.0, 49.0))
    assert day2["price_basis"] == "adjusted"
