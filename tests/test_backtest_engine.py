"""The tick engine on hand-built event sequences whose fills, fees and times are known in advance.

Every scenario starts from the same book (99,999 / 100,001) and the reference strategy quoting one
0.002 BTC level per side at 99,995 / 100,005; timers start at the first event the strategy sees,
shifted 500 ms by the helpers' ``backtest.timer_offset_ms``, so the first quote is sent at +500 ms
and reaches the exchange at +550 ms (50 ms order latency).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from amm500.backtest.report import stopped_text
from amm500.backtest.runner import run_backtest
from amm500.data import store
from amm500.sim.layout import A_EXT_VOL, F_MAKER, F_PX, F_SIDE, F_SZ
from backtest_helpers import ASK, BID, BUY, SELL, T0, book, config, events, funding, level, ms, run, trade

FEE_MAKER = 0.00015


def test_risk_averse_queue_fills_only_after_the_queue_ahead_trades(tmp_path: Path) -> None:
    rows = [*book(0), level(0, BID, 99_995, 1.0), level(0, ASK, 100_005, 1.0),
            trade(1000, SELL, 99_995, 0.999),  # 0.001 left ahead of us
            trade(1100, SELL, 99_995, 0.0015),  # 0.0005 reaches us: partial fill
            trade(1200, SELL, 99_995, 0.01)]  # the rest
    r = run(tmp_path, rows)
    assert ms(r.fills_ts) == [1100.0, 1200.0]
    np.testing.assert_allclose(r.fills[:, F_SZ], [0.0005, 0.0015], atol=1e-12)
    assert np.all(r.fills[:, F_PX] == 99_995) and np.all(r.fills[:, F_SIDE] == 1) and np.all(r.fills[:, F_MAKER] == 1)


def test_without_partial_fills_the_first_trade_reaching_us_fills_everything(tmp_path: Path) -> None:
    rows = [*book(0), level(0, BID, 99_995, 1.0), trade(1000, SELL, 99_995, 0.999),
            trade(1100, SELL, 99_995, 0.0015)]
    r = run(tmp_path, rows, "backtest.partial_fills=false")
    assert ms(r.fills_ts) == [1100.0]
    np.testing.assert_allclose(r.fills[:, F_SZ], [0.002])


def test_trades_before_our_order_arrived_do_not_count_for_the_queue(tmp_path: Path) -> None:
    # 0.999 trades at 520 ms, before our order reaches the exchange at 550 ms: 1.0 is still ahead
    rows = [*book(0), level(0, BID, 99_995, 1.0), trade(520, SELL, 99_995, 0.999),
            trade(1000, SELL, 99_995, 0.5)]
    r = run(tmp_path, rows)
    assert r.metrics["fills"] == 0


@pytest.mark.parametrize(("model", "expected"), [("risk_averse", []), ("prob", [0.001])])
def test_cancellations_advance_us_only_in_the_prob_model(tmp_path: Path, model: str, expected: list[float]) -> None:
    # we join 1.0 BTC; 2.0 join behind; 1.0 is cancelled; then 0.801 trades at our price.
    # risk_averse: ahead stays 1.0 -> 0.199 left, no fill.
    # prob (n=2): front 1, back 2 -> p = 4/5 of the cancel came from behind -> ahead 0.8 -> fill 0.001.
    rows = [*book(0), level(0, BID, 99_995, 1.0), level(800, BID, 99_995, 3.0), level(900, BID, 99_995, 2.0),
            trade(1000, SELL, 99_995, 0.801)]
    r = run(tmp_path, rows, f"backtest.queue_model={model}", "backtest.queue_power=2")
    np.testing.assert_allclose(r.fills[:, F_SZ], expected, atol=1e-9)


def test_a_trade_through_our_price_fills_the_whole_order(tmp_path: Path) -> None:
    rows = [*book(0), level(0, BID, 99_995, 50.0), trade(1000, SELL, 99_990, 0.0001)]
    r = run(tmp_path, rows)
    assert ms(r.fills_ts) == [1000.0]
    np.testing.assert_allclose(r.fills[:, F_SZ], [0.002])
    assert r.fills[0, F_PX] == 99_995  # at our price, as maker


def test_the_book_moving_onto_our_price_fills_us_as_maker(tmp_path: Path) -> None:
    rows = [*book(0), level(1000, ASK, 99_995, 1.0)]  # the ask drops onto our bid
    r = run(tmp_path, rows)
    assert ms(r.fills_ts) == [1000.0]
    assert r.fills[0, F_MAKER] == 1 and r.fills[0, F_PX] == 99_995


@pytest.mark.parametrize(("latency_ms", "first_fill_ms"), [(50, 560.0), (100, 650.0), (300, 900.0)])
def test_an_order_cannot_fill_before_it_reaches_the_exchange(tmp_path: Path, latency_ms: int,
                                                            first_fill_ms: float) -> None:
    # trades through our bid at 520, 560, 650, 900 ms; the order is sent at 500 ms
    rows = [*book(0), *(trade(t, SELL, 99_990, 0.01) for t in (520, 560, 650, 900))]
    r = run(tmp_path, rows, f"backtest.order_latency_ms={latency_ms}")
    assert ms(r.fills_ts)[0] == first_fill_ms


def test_the_strategy_cannot_see_an_event_before_its_local_time(tmp_path: Path) -> None:
    # the book reaches us 300 ms late: timers start at 300, first quote 800, at the exchange 850 ms
    rows = [*book(0, lt=300), *(trade(t, SELL, 99_990, 0.01) for t in (520, 560, 650, 900))]
    assert ms(run(tmp_path / "a", rows).fills_ts)[0] == 900.0
    # the same through the config's extra feed latency
    rows = [*book(0), *(trade(t, SELL, 99_990, 0.01) for t in (520, 560, 650, 900))]
    assert ms(run(tmp_path / "b", rows, "backtest.feed_latency_ms=300").fills_ts)[0] == 900.0


def test_post_only_orders_are_rejected_if_they_would_cross_on_arrival(tmp_path: Path) -> None:
    # sent at 500 ms against 99,999/100,001; at 520 ms the ask drops to 99,995 (we see it only at 600)
    rows = [*book(0), level(520, BID, 99_990, 5.0, lt=600), level(520, ASK, 99_995, 1.0, lt=600)]
    r = run(tmp_path, rows)
    assert r.metrics["rejects"]["post_only_cross"] == 1
    assert r.metrics["fills"] == 0


def test_maker_fee_and_rebate_signs(tmp_path: Path) -> None:
    rows = [*book(0), trade(1000, SELL, 99_990, 0.01)]
    notional = 99_995 * 0.002
    paid = run(tmp_path / "a", rows)
    assert paid.metrics["fees"] == pytest.approx(notional * FEE_MAKER)
    rebate = run(tmp_path / "b", rows, "backtest.maker_fee=-0.0001")
    assert rebate.metrics["fees"] == pytest.approx(-notional * 0.0001)
    # net = position marked at the last mid (100,000) minus the fee
    assert paid.metrics["net_pnl"] == pytest.approx(0.002 * (100_000 - 99_995) - notional * FEE_MAKER)
    assert rebate.metrics["net_pnl"] == pytest.approx(0.002 * (100_000 - 99_995) + notional * 0.0001)


@pytest.mark.parametrize(("fill_side", "rate", "paid"), [(SELL, 1e-4, 0.02), (SELL, -1e-4, -0.02),
                                                        (BUY, 1e-4, -0.02)])
def test_funding_long_pays_on_positive_rate(tmp_path: Path, fill_side: int, rate: float, paid: float) -> None:
    # a sell trade through our bid makes us long 0.002; a buy through our ask makes us short
    px = 99_990 if fill_side == SELL else 100_010
    rows = [*book(0), trade(1000, fill_side, px, 0.01), funding(2000, rate)]
    r = run(tmp_path, rows)
    # payment = position x mid x rate = 0.002 x 100,000 x 1e-4 = 0.02
    assert r.metrics["funding"] == pytest.approx(paid)
    assert r.metrics["funding_events"] == 1


def test_liquidation_closes_the_position_at_the_mark(tmp_path: Path) -> None:
    # $100 at 40x, 90% per order: 0.036 BTC. Long at 99,995, then the mid drops to 97,001.
    rows = [*book(0), trade(600, SELL, 99_990, 1.0), level(700, ASK, 97_002, 5.0), level(700, BID, 97_000, 5.0),
            level(2000, BID, 96_990, 1.0)]
    r = run(tmp_path, rows, "backtest.initial_equity=100", "trading.leverage=40", "trading.order_size_fraction=0.9")
    m = r.metrics
    assert m["liquidations"] == 1
    assert m["killed"] == "liquidated"
    assert m["liquidation_loss"] == pytest.approx(0.036 * (99_995 - 97_001))
    assert m["inventory"]["final_btc"] == 0.0
    assert ms(r.fills_ts) == [600.0, 700.0]  # our bid, then the liquidation at the mark
    assert r.fills[1, F_PX] == 97_001 and r.fills[1, F_SIDE] == -1


def test_markouts_are_signed_so_that_positive_is_good(tmp_path: Path) -> None:
    # bought at 99,995 at 1.0 s; the mid is 100,000 at 2.0 s: +0.5 bps at 1 s; no data 10 s later
    rows = [*book(0), trade(1000, SELL, 99_990, 0.01), level(2500, ASK, 100_003, 1.0)]
    mk = run(tmp_path, rows).metrics["markouts"]
    assert mk["1s"]["mean_bps"] == pytest.approx((100_000 - 99_995) / 99_995 * 1e4)
    assert mk["10s"]["n"] == 0 and mk["10s"]["mean_bps"] is None


def test_every_horizon_resolves_without_later_fills(tmp_path: Path) -> None:
    # one fill at 1.0 s, then only book updates: the 10 s and 60 s mark-outs still come due
    rows = [*book(0), trade(1000, SELL, 99_990, 0.01), level(2500, ASK, 100_003, 1.0),
            level(12_000, BID, 99_997, 1.0), level(70_000, BID, 99_996, 1.0)]
    mk = run(tmp_path, rows).metrics["markouts"]
    assert [mk[h]["n"] for h in ("1s", "10s", "60s")] == [1, 1, 1]
    assert mk["60s"]["mean_bps"] == pytest.approx((100_000 - 99_995) / 99_995 * 1e4)  # best prices unchanged


def test_external_volatility_is_applied_causally(tmp_path: Path) -> None:
    root = tmp_path / "d"
    store.write_events(root, events([*book(0), level(3000, BID, 99_998, 1.0)]))
    s = 1_000_000_000
    seen = run_backtest(config(), root, vol_forecast=(np.array([T0 + s, T0 + 10 * s]), np.array([0.3, 0.9])))
    assert seen.acct[A_EXT_VOL] == 0.3  # the 10 s forecast lies after the last timer (3 s)
    future = run_backtest(config(), root, vol_forecast=(np.array([T0 + 10 * s]), np.array([0.9])))
    assert np.isnan(future.acct[A_EXT_VOL])


def test_orders_below_the_minimum_value_are_rejected_and_counted(tmp_path: Path) -> None:
    # $10 per order sized at the mid is 0.0001 BTC: the ask (100,005) is worth $10.0005, the bid $9.9995
    rows = [*book(0), level(2000, BID, 99_998, 1.0)]
    r = run(tmp_path, rows, "trading.leverage=1", "trading.order_size_fraction=0.01")
    assert r.metrics["rejects"]["min_notional"] == 3  # bids sent at 500, 1000, 1500 ms
    assert r.metrics["orders_sent"] == 4 + 1  # + the one ask, kept resting since


def test_kill_switch_cancels_flattens_and_stops(tmp_path: Path) -> None:
    # the full strategy quotes; a sell sweep fills our bids, the market drops 1%, the session-loss
    # kill switch fires: cancel everything, flatten with a reduce-only IOC, quote no more
    rows = [*book(0), level(500, BID, 99_998, 1.0), trade(3000, SELL, 99_000, 50.0),
            level(4000, ASK, 99_002, 5.0), level(4000, BID, 99_000, 5.0),
            *(level(4000 + 500 * k, BID, 98_990 - k, 1.0) for k in range(12))]
    r = run(tmp_path, rows, "trading.strategy=market_making", "risk.max_session_loss=0.5",
            "risk.position_timeout_enabled=false")
    m = r.metrics
    assert m["fills"] >= 2 and m["killed"] == "kill_switch" and m["kill_reason"] == "session_loss"
    assert m["taker_orders"] >= 1 and m["inventory"]["final_btc"] == 0.0
    takers = r.fills[r.fills[:, F_MAKER] == 0]
    assert takers.shape[0] >= 1 and np.all(takers[:, F_SIDE] == -1)  # sold into the bids
    assert np.all(r.fills_ts[r.fills[:, F_MAKER] == 1] <= r.fills_ts[r.fills[:, F_MAKER] == 0].min())
    # the summary says when it stopped, and uptime counts the rest of the run as down time
    after = (m["kill_time_ns"] - T0) / 1e9
    assert m["stopped_after_s"] == pytest.approx(after) and 3.0 <= after < 5.0
    assert stopped_text(m).startswith("kill switch (session_loss) at 00:00:0")
    n_timers = int(9.5 / 0.5)  # quote timers over the 9.5 s of data
    assert m["quote_uptime"] <= after / 0.5 / n_timers + 0.01
    assert m["strategy_quoting_ratio"] <= after / 0.5 / n_timers + 0.01


@pytest.mark.parametrize(("seen_at_ms", "fill_px"), [(500, [100_094.0]), (501, [])])
def test_a_book_update_reaching_the_strategy_at_a_timer_is_seen_by_that_timer(
        tmp_path: Path, seen_at_ms: float, fill_px: list[float]) -> None:
    # the book jumps to 100,099 / 100,101 at 480 ms (exchange) and reaches the strategy at seen_at_ms;
    # the 500 ms quote timer sees it only on a tie (events first): bid 100,094 (mid 100,100 - $5.005,
    # floored), which the 700 ms sell at 100,090 goes through; one ms later the bid is still 99,995
    jump = [level(480, ASK, 100_101, 5.0, lt=seen_at_ms), level(480, BID, 100_099, 5.0, lt=seen_at_ms)]
    rows = [*book(0), *jump, trade(700, SELL, 100_090, 0.01)]
    r = run(tmp_path, rows)
    assert list(r.fills[:, F_PX]) == fill_px
