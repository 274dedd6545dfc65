"""The supervisor's kill switch (seed 8C, ``KillSwitchManager``): it works with the bot dead.

Why a second kill switch when the strategy has one (``risk/kill_switch.py``): the bot's switch dies
with the bot. This one runs in another process, reads the account from the exchange, and on trigger
cancels every order and flattens the position through its **own** client and its own copy of the key
(``Config.private_key()``: the same environment or keystore the bot reads), over REST only (no socket
to wait for). So a SIGKILLed, hung or looping bot cannot stop it.

A kill *latches*: ``kill.latch`` in the state folder records why and when, and the supervisor starts
no bot while it exists, across its own restarts, until a person runs ``amm500 supervise reset``. A
*terminal* latch (drawdown from the all-time peak past ``supervisor.terminal_drawdown``) needs
``reset --terminal``: a plain reset is refused, so no routine reflex restarts a bot that lost that much.

Thresholds are the seed's, from ``risk`` (one home): drawdown above ``max_drawdown`` (5%), session
loss above ``max_session_loss`` ($100), more than ``max_consecutive_losses`` (10) losing round trips.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from amm500.config import Config
from amm500.core.api import B_ASK_PX, B_BID_PX
from amm500.store.state_dir import KILL_LATCH
from amm500.venues.hyperliquid import messages as m
from amm500.venues.model import OrderSpec

log = logging.getLogger(__name__)



class TerminalLatch(RuntimeError):
    """A plain reset of a terminal latch: refused."""


@dataclass
class KillReport:
    """What the kill procedure did; ``seconds`` runs from the trigger to a verified flat account."""

    reason: str
    triggered_at: float  # unix seconds
    flat: bool = False
    seconds: float | None = None
    cancelled: int = 0
    iocs: int = 0
    final_position: float | None = None
    open_orders: int | None = None
    venue: bool = True  # False in paper mode: the paper account dies with the bot
    error: str | None = None


@dataclass
class Latch:
    reason: str
    since: float
    terminal: bool = False
    report: dict[str, Any] = field(default_factory=dict)


def read_latch(state_dir: Path) -> Latch | None:
    """The latch in ``state_dir``, or None. An unreadable latch file still counts as latched."""
    path = state_dir / KILL_LATCH
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        return Latch(str(data["reason"]), float(data["since"]), bool(data.get("terminal", False)),
                     dict(data.get("report") or {}))
    except (OSError, ValueError, KeyError, TypeError):
        return Latch("unreadable kill.latch (treated as latched)", path.stat().st_mtime, False)


def write_latch(state_dir: Path, latch: Latch) -> None:
    path = state_dir / KILL_LATCH
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(latch), indent=1))
    os.replace(tmp, path)


def reset_latch(state_dir: Path, terminal: bool = False) -> Latch | None:
    """Remove the latch (a person's decision); returns what it was. A terminal latch needs ``terminal``."""
    latch = read_latch(state_dir)
    if latch is None:
        return None
    if latch.terminal and not terminal:
        raise TerminalLatch(f"the kill is terminal ({latch.reason}): reset it with --terminal once you have "
                            "checked the account and decided to trade on")
    (state_dir / KILL_LATCH).unlink(missing_ok=True)
    return latch


class KillSwitchManager:
    """Decides whether to kill (``check_kill_conditions``) and kills (``kill``): cancel all, flatten, latch."""

    def __init__(self, config: Config | None = None, state_dir: Path | None = None, mode: str = "live") -> None:
        self.config = config if config is not None else Config()
        self.state_dir = state_dir
        self.mode = mode
        self.reasons: list[str] = []
        if mode == "live":  # import the client (and the SDK) now, not in the seconds that count
            import amm500.venues.hyperliquid.client  # noqa: F401

    # ---- the decision -----------------------------------------------------------------------------------

    def check_kill_conditions(self, drawdown_pct: float, session_pnl: float, consecutive_losses: int) -> bool:
        """True when any seed threshold is passed; ``reasons`` says which.

        ``drawdown_pct`` in percent of peak equity (6.0 = 6%), ``session_pnl`` in USD (negative = loss).
        """
        risk = self.config.risk
        reasons = []
        if drawdown_pct > risk.max_drawdown * 100.0:
            reasons.append(f"drawdown {drawdown_pct:.2f}% > {risk.max_drawdown * 100:g}%")
        if -session_pnl > risk.max_session_loss:
            reasons.append(f"session loss ${-session_pnl:.2f} > ${risk.max_session_loss:g}")
        if consecutive_losses > risk.max_consecutive_losses:
            reasons.append(f"{consecutive_losses} losing round trips in a row > {risk.max_consecutive_losses}")
        self.reasons = reasons
        return bool(reasons) and risk.kill_switch_enabled

    # ---- the latch ----------------------------------------------------------------------------------------

    def latched(self) -> Latch | None:
        return read_latch(self.state_dir) if self.state_dir is not None else None

    # ---- the procedure ------------------------------------------------------------------------------------

    def kill(self, reason: str, terminal: bool = False, triggered_at: float | None = None) -> KillReport:
        """Latch first (a crash halfway still leaves the account latched), then cancel and flatten."""
        t0 = time.time() if triggered_at is None else triggered_at
        if self.state_dir is not None:
            write_latch(self.state_dir, Latch(reason, t0, terminal))
        if self.mode == "paper":
            report = KillReport(reason, t0, flat=True, seconds=time.time() - t0, venue=False)
        else:
            report = asyncio.run(self.cancel_and_flatten(reason, t0))
        if self.state_dir is not None:
            write_latch(self.state_dir, Latch(reason, t0, terminal, asdict(report)))
        return report

    def cancel_orders(self, reason: str) -> KillReport:
        """Cancel every order on the coin (no flatten, no latch): after a crash or hang, so quotes priced
        by a dead bot do not rest on the book while it restarts. ``flat`` means: no order left."""
        return asyncio.run(self.cancel_and_flatten(reason, flatten=False))

    async def cancel_and_flatten(self, reason: str = "manual", triggered_at: float | None = None,
                                 flatten: bool = True) -> KillReport:
        """Cancel every order on the coin and close its position with reduce-only IOCs until both are
        verified gone on the exchange, or ``supervisor.flatten_timeout_s`` passes (``flatten=False``:
        the orders only)."""
        from amm500.venues.hyperliquid.client import HyperliquidClient

        cfg = self.config
        t0 = time.time() if triggered_at is None else triggered_at
        report = KillReport(reason, t0)
        key = cfg.private_key()
        if not key:
            report.error = "no signing key (AMM500_PRIVATE_KEY or network.keystore_path): cancel and flatten by hand"
            return report
        client = HyperliquidClient.from_config(cfg.network, cfg.trading.symbol, key, use_ws_post=False,
                                               feed_stale_s=None)
        deadline = time.monotonic() + cfg.supervisor.flatten_timeout_s
        slip = cfg.execution.taker_slippage
        batch = cfg.execution.max_batch_size
        try:
            await client.rest.start()
            assets = m.parse_meta(await client.rest.meta())
            client.asset = assets[cfg.trading.symbol]
            grid = client.grid
            lot = 10.0 ** -client.asset.sz_decimals
            while True:
                try:
                    orders = await client.open_orders()
                    for i in range(0, len(orders), batch):
                        chunk = [o.oid for o in orders[i:i + batch]]
                        await client.send("cancel_oids", chunk)
                        report.cancelled += len(chunk)
                    pos = await client.position()
                    if flatten and abs(pos.szi) >= lot / 2:
                        book = m.parse_l2book(await client.rest.l2_book(cfg.trading.symbol)).book
                        is_buy = pos.szi < 0
                        ref = book[B_ASK_PX, 0] if is_buy else book[B_BID_PX, 0]
                        if ref > 0:
                            px = grid.price(ref * (1 + slip) if is_buy else ref * (1 - slip), up=is_buy)
                            spec = OrderSpec(client.asset.asset, is_buy, px, grid.size(abs(pos.szi)), "Ioc", True)
                            (st,) = await client.send("order", [spec])
                            report.iocs += 1
                            if st.kind == "error":
                                log.warning("kill: flatten IOC refused: %s", st.error)
                    # verify from the exchange, never from what was sent
                    left = await client.open_orders()
                    pos = await client.position()
                    report.final_position, report.open_orders = pos.szi, len(left)
                    if not left and (abs(pos.szi) < lot / 2 or not flatten):
                        report.flat = True
                        report.seconds = time.time() - t0
                        return report
                except Exception as exc:  # the venue may be flaky right when it matters: keep trying
                    report.error = f"{type(exc).__name__}: {exc}"
                    log.warning("kill: %s; retrying", report.error)
                if time.monotonic() > deadline:
                    report.error = (report.error or "") + f" (gave up after {cfg.supervisor.flatten_timeout_s:g} s)"
                    return report
                await asyncio.sleep(0.25)
        finally:
            await client.close()
