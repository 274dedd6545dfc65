"""1-minute candles built from canonical trades: known answers on a hand-built day, and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from amm500.backtest.runner import run_backtest
from amm500.cli import app
from amm500.config import load_config
from amm500.data import store
from amm500.data.bars import NS_PER_MIN, minute_bars
from amm500.data.schema import ASK, BID, BOOK_LEVEL, TRADE, make_events

T0 = 1_767_225_600_000_000_000  # 2026-01-01 00:00 UTC


def _day() -> object:
    rows = [  # (ts, kind, side, px, sz)
        (T0 + 1, BOOK_LEVEL, BID, 89_999.0, 1.0),  # book rows never make candles
        (T0 + 5, TRADE, BID, 90_000.0, 0.1),
        (T0 + 7, TRADE, ASK, 90_004.0, 0.2),
        (T0 + 9, TRADE, BID, 89_998.0, 0.3),
        (T0 + NS_PER_MIN - 1, TRADE, ASK, 90_001.0, 0.4),
        # minute 1: no trades, no candle
        (T0 + 2 * NS_PER_MIN + 3, BOOK_LEVEL, ASK, 90_010.0, 2.0),
        (T0 + 2 * NS_PER_MIN + 4, TRADE, ASK, 90_010.0, 0.5),
    ]
    ts, kind, side, px, sz = (np.array(c) for c in zip(*rows, strict=True))
    return make_events(ts=ts, local_ts=ts, kind=kind, side=side, px=px, sz=sz)


def test_candles_have_known_ohlcv() -> None:
    bars = minute_bars(_day())  # type: ignore[arg-type]
    assert bars.ts.tolist() == [T0, T0 + 2 * NS_PER_MIN]
    assert bars.open.tolist() == [90_000.0, 90_010.0]
    assert bars.high.tolist() == [90_004.0, 90_010.0]
    assert bars.low.tolist() == [89_998.0, 90_010.0]
    assert bars.close.tolist() == [90_001.0, 90_010.0]
    assert np.allclose(bars.volume, [1.0, 0.5])
    assert bars.trades.tolist() == [4, 1]


def test_cli_writes_bars_that_bar_mode_backtests(tmp_path: Path) -> None:
    store.write_events(tmp_path, _day())  # type: ignore[arg-type]
    result = CliRunner().invoke(app, ["data", "bars", str(tmp_path)])
    assert result.exit_code == 0, result.output
    back = store.load_bars(tmp_path)
    assert back.close.tolist() == [90_001.0, 90_010.0]
    result = run_backtest(load_config(overrides={"backtest": {"fill_model": "bar"}}), tmp_path, progress=False)
    assert result.metrics["fill_model"] == "bar"
    assert result.metrics["events"] == 2  # one step per candle


def test_cli_refuses_a_directory_without_events(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["data", "bars", str(tmp_path)])
    assert result.exit_code != 0
    assert "events" in result.output
