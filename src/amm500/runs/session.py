"""Build a trading session from a config and a mode: venue, engine, journal, state folder.

Commands never wire these pieces themselves: ``amm500 demo`` asks for a ``rehearsal``, ``amm500
paper`` for ``paper`` and ``amm500 live`` for ``live``, so that what differs between modes is only
what this module chooses (which venue, which key, which market) and never a second copy of the wiring.

* ``rehearsal``: the local Hyperliquid-compatible exchange on 127.0.0.1 replaying a market folder,
  over real HTTP and WebSocket, with a throwaway key made for the run and funded with
  ``backtest.initial_equity`` (the key is never printed or stored).
* ``paper``: market data from a Hyperliquid WebSocket (mainnet, testnet, the local exchange or a
  URL), read with no key; orders matched in process by :class:`~amm500.venues.paper.PaperVenue`.
  Nothing is ever signed. The paper account (cash, position) carries over between runs through the
  journal.
* ``live``: real orders with the configured key. Mainnet needs ``confirmed=True`` (the CLI asks for a
  typed ``LIVE``); a key that can act for neither the configured account nor as its approved agent is
  refused before anything is sent.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amm500.config import Config, ConfigError
from amm500.core.instrument import Instrument
from amm500.core.params import P_VOL_SOURCE
from amm500.live.engine import Engine
from amm500.live.quote_loop import QuoteLoop
from amm500.store import state_dir as sd
from amm500.store.journal import Identity, JournalError, reader
from amm500.venues.hyperliquid.client import HyperliquidClient
from amm500.venues.hyperliquid.signing import MAINNET_API_URL, is_mainnet_url

MODES = ("rehearsal", "paper", "live")
NAMED = {"mainnet": MAINNET_API_URL, "testnet": "https://api.hyperliquid-testnet.xyz"}


class MainnetNotConfirmed(ConfigError):
    """Live trading on mainnet was asked for without the typed confirmation."""


@dataclass(frozen=True)
class Network:
    name: str  # mainnet | testnet | local | the URL's host:port
    api: str
    ws: str

    @property
    def mainnet(self) -> bool:
        return is_mainnet_url(self.api)


def resolve_network(spec: str | None, config: Config) -> Network:
    """``mainnet``, ``testnet``, ``local`` or an ``http(s)://host:port`` URL; None: the config's network.
    (``sim``, paper only, is resolved by :func:`trading_session`: it starts its own local exchange.)"""
    if spec is None:
        api, ws = config.network.urls()
        name = config.network.network if config.network.network != "custom" else api.split("://", 1)[-1]
        return Network(name, api, ws)
    if spec in NAMED:
        api = NAMED[spec]
        return Network(spec, api, "wss" + api[len("https"):] + "/ws")
    if spec == "local":
        api, ws = config.network.model_copy(update={"network": "local", "api_url": None, "ws_url": None}).urls()
        return Network("local", api, ws)
    if spec.startswith(("http://", "https://")):
        api = spec.rstrip("/")
        return Network(api.split("://", 1)[1], api, "ws" + api[len("http"):] + "/ws")
    if spec == "sim":
        return Network("sim", "http://127.0.0.1", "ws://127.0.0.1/ws")  # replaced by the started exchange's
    raise ConfigError(f"--network {spec!r}: must be mainnet, testnet, local, sim (paper only) or an http(s):// URL")


@dataclass
class Session:
    """A started engine and what it runs on; valid inside :func:`trading_session`'s ``async with``."""

    mode: str
    engine: Engine
    network: Network
    account: str  # the trading address (public), or "paper"
    state_dir: Path
    exchange: Any = None  # a rehearsal's in-process local exchange (exchange_sim.server.RunningExchange)

    @property
    def loop(self) -> QuoteLoop:
        assert self.engine.loop is not None  # set once the engine has started
        return self.engine.loop


def _paper_opening(path: Path, equity: float) -> tuple[float, float, float]:
    """(equity, position, entry price) the paper account resumes from: its last journalled snapshot."""
    if not path.is_file():
        return equity, 0.0, 0.0
    with reader(path) as conn:
        row = conn.execute("SELECT equity, position, mid FROM equity ORDER BY ts_ns DESC LIMIT 1").fetchone()
    if row is None or not row["mid"]:
        return equity, 0.0, 0.0
    return float(row["equity"]), float(row["position"]), float(row["mid"])


@contextlib.asynccontextmanager
async def trading_session(config: Config, mode: str, *, market: Path | None = None, network: str | None = None,
                          state_dir: Path | None = None, metrics_port: int | None = 0,
                          paper_equity: float | None = None, confirmed: bool = False,
                          vol_model: Path | None = None) -> AsyncIterator[Session]:
    """Everything for one run of ``mode``, started and reconciled; on exit every order is cancelled,
    the journal closed, the venue disconnected and any local exchange stopped. ``vol_model``: a
    VolatilityLSTM file whose forecasts set the spreads (``trading.volatility_source = "lstm"``)."""
    async with _session(config, mode, market=market, network=network, state_dir=state_dir,
                        metrics_port=metrics_port, paper_equity=paper_equity, confirmed=confirmed) as session:
        if vol_model is not None:
            from amm500.signals.ml.predictor import VolatilityPredictor

            session.loop.vol_predictor = VolatilityPredictor(vol_model)
            session.loop.strategy.params[P_VOL_SOURCE] = 1.0
        yield session


@contextlib.asynccontextmanager
async def _session(config: Config, mode: str, *, market: Path | None, network: str | None, state_dir: Path | None,
                   metrics_port: int | None, paper_equity: float | None, confirmed: bool) -> AsyncIterator[Session]:
    if mode not in MODES:
        raise ConfigError(f"mode {mode!r}: must be one of {', '.join(MODES)}")
    common: dict[str, Any] = {
        "use_ws_post": config.execution.use_ws_post, "timeout_s": config.network.request_timeout_s,
        "ping_interval_s": config.network.ws_ping_interval_s, "max_backoff_s": config.network.reconnect_max_backoff_s}
    if mode == "rehearsal":
        if market is None:
            raise ConfigError("rehearsal: a market folder to replay is needed")
        from eth_account import Account

        from amm500.exchange_sim.exchange import SimConfig
        from amm500.exchange_sim.server import run_exchange

        wallet = Account.create()  # a throwaway key for this run only; never printed or stored
        address = wallet.address.lower()
        fees = Instrument.from_config(config)  # the configured tier, as the backtest of the same settings pays
        # the backtester's fill model (its queue estimate, fees and tick), so a rehearsal and a backtest of the
        # same data differ only in the engine's timing (docs/parity.md)
        sim_config = SimConfig(maker_fee=fees.maker_fee, taker_fee=fees.taker_fee, queue_matching=config)
        async with run_exchange({address: config.backtest.initial_equity}, data=market, config=sim_config) as sim:
            net = Network("local", sim.base_url, sim.ws_url)
            client = HyperliquidClient(sim.base_url, sim.ws_url, config.trading.symbol,
                                       private_key=wallet.key.hex(), **common)
            folder = state_dir or sd.default_state_dir(mode, net.name, address)
            async with Engine.start(client, config, Identity(mode, net.name, address), folder,
                                    metrics_port=metrics_port) as engine:
                yield Session(mode, engine, net, address, folder, sim)
        return

    if network == "sim":
        if mode != "paper":
            raise ConfigError("--network sim (an in-process local exchange) is for paper trading only")
        from amm500.exchange_sim.server import run_exchange

        async with run_exchange({}, market="random-walk") as sim:
            net = Network("sim", sim.base_url, sim.ws_url)
            async with _paper(config, net, state_dir, metrics_port, paper_equity, common) as session:
                yield session
        return
    net = resolve_network(network, config)
    if mode == "paper":
        async with _paper(config, net, state_dir, metrics_port, paper_equity, common) as session:
            yield session
        return

    # live
    if net.mainnet and not confirmed:
        raise MainnetNotConfirmed("live trading on mainnet needs the typed confirmation (type LIVE at the prompt, "
                                  "or pass --i-understand-this-is-real-money when there is no terminal)")
    key = config.private_key()
    if not key:
        raise ConfigError("live trading needs a signing key: set AMM500_PRIVATE_KEY or network.keystore_path "
                          "(an API wallet of network.account_address is recommended)")
    client = HyperliquidClient(net.api, net.ws, config.trading.symbol, private_key=key,
                               account_address=config.network.account_address,
                               vault_address=config.network.vault_address, **common)
    del key
    account = client.user or "?"
    folder = state_dir or sd.default_state_dir(mode, net.name, account)
    async with Engine.start(client, config, Identity(mode, net.name, account), folder,
                            metrics_port=metrics_port) as engine:
        yield Session(mode, engine, net, account, folder)


@contextlib.asynccontextmanager
async def _paper(config: Config, net: Network, state_dir: Path | None, metrics_port: int | None,
                 paper_equity: float | None, common: dict[str, Any]) -> AsyncIterator[Session]:
    from amm500.venues.paper import PaperVenue

    folder = state_dir or sd.default_state_dir("paper", net.name, "paper")
    start = paper_equity if paper_equity is not None else config.backtest.initial_equity
    try:
        equity, position, entry = _paper_opening(folder / sd.JOURNAL, start)
    except JournalError as exc:
        raise ConfigError(str(exc)) from None
    if not (math.isfinite(equity) and equity > 0):
        raise ConfigError(f"paper account: equity {equity} in {folder / sd.JOURNAL}; pass --state-dir to start "
                          "a fresh one")
    data = HyperliquidClient(net.api, net.ws, config.trading.symbol, private_key=None, **common)
    venue = PaperVenue(data, config, equity, position=position, entry_px=entry)
    async with Engine.start(venue, config, Identity("paper", net.name, "paper"), folder,
                            metrics_port=metrics_port) as engine:
        yield Session("paper", engine, net, "paper", folder)
