"""Pure Polars: an approximation of the Hang Seng TECH index from its members' closes.

The real index is free-float market-cap weighted, each constituent capped at 8%, reviewed
quarterly. The warehouse has no free-float figures and market caps only on fundamentals
snapshot days, so the basket says which method each quarter used: market-cap weights with
the 8% cap when every member's cap is known from a recent snapshot, equal weights otherwise.
Between rebalances the basket is buy-and-hold (weights drift with prices), like the index.
Membership is the universe's 'hstech' lines, back-filled to the base date: an approximation,
and labelled as one everywhere it is used.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

EQUAL = "equal_weight"
CAPPED = "market_cap_capped"

LEVEL_SCHEMA: dict[str, pl.DataType] = {
    "trade_date": pl.Date(),
    "level": pl.Float64(),
    "daily_return": pl.Float64(),
    "members": pl.Int64(),
    "members_traded": pl.Int64(),
    "rebalance_date": pl.Date(),
    "method": pl.String(),
}

WEIGHT_SCHEMA: dict[str, pl.DataType] = {
    "rebalance_date": pl.Date(),
    "ticker": pl.String(),
    "weight": pl.Float64(),
    "market_cap": pl.Float64(),
    "market_cap_as_of": pl.Date(),
    "base_close": pl.Float64(),
    "method": pl.String(),
    "capped": pl.Boolean(),
}


def capped_weights(values: dict[str, float], cap: float) -> tuple[dict[str, float], set[str]]:
    """Weights proportional to ``values`` with no weight above ``cap``; the excess goes to the others.

    Iterates the index providers' way: cap the largest, spread what they lose over the rest
    pro rata, repeat until nothing exceeds the cap. When the cap cannot hold (fewer than
    1/cap members) every member gets 1/n. Returns (weights, capped tickers).
    """
    if not values:
        return {}, set()
    if any(v <= 0 for v in values.values()):
        raise ValueError(f"weights need positive values, got {values}")
    n = len(values)
    if n * cap < 1:
        return {k: 1.0 / n for k in values}, set(values)
    capped: set[str] = set()
    while True:
        free = {k: v for k, v in values.items() if k not in capped}
        room = 1.0 - cap * len(capped)
        total = sum(free.values())
        weights = {k: (cap if k in capped else room * v / total) for k, v in values.items()}
        over = {k for k in free if weights[k] > cap + 1e-12}
        if not over:
            return weights, capped
        capped |= over


def quarter_ends(start: date, end: date) -> list[date]:
    """Calendar quarter ends from ``start`` (inclusive, itself a quarter end or not) to ``end``."""
    out: list[date] = []
    year, month = start.year, ((start.month - 1) // 3 + 1) * 3
    while True:
        q_end = (date(year, month, 28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        if q_end > end:
            return out
        if q_end >= start:
            out.append(q_end)
        month += 3
        if month > 12:
            year, month = year + 1, 3


def rebalance_dates(trading_days: list[date], base_date: date) -> list[date]:
    """The last trading day on or before each quarter end from ``base_date``: when weights reset."""
    days = sorted(set(trading_days))
    if not days:
        return []
    out: list[date] = []
    for q_end in quarter_ends(base_date, days[-1]):
        eligible = [d for d in days if d <= q_end]
        if eligible and (not out or eligible[-1] > out[-1]):
            out.append(eligible[-1])
    return out


def _weights_at(
    reb: date,
    base_closes: dict[str, float],
    caps: pl.DataFrame,
    cap: float,
    max_cap_age_days: int,
) -> pl.DataFrame:
    """One rebalance's weights: capped market caps when all are known, else equal."""
    members = sorted(base_closes)
    known = (
        caps.filter(
            pl.col("ticker").is_in(members)
            & (pl.col("as_of_date") <= reb)
            & (pl.col("as_of_date") >= reb - timedelta(days=max_cap_age_days))
            & (pl.col("market_cap") > 0)
        )
        .sort("as_of_date")
        .group_by("ticker")
        .agg(pl.col("market_cap").last(), pl.col("as_of_date").last().alias("market_cap_as_of"))
    )
    mcap = dict(zip(known["ticker"].to_list(), known["market_cap"].to_list(), strict=True))
    as_of = dict(zip(known["ticker"].to_list(), known["market_cap_as_of"].to_list(), strict=True))
    if members and all(t in mcap for t in members):
        weights, capped = capped_weights({t: mcap[t] for t in members}, cap)
        method = CAPPED
    else:
        weights, capped, method = {t: 1.0 / len(members) for t in members}, set(), EQUAL
    return pl.DataFrame(
        {
            "rebalance_date": [reb] * len(members),
            "ticker": members,
            "weight": [weights[t] for t in members],
            "market_cap": [mcap.get(t) for t in members],
            "market_cap_as_of": [as_of.get(t) for t in members],
            "base_close": [base_closes[t] for t in members],
            "method": [method] * len(members),
            "capped": [t in capped for t in members],
        },
        schema=WEIGHT_SCHEMA,
    )


def basket_levels(
    closes: pl.DataFrame,
    caps: pl.DataFrame,
    *,
    base_date: date,
    base_level: float = 1000.0,
    cap: float = 0.08,
    max_cap_age_days: int = 92,
    max_close_age_days: int = 7,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(levels, weights) of the basket from members' closes (ticker, trade_date, close).

    ``caps`` is (ticker, as_of_date, market_cap) in one currency (may be empty). Weights reset
    at the last trading day of each quarter from ``base_date``; a member joins at the first
    rebalance where it has a close no older than ``max_close_age_days``. Within a quarter each
    member's value follows its own close (the last one carried over days it did not trade).
    """
    closes = closes.select("ticker", "trade_date", "close").filter(pl.col("close") > 0).sort("ticker", "trade_date")
    days = sorted(set(closes["trade_date"].to_list()))
    rebs = rebalance_dates([d for d in days if d >= base_date - timedelta(days=max_close_age_days)], base_date)
    if not rebs:
        return pl.DataFrame(schema=LEVEL_SCHEMA), pl.DataFrame(schema=WEIGHT_SCHEMA)
    level = base_level
    levels: list[pl.DataFrame] = [
        pl.DataFrame(
            {"trade_date": [rebs[0]], "level": [level], "rebalance_date": [rebs[0]]},
            schema={"trade_date": pl.Date, "level": pl.Float64, "rebalance_date": pl.Date},
        )
    ]
    weight_frames: list[pl.DataFrame] = []
    member_counts: dict[date, tuple[int, int, str]] = {}
    for i, reb in enumerate(rebs):
        seg_end = rebs[i + 1] if i + 1 < len(rebs) else days[-1]
        last = (
            closes.filter(
                (pl.col("trade_date") <= reb) & (pl.col("trade_date") >= reb - timedelta(days=max_close_age_days))
            )
            .group_by("ticker")
            .agg(pl.col("close").sort_by("trade_date").last())
        )
        base_closes = dict(zip(last["ticker"].to_list(), last["close"].to_list(), strict=True))
        if not base_closes:
            continue
        weights = _weights_at(reb, base_closes, caps, cap, max_cap_age_days)
        weight_frames.append(weights)
        seg_days = [d for d in days if reb < d <= seg_end]
        if not seg_days:
            continue
        grid = pl.DataFrame({"trade_date": seg_days}, schema={"trade_date": pl.Date}).join(
            weights.select("ticker", "weight", "base_close"), how="cross"
        )
        seg = (
            grid.join(closes, on=["ticker", "trade_date"], how="left")
            .sort("ticker", "trade_date")
            .with_columns(
                pl.col("close").is_not_null().alias("traded"),
                pl.col("close").forward_fill().over("ticker").fill_null(pl.col("base_close")).alias("close"),
            )
            .group_by("trade_date")
            .agg(
                (pl.col("weight") * pl.col("close") / pl.col("base_close")).sum().alias("growth"),
                pl.len().alias("members"),
                pl.col("traded").sum().alias("members_traded"),
            )
            .sort("trade_date")
        )
        levels.append(
            seg.select(
                "trade_date",
                (pl.col("growth") * level).alias("level"),
                pl.lit(reb).alias("rebalance_date"),
            )
        )
        for d, n, traded in seg.select("trade_date", "members", "members_traded").iter_rows():
            member_counts[d] = (n, traded, weights["method"][0])
        level = float(seg["growth"][-1] * level)
    weights_all = pl.concat(weight_frames) if weight_frames else pl.DataFrame(schema=WEIGHT_SCHEMA)
    first = weights_all.filter(pl.col("rebalance_date") == rebs[0])
    member_counts[rebs[0]] = (first.height, first.height, first["method"][0] if first.height else EQUAL)
    out = (
        pl.concat(levels)
        .sort("trade_date")
        .with_columns(
            (pl.col("level") / pl.col("level").shift(1) - 1).alias("daily_return"),
            pl.col("trade_date")
            .replace_strict({d: v[0] for d, v in member_counts.items()}, default=None)
            .alias("members"),
            pl.col("trade_date")
            .replace_strict({d: v[1] for d, v in member_counts.items()}, default=None)
            .alias("members_traded"),
            pl.col("trade_date")
            .replace_strict({d: v[2] for d, v in member_counts.items()}, default=None)
            .alias("method"),
        )
        .select(list(LEVEL_SCHEMA))
        .cast(LEVEL_SCHEMA)  # type: ignore[arg-type]
    )
    return out, weights_all


def rebase(levels: pl.DataFrame, on: date, to: float, value_col: str = "close") -> pl.DataFrame:
    """Add ``level``: ``value_col`` scaled so that the last value on or before ``on`` equals ``to``.

    Used to put an index beside the basket on one scale; no row before ``on`` is kept.
    """
    base = levels.filter(pl.col("trade_date") <= on).sort("trade_date")
    if base.is_empty():
        return levels.clear().with_columns(pl.lit(None, dtype=pl.Float64).alias("level"))
    factor = to / float(base[value_col][-1])
    start = base["trade_date"][-1]
    return levels.filter(pl.col("trade_date") >= start).with_columns((pl.col(value_col) * factor).alias("level"))
