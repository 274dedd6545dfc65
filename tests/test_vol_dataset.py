"""Volatility dataset: bars from events and candles, feature/label causality, split and normalization."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amm500.data import store
from amm500.data.schema import BOOK_CLEAR, BOOK_LEVEL, TRADE, DataError, make_events
from amm500.signals.ml.dataset import (
    MAX_FILL_MINUTES,
    MinuteBars,
    build_dataset,
    chronological_split,
    fit_normalization,
    load_minute_bars,
)
from amm500.signals.ml.features import (
    HORIZON,
    MINUTE_NS,
    MINUTES_PER_YEAR,
    N_FEATURES,
    WARMUP,
    compute_features,
    feature_names,
    future_realized_vol,
)
from vol_helpers import T0, bars_from_closes, book_events, garch_closes, write_bars_dir, write_events_dir


def minute_bars(close: np.ndarray, has_book: bool = False) -> MinuteBars:
    b = bars_from_closes(close)
    n = close.size
    return MinuteBars(ts=b.ts, open=b.open, high=b.high, low=b.low, close=b.close, volume=b.volume,
                      spread_bps=np.full(n, 1.0), imbalance=np.zeros(n), broken=np.zeros(n, bool), has_book=has_book,
                      source="test")


def test_events_replay_known_answer(tmp_path: Path) -> None:
    """Hand-built book: closes are end-of-minute mids, quiet minutes repeat, spread/imbalance/volume read."""
    s = 1_000_000_000
    rows = [
        (0, BOOK_CLEAR, 0, 0.0, 0.0), (0, BOOK_LEVEL, 1, 100.0, 3.0), (0, BOOK_LEVEL, -1, 102.0, 1.0),
        (10 * s, TRADE, -1, 100.0, 0.5), (20 * s, BOOK_LEVEL, 1, 101.0, 1.0),  # mid 101.5 in minute 0
        (30 * s, BOOK_LEVEL, 1, 101.0, 0.0),  # back to 101 at the end of minute 0
        (130 * s, BOOK_LEVEL, -1, 104.0, 2.0), (130 * s, BOOK_LEVEL, -1, 102.0, 0.0),  # minute 2: ask 104 -> mid 102
        (150 * s, TRADE, 1, 104.0, 0.25), (155 * s, TRADE, 1, 104.0, 0.25),
    ]
    ts = np.array([T0 + r[0] for r in rows])
    ev = make_events(ts, ts, *(np.array([r[k] for r in rows]) for k in (1, 2, 3, 4)))
    store.write_events(tmp_path, ev)
    bars = load_minute_bars(tmp_path)
    assert bars.source == "events" and bars.has_book
    np.testing.assert_array_equal(bars.ts, T0 + np.arange(3) * MINUTE_NS)
    np.testing.assert_allclose(bars.close, [101.0, 101.0, 102.0])
    np.testing.assert_allclose(bars.high, [101.5, 101.0, 102.0])
    np.testing.assert_allclose(bars.low, [101.0, 101.0, 102.0])
    np.testing.assert_allclose(bars.volume, [0.5, 0.0, 0.5])
    np.testing.assert_allclose(bars.spread_bps, [2 / 101 * 1e4, 2 / 101 * 1e4, 4 / 102 * 1e4])
    np.testing.assert_allclose(bars.imbalance, [0.5, 0.5, 1 / 5])  # (3-1)/4, then (3-2)/5
    assert not bars.broken.any()


def test_events_dir_matches_its_mid_path(tmp_path: Path) -> None:
    close = garch_closes(300, seed=3)
    store.write_events(tmp_path, book_events(close))
    bars = load_minute_bars(tmp_path)
    np.testing.assert_allclose(bars.close, close, rtol=1e-12)
    np.testing.assert_allclose(bars.spread_bps, 1.0 / close * 1e4, rtol=1e-9)
    np.testing.assert_allclose(bars.imbalance, (6 - 3) / 9)
    np.testing.assert_allclose(bars.volume, 0.25)


def test_candles_have_constant_book_features(tmp_path: Path) -> None:
    bars = load_minute_bars(write_bars_dir(tmp_path, n=400))
    assert bars.source == "bars" and not bars.has_book
    ds = build_dataset(bars, lookback=5)
    names = ds.feature_names
    assert len(names) == N_FEATURES == ds.features.shape[1]
    assert "spread_bps[unavailable=0]" in names and "spread_bps" not in names
    assert names != feature_names(True)
    rows = ds.features[WARMUP:]
    assert (rows[:, names.index("spread_bps[unavailable=0]")] == 0).all()
    assert (rows[:, names.index("imbalance_top5[unavailable=0]")] == 0).all()


def test_shapes_and_label_known_answer() -> None:
    close = garch_closes(600, seed=1)
    ds = build_dataset(minute_bars(close), lookback=7)
    n = close.size
    assert ds.features.shape == (n, N_FEATURES) and ds.label.shape == (n,)
    assert np.isnan(ds.features[:WARMUP]).all() and np.isfinite(ds.features[WARMUP:]).all()
    i = 400
    r = np.diff(np.log(close))  # r[j-1] is the return of bar j
    expect = math.sqrt(np.mean(r[i:i + HORIZON] ** 2) * MINUTES_PER_YEAR)
    assert ds.label[i] == pytest.approx(expect, rel=1e-12)
    assert ds.features[i, 0] == pytest.approx(r[i - 1] * math.sqrt(MINUTES_PER_YEAR), rel=1e-12)
    assert np.isnan(ds.label[-HORIZON:]).all()
    samples = np.concatenate([ds.train, ds.val, ds.test])
    assert samples.min() == WARMUP + 7 - 1 and samples.max() == n - HORIZON - 1


@settings(max_examples=25, deadline=None)
@given(k=st.integers(WARMUP + 10, 480), scale=st.floats(0.2, 5.0))
def test_no_look_ahead(k: int, scale: float) -> None:
    """Changing bars after k changes no feature row <= k and no label row <= k - HORIZON;
    the next feature row and the label row k - HORIZON + 1 do change (the windows are exactly that long)."""
    close = garch_closes(500, seed=2)
    other = close.copy()
    other[k + 1:] = close[k] * (close[k + 1:] / close[k]) ** scale * 1.01
    a = minute_bars(close)
    b = minute_bars(other)
    fa = compute_features(a.close_ts, a.close, a.high, a.low, a.volume, a.spread_bps, a.imbalance, False, 0)
    fb = compute_features(b.close_ts, b.close, b.high, b.low, b.volume, b.spread_bps, b.imbalance, False, 0)
    # high/low of bar k+1.. differ too: bars_from_closes uses the same wiggle, but open/close moved
    np.testing.assert_array_equal(fa[: k + 1], fb[: k + 1])
    assert not np.array_equal(fa[k + 1], fb[k + 1])
    la, lb = future_realized_vol(close, HORIZON), future_realized_vol(other, HORIZON)
    np.testing.assert_array_equal(la[: k - HORIZON + 1], lb[: k - HORIZON + 1])
    assert la[k - HORIZON + 1] != lb[k - HORIZON + 1]


def test_split_is_chronological_with_embargo() -> None:
    valid = np.ones(1000, bool)
    valid[:50] = False
    train, val, test = chronological_split(valid)
    assert train.max() + HORIZON < val.min() and val.max() + HORIZON < test.min()
    assert test.max() == 999 and train.min() == 50
    assert abs(train.size - 0.7 * 950) <= HORIZON + 1 and abs(test.size - 0.15 * 950) <= 1
    with pytest.raises(DataError, match="usable samples"):
        chronological_split(np.ones(10, bool))


def test_normalization_uses_train_rows_only() -> None:
    close = garch_closes(900, seed=4)
    ds = build_dataset(minute_bars(close), lookback=5)
    wild = close.copy()
    cut = int(ds.train[-1]) + 1
    wild[cut:] = close[cut - 1] * np.exp(np.cumsum(np.random.default_rng(9).normal(0, 0.01, wild.size - cut)))
    ds2 = build_dataset(minute_bars(wild), lookback=5)
    np.testing.assert_array_equal(ds.train, ds2.train)
    m1, s1 = fit_normalization(ds)
    m2, s2 = fit_normalization(ds2)
    np.testing.assert_array_equal(m1, m2)
    np.testing.assert_array_equal(s1, s2)
    # and the statistics are those of the training rows
    rows = ds.features[WARMUP:cut]
    np.testing.assert_allclose(m1, rows.mean(axis=0))


def test_long_gap_breaks_samples(tmp_path: Path) -> None:
    b = bars_from_closes(garch_closes(900, seed=5))
    gap = np.r_[0:400, 400 + MAX_FILL_MINUTES + 1:900]  # drop MAX_FILL_MINUTES + 1 minutes
    store.write_bars(tmp_path, b.take(gap))
    bars = load_minute_bars(tmp_path)
    assert len(bars) == 900 and bars.broken.sum() == MAX_FILL_MINUTES + 1
    ds = build_dataset(bars, lookback=5)
    samples = np.concatenate([ds.train, ds.val, ds.test])
    first_broken, last_broken = np.flatnonzero(bars.broken)[[0, -1]]
    spans = (samples + HORIZON >= first_broken) & (samples - 5 + 1 - WARMUP <= last_broken)
    assert not spans.any()
    # a short gap is just quiet minutes
    short = tmp_path / "short"
    store.write_bars(short, b.take(np.r_[0:400, 410:900]))
    sb = load_minute_bars(short)
    assert not sb.broken.any() and (sb.close[400:410] == b.close[399]).all() and (sb.volume[400:410] == 0).all()


def test_bad_data_dirs(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such data directory"):
        load_minute_bars(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no canonical data"):
        load_minute_bars(tmp_path / "empty")
    b = bars_from_closes(garch_closes(50))
    five = b.with_columns(ts=T0 + np.arange(50, dtype=np.int64) * 5 * MINUTE_NS)
    store.write_bars(tmp_path / "five", five)
    with pytest.raises(DataError, match="1-minute bars"):
        load_minute_bars(tmp_path / "five")
    with pytest.raises(DataError, match="usable samples"):
        build_dataset(load_minute_bars(write_events_dir(tmp_path / "short", n=260)), lookback=5)
