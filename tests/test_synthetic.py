"""The synthetic BTC market: format, determinism, and the stylized facts it was calibrated to.

Tolerances are honest bands around the real Hyperliquid numbers measured in docs/data.md (real
captures: ../shared/data/real/hl_ws_capture and hl_hftbacktest_sample), wide enough for one
simulated day, narrow enough that a broken model fails.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from amm500.cli import app
from amm500.data import store
from amm500.data.schema import BOOK_CLEAR, BOOK_LEVEL, EVENT_COLUMNS, FUNDING, NS_PER_HOUR, TRADE, Events
from amm500.data.synthetic import (
    DEFAULT_START,
    VOL_BANDS,
    MarketParams,
    MarketSimulator,
    Snapshots,
    generate_day,
    generate_market,
    to_events,
    volatility_regimes,
)
from amm500.data.synthetic_kernels import MAX_SCAN, level_table, merge_by_ts

SEED = 7
T0 = store.day_start_ns(DEFAULT_START)


@pytest.fixture(scope="module")
def day() -> tuple[Snapshots, Events, Events]:
    """One full simulated day: raw snapshots, trade+funding rows, and the canonical events."""
    _, snaps, other = MarketSimulator(SEED).next_day_raw(24)
    return snaps, other, to_events(snaps, other)


def _mid(snaps: Snapshots) -> np.ndarray:
    return (snaps.bid_px[:, 0] + snaps.ask_px[:, 0]) / 2


def _minute_returns(snaps: Snapshots) -> np.ndarray:
    minute = (snaps.ts - snaps.ts[0]) // (60 * 1_000_000_000)
    last = np.r_[np.flatnonzero(np.diff(minute)), minute.size - 1]
    return np.diff(np.log(_mid(snaps)[last]))


def _acf(x: np.ndarray, lag: int) -> float:
    x = x - x.mean()
    return float((x[:-lag] * x[lag:]).mean() / x.var())


# ----------------------------------------------------------------------------- format, determinism


def test_day_file_starts_with_clear_and_full_snapshot(day: tuple[Snapshots, Events, Events]) -> None:
    ev = day[2]
    assert ev.kind[0] == BOOK_CLEAR and ev.side[0] == 0 and ev.ts[0] == T0
    head = ev.take(slice(1, 41))
    assert np.all(head.kind == BOOK_LEVEL) and np.all(head.ts == T0)
    assert (head.side == 1).sum() == 20 and (head.side == -1).sum() == 20
    assert np.all(head.sz > 0)


def test_canonical_columns_and_day_bounds(day: tuple[Snapshots, Events, Events]) -> None:
    ev = day[2]
    for (name, dtype), col in zip(EVENT_COLUMNS, ev, strict=True):
        assert col.dtype == np.dtype(dtype), name
    store.validate_events(ev, "synthetic day")
    assert ev.ts[-1] < T0 + 24 * NS_PER_HOUR
    assert np.all(ev.local_ts > ev.ts)
    assert set(np.unique(ev.kind)) == {BOOK_LEVEL, TRADE, BOOK_CLEAR, FUNDING}
    assert np.count_nonzero(ev.kind == BOOK_CLEAR) == 1
    book = ev.kind == BOOK_LEVEL
    assert np.all(ev.px[book] == np.round(ev.px[book]))  # $1 tick
    lots = ev.sz[ev.kind != FUNDING] * 1e5
    assert np.allclose(lots, np.round(lots), atol=1e-6)  # szDecimals 5


def test_same_seed_same_events_other_seed_differs() -> None:
    a = generate_day(0, 3, hours=1)
    b = generate_day(0, 3, hours=1)
    c = generate_day(0, 4, hours=1)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert len(a) != len(c) or not np.array_equal(a.px, c.px)


def test_partial_day_matches_raw_path() -> None:
    """next_day (what files hold) and next_day_raw + to_events are the same market."""
    ev = generate_day(0, 5, hours=2)
    _, snaps, other = MarketSimulator(5).next_day_raw(2)
    for x, y in zip(ev, to_events(snaps, other), strict=True):
        np.testing.assert_array_equal(x, y)


def test_later_day_continues_the_same_market() -> None:
    sim = MarketSimulator(11)
    _, first = sim.next_day(hours=24)
    second = generate_day(1, 11, hours=1)
    assert second.ts[0] == T0 + 24 * NS_PER_HOUR and second.kind[0] == BOOK_CLEAR
    last_trade = first.px[first.kind == TRADE][-1]
    first_bid = second.px[1]
    assert abs(first_bid / last_trade - 1) < 0.01  # no gap at midnight


# ------------------------------------------------------------------------------------- replay


def _replay_check(ev: Events, snaps: Snapshots, n_snaps: int) -> None:
    """Apply level rows with dicts; after each snapshot the book must equal it inside its window and never cross."""
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    i = 0
    n = len(ev)
    for s in range(n_snaps):
        t = snaps.ts[s]
        while i < n and ev.ts[i] <= t:
            k = ev.kind[i]
            if k == BOOK_CLEAR:
                bids.clear()
                asks.clear()
            elif k == BOOK_LEVEL:
                book = bids if ev.side[i] == 1 else asks
                if ev.sz[i] == 0.0:
                    book.pop(ev.px[i], None)
                else:
                    book[ev.px[i]] = ev.sz[i]
            i += 1
        best_bid, best_ask = max(bids), min(asks)
        assert best_bid < best_ask, f"crossed book at snapshot {s}"
        nb, na = snaps.bid_n[s], snaps.ask_n[s]
        shown_b = sorted((p for p in bids if p >= snaps.bid_px[s, nb - 1]), reverse=True)
        shown_a = sorted(p for p in asks if p <= snaps.ask_px[s, na - 1])
        assert shown_b == list(snaps.bid_px[s, :nb]) and shown_a == list(snaps.ask_px[s, :na])
        assert [bids[p] for p in shown_b] == list(snaps.bid_sz[s, :nb])
        assert [asks[p] for p in shown_a] == list(snaps.ask_sz[s, :na])


def test_replayed_book_equals_snapshots_and_never_crosses(day: tuple[Snapshots, Events, Events]) -> None:
    snaps, _, ev = day
    _replay_check(ev, snaps, 8000)  # about 70 minutes


# ------------------------------------------------------------------------------------ rates, book


def test_event_rates_match_real_hyperliquid(day: tuple[Snapshots, Events, Events]) -> None:
    snaps, other, ev = day
    book_rows = np.count_nonzero(ev.kind == BOOK_LEVEL)
    trades = np.count_nonzero(other.kind == TRADE)
    # Real: 1.0 M/day (2025-01-26 sample) .. 4.0 M/day (2025-09-03 capture); trades 221-229 k/day.
    assert 1_000_000 <= book_rows <= 4_000_000
    assert 100_000 <= trades <= 400_000
    gaps = np.diff(snaps.ts) / 1e6
    assert 450 <= np.median(gaps) <= 650  # real median push interval 544 ms


def test_spread_mostly_one_tick(day: tuple[Snapshots, Events, Events]) -> None:
    snaps = day[0]
    spread = snaps.ask_px[:, 0] - snaps.bid_px[:, 0]
    assert spread.min() >= 1
    one_tick = np.mean(spread == 1)
    assert 0.85 <= one_tick <= 0.99  # real 0.93 (capture), 0.98 (sample)
    assert spread.max() >= 5  # sweeps open wide spreads sometimes (real max 23 ticks in 9 minutes)


def test_depth_profile(day: tuple[Snapshots, Events, Events]) -> None:
    snaps = day[0]
    full = (snaps.bid_n == 20) & (snaps.ask_n == 20)
    assert full.mean() > 0.99
    sizes = np.concatenate([snaps.bid_sz[full], snaps.ask_sz[full]])
    med = np.median(sizes, axis=0)
    assert 2.0 <= med[0] <= 12.0  # real touch median 4.9-6.2 BTC
    assert np.all(med[1:4] < med[0] / 3)  # real levels 1-3: 0.11-0.68 BTC
    assert 0.4 <= np.median(med[5:]) <= 3.0  # real 0.5-1.5 BTC
    tiny = np.mean(sizes <= 0.0002)
    assert 0.05 <= tiny <= 0.25  # real 0.12 of levels are one minimum-size order


def test_trade_sizes_are_heavy_tailed(day: tuple[Snapshots, Events, Events]) -> None:
    sz = np.sort(day[1].sz[day[1].kind == TRADE])[::-1]
    k = sz.size // 20
    hill = 1.0 / np.mean(np.log(sz[:k] / sz[k]))
    assert 1.0 <= hill <= 2.5  # real Hill tail index (top 5%) 1.66, top 10% 1.39
    assert np.percentile(sz, 99) / np.median(sz) > 30  # real 190


# ----------------------------------------------------------------------------------- dynamics


def test_minute_returns_fat_tailed_and_vol_clusters(day: tuple[Snapshots, Events, Events]) -> None:
    r = _minute_returns(day[0])
    kurt = ((r - r.mean()) ** 4).mean() / r.var() ** 2 - 3
    assert kurt > 1.0  # real 3.9 (HL 1m), 10.0 (Bybit 1m)
    se = 1.0 / np.sqrt(r.size)
    acfs = [_acf(np.abs(r), lag) for lag in (1, 2, 5, 10)]
    assert sum(a > 3 * se for a in acfs) >= 3, acfs  # real |r| acf 0.21-0.29 at lag 1, 0.12-0.22 at lag 10
    assert abs(_acf(r, 1)) < 4 * se  # returns themselves are not predictable minute to minute


def test_regimes_visit_all_five_vol_bands() -> None:
    for seed in range(5):
        vol, _ = volatility_regimes(seed, hours=30 * 24)
        hourly = np.sqrt((vol.reshape(-1, 60) ** 2).mean(axis=1))
        bands = np.digitize(hourly, VOL_BANDS)
        share = np.bincount(bands, minlength=5) / bands.size
        assert np.all(share > 0), (seed, share)
        assert share[2] == share.max()  # mostly 20-40% like real BTC (Bybit 30 days: 54% of hours)


def test_realized_vol_follows_the_regime_scale(day: tuple[Snapshots, Events, Events]) -> None:
    r = _minute_returns(day[0])
    ann = r.std() * np.sqrt(525_600)
    assert 0.03 <= ann <= 1.5


def test_informed_flow_moves_the_price_after_trades(day: tuple[Snapshots, Events, Events]) -> None:
    snaps, other, _ = day
    trades = other.take(other.kind == TRADE)
    ts, first = np.unique(trades.ts, return_index=True)  # one taker order per ms
    side = trades.side[first]
    mid = _mid(snaps)
    before = np.searchsorted(snaps.ts, ts, side="right") - 1
    after = np.minimum(before + 1, mid.size - 1)
    later = np.minimum(before + 10, mid.size - 1)
    total = mid[later] - mid[before]
    assert total[side > 0].mean() > 0.5 and total[side < 0].mean() < -0.5
    # Beyond its own impact the price keeps going the trade's way: a resting order filled by it loses.
    drift = mid[later] - mid[after]
    assert drift[side > 0].mean() - drift[side < 0].mean() > 0.2  # real next-interval gap 1.5 ticks


def test_funding_hourly_near_hyperliquid_rates(day: tuple[Snapshots, Events, Events]) -> None:
    f = day[2].take(day[2].kind == FUNDING)
    assert len(f) == 24
    hours = (f.ts - T0) // NS_PER_HOUR
    np.testing.assert_array_equal(hours, np.arange(24))
    assert np.all((f.ts - T0) % NS_PER_HOUR < 500_000_000)
    assert np.all(np.abs(f.px) < 0.04) and np.all(f.side == 0) and np.all(f.sz == 0)


def test_funding_distribution_over_a_month() -> None:
    sim = MarketSimulator(2, params=MarketParams(taker_rate=0.05, news_rate=0.05, snap_interval_ms=60_000.0))
    rates = []
    for _ in range(30):
        ev = sim.next_day()[1]
        rates.append(ev.px[ev.kind == FUNDING])
    f = np.concatenate(rates)
    assert f.size == 720
    floor = np.mean(np.isclose(f, 1.25e-5, rtol=0, atol=1e-12))
    assert 0.35 <= floor <= 0.8  # real: 51% of hours exactly at the 0.00125%/h interest floor
    assert 0.0 < np.mean(f < 0) <= 0.25  # real 10% (2023-2025), 3% in the last month
    assert 1e-5 <= f.mean() <= 4e-5  # real mean 2.1e-5


def test_latency_is_a_few_to_tens_of_ms(day: tuple[Snapshots, Events, Events]) -> None:
    lat = (day[0].local_ts - day[0].ts) / 1e6
    p5, p50, p95 = np.percentile(lat, [5, 50, 95])
    assert p5 >= 2 and 5 <= p50 <= 20 and p95 <= 60
    assert np.all(np.diff(day[2].local_ts[day[2].kind != FUNDING]) >= 0)  # one FIFO feed


# ------------------------------------------------------------------------------- files and CLI


def test_generate_market_is_byte_identical_and_refuses_overwrite(tmp_path: Path) -> None:
    runner = CliRunner()
    a, b = tmp_path / "a", tmp_path / "b"
    res = runner.invoke(app, ["data", "generate", "--out", str(a), "--days", "1", "--seed", "9", "--no-progress"])
    assert res.exit_code == 0, res.output
    generate_market(b, days=1, seed=9, progress=False)
    fa, fb = a / "events" / "2026-01-01.parquet", b / "events" / "2026-01-01.parquet"
    assert fa.read_bytes() == fb.read_bytes()
    meta = store.read_dataset_meta(a)
    assert meta["generator"]["seed"] == 9 and meta["days_written"] == 1 and meta["tick_size"] == 1.0
    ev = store.read_events_file(fa)
    assert ev.kind[0] == BOOK_CLEAR
    res = runner.invoke(app, ["data", "generate", "--out", str(a), "--days", "1"])
    assert res.exit_code != 0 and "not empty" in res.output
    with pytest.raises(FileExistsError):
        generate_market(b, days=1, seed=9, progress=False)
    assert fa.read_bytes() == fb.read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "0"], "--days must be >= 1"),
        (["--days", "-3"], "--days must be >= 1"),
        (["--seed", "-1"], "--seed must be >= 0"),
        (["--start", "2026-02-30"], "--start must be a date"),
        (["--start", "yesterday"], "--start must be a date"),
    ],
)
def test_cli_rejects_bad_flags(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["data", "generate", "--out", str(out), *args])
    assert res.exit_code == 2
    assert message in res.output
    assert not out.exists()


def test_cli_entry_point_exit_code(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("x")
    proc = subprocess.run([sys.executable, "-m", "amm500", "data", "generate", "--out", str(tmp_path), "--days", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "not empty" in proc.stderr


def test_api_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="days"):
        generate_market(tmp_path / "x", days=0, seed=1)
    with pytest.raises(ValueError, match="seed"):
        generate_day(0, -1)
    with pytest.raises(ValueError, match="informed_share"):
        MarketSimulator(1, params=MarketParams(informed_share=1.5))
    assert not (tmp_path / "x").exists()
    assert dt.date(2026, 1, 1) == DEFAULT_START


def test_merge_by_ts_known_answer() -> None:
    """At equal ts the first table's rows come first (book rows before the trades they precede)."""
    a = np.array([1, 2, 2], np.int64)
    b = np.array([0, 2, 3], np.int64)
    assert merge_by_ts(a, b).tolist() == [3, 0, 1, 2, 4, 5]
    assert merge_by_ts(a, np.empty(0, np.int64)).tolist() == [0, 1, 2]
    assert merge_by_ts(np.empty(0, np.int64), b).tolist() == [0, 1, 2]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 20), max_size=40), st.lists(st.integers(0, 20), max_size=40))
def test_merge_by_ts_is_a_stable_sort(a: list[int], b: list[int]) -> None:
    ta = np.sort(np.array(a, np.int64))
    tb = np.sort(np.array(b, np.int64))
    expected = np.argsort(np.concatenate([ta, tb]), kind="stable")
    assert merge_by_ts(ta, tb).tolist() == expected.tolist()


def test_level_table_medians_follow_the_parameters() -> None:
    """The per-depth table: touch median, one tick behind, and the deep-book limit, in BTC."""
    mp = MarketParams(level0_median=5.0, level1_median=0.2, deep_median=2.0, depth_scale=4.0)
    kp = mp.kernel()
    tab = level_table(kp)
    median_btc = np.exp(tab[:, 0]) / kp.inv_lot
    assert tab.shape == (MAX_SCAN, 3)
    assert median_btc[0] == pytest.approx(5.0)
    assert median_btc[1] == pytest.approx(0.2)
    assert median_btc[5] == pytest.approx(0.2 + 1.8 * (1 - np.exp(-1.0)))
    assert median_btc[-1] == pytest.approx(2.0, rel=1e-6)
    assert np.all(np.diff(median_btc[1:]) > 0)
    assert tab[0, 1] == mp.level0_sigma and np.all(tab[1:, 1] == mp.level_sigma)
    assert tab[0, 2] == mp.tiny_share_touch and np.all(tab[1:, 2] == mp.tiny_share)
