"""Backtesting: a queue- and latency-aware tick engine, bar mode, metrics and the HTML report."""

from amm500.backtest.market import Market, load_market
from amm500.backtest.runner import BacktestResult, run_backtest

__all__ = ["BacktestResult", "Market", "load_market", "run_backtest"]
