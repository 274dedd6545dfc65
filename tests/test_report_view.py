"""What the backtest summary and HTML report show a person (issue 15, classes 5 and 6).

A stopped run and a quoting run on the same hand-built hour: the banner's colour and sentence, units
on every figure, no fake zero at the start of the price chart, no spread drawn while not quoting, the
position after every fill, a reason for a null Sharpe. The report of each is photographed with
headless Chromium into the test's tmp folder (``report-stopped.png``, ``report-quoting.png``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from amm500.backtest.report import chart_series, render_report, summary_table, write_report
from amm500.backtest.runner import BacktestResult, run_backtest
from amm500.backtest.units import fmt_metric
from amm500.data import store
from amm500.data.schema import BOOK_CLEAR, BOOK_LEVEL, NS_PER_MS, TRADE, make_events
from backtest_helpers import T0
from browser_helpers import screenshot
from seed_helpers import seed_config


def _hour(root: Path, seed: int = 3) -> Path:
    """One hour: a one-tick book on a random walk every 100 ms, a 0.05 BTC trade at the touch every 500 ms."""
    rng = np.random.default_rng(seed)
    n = 36_000
    mid = 100_000 + np.cumsum(rng.choice([-1, 0, 0, 1], size=n))
    rows: list[tuple[float, int, int, float, float]] = []
    for k in range(n):
        t = k * 100.0
        rows += [(t, BOOK_CLEAR, 0, 0.0, 0.0), (t, BOOK_LEVEL, 1, float(mid[k]), 2.0),
                 (t, BOOK_LEVEL, -1, float(mid[k] + 1), 2.0)]
        if k % 5 == 4:
            side = int(rng.choice([-1, 1]))
            rows.append((t + 50, TRADE, side, float(mid[k] + (6 if side > 0 else -5)), 0.05))
    a = np.array(rows)
    ts = T0 + np.round(a[:, 0] * NS_PER_MS).astype(np.int64)
    ev = make_events(ts, ts.copy(), a[:, 1].astype(np.uint8), a[:, 2].astype(np.int8), a[:, 3], a[:, 4]).sorted()
    store.write_events(root, ev)
    return root


#: the seed's 1 bps ladder (configs/seed.toml), which this hour's trades at the touch fill often
SETS = ["backtest.record_interval_s=60", "backtest.maker_fee=0"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BacktestResult]:
    data = _hour(tmp_path_factory.mktemp("hour") / "d")
    stopped = run_backtest(seed_config([*SETS, "risk.max_consecutive_losses=2"]), data)
    # the documented way to see it quote through: only the consecutive-losses rule off, other limits kept
    quoting = run_backtest(seed_config([*SETS, "risk.max_consecutive_losses=0"]), data)
    guarded = run_backtest(seed_config([*SETS, "risk.max_consecutive_losses=0", "risk.max_drawdown=0.00001"]),
                           data)
    return {"stopped": stopped, "quoting": quoting, "guarded": guarded}


def test_a_stopped_run_says_what_stopped_it_and_how_to_go_on(runs: dict[str, BacktestResult]) -> None:
    m = runs["stopped"].metrics
    assert m["killed"] == "kill_switch"
    assert m["verdict"]["level"] in ("amber", "red")
    text = m["verdict"]["text"]
    assert "2 losing round trips in a row" in text and "risk.max_consecutive_losses = 2" in text
    assert "--set risk.max_consecutive_losses=0" in text  # the way on that keeps the other limits
    page = render_report(runs["stopped"])
    assert f'class="banner {m["verdict"]["level"]}"' in page
    assert 'class="banner green"' not in page


def test_turning_off_consecutive_losses_keeps_the_other_limits(runs: dict[str, BacktestResult]) -> None:
    assert runs["quoting"].metrics["killed"] == "no"
    m = runs["guarded"].metrics
    assert (m["killed"], m["kill_reason"]) == ("kill_switch", "drawdown")
    assert "risk.max_drawdown" in m["verdict"]["text"]


def test_a_quoting_run_is_green_and_draws_no_fake_zero(runs: dict[str, BacktestResult]) -> None:
    res = runs["quoting"]
    assert res.metrics["killed"] == "no"
    assert res.metrics["verdict"]["level"] in ("green", "amber")  # amber only for a loss over 5%
    s = chart_series(res)
    finite = s["mid"][np.isfinite(s["mid"])]
    assert finite.size and finite.min() > 90_000  # the price axis is not stretched down to 0
    assert not np.any(s["mid"] == 0.0) and not np.any(s["spread"] == 0.0)


def test_no_spread_or_regime_is_drawn_after_a_kill(runs: dict[str, BacktestResult]) -> None:
    res = runs["stopped"]
    s = chart_series(res)
    after = res.rec_ts > res.metrics["kill_time_ns"] + 1_000_000_000
    assert after.any()
    assert np.all(np.isnan(s["spread"][after])) and np.all(np.isnan(s["regime"][after]))


def test_inventory_is_drawn_at_every_fill(runs: dict[str, BacktestResult]) -> None:
    res = runs["quoting"]
    s = chart_series(res)
    assert s["position"].size == res.fills.shape[0] > 0
    assert np.max(np.abs(s["position"])) == pytest.approx(res.metrics["inventory"]["max_abs_btc"], abs=1e-9)


def test_the_summary_shows_units_and_percentages(runs: dict[str, BacktestResult]) -> None:
    m = runs["quoting"].metrics
    console = Console(record=True, width=140)
    console.print(summary_table(m))
    text = console.export_text()
    assert fmt_metric("return", m["return"]) in text and "%" in fmt_metric("return", m["return"])
    assert " USD" in text and " / day" in text and "annual_roi" not in text
    assert fmt_metric("annual_roi", -290.197) == "-29,020%"  # the issue's -290.197 fraction
    assert fmt_metric("trades_per_day", 39.5001) == "39.5 / day"


def test_a_null_sharpe_comes_with_its_reason(runs: dict[str, BacktestResult]) -> None:
    m = runs["quoting"].metrics
    assert m["sharpe"] is None  # one hour: no two daily returns
    assert "2 daily returns" in m["sharpe_note"]
    assert m["sharpe_note"] in render_report(runs["quoting"])


def test_report_screenshots(runs: dict[str, BacktestResult], tmp_path: Path) -> None:
    for name in ("stopped", "quoting"):
        res = runs[name]
        page = tmp_path / f"report-{name}.html"
        write_report(res, page)
        png = screenshot(page, tmp_path / f"report-{name}.png")
        assert png.stat().st_size > 20_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (tmp_path / "metrics.json").write_text(json.dumps({k: r.metrics["verdict"] for k, r in runs.items()}))
