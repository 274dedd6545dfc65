"""``amm500 supervise``: one loop that keeps the bot running and the account safe while nobody watches.

Each pass (``supervisor.poll_interval_s``): ping systemd's watchdog; honour the kill latch; look at
the bot (exit code, heartbeat); read the account (the exchange in live mode, the journal in paper
mode) and the session's fills; decide on kill, alerts and restarts. It reaches the bot only through
the process, the heartbeat file, the journal and its own venue client (docs/engine.md), never
through the bot's memory, so it keeps working when the bot does not.

Exit codes of the bot (docs/engine.md) decide what happens:

====  ===============================================================================================
0     stopped as asked: the supervisor stops too (exit 0)
2     refused to start (config, key, lock): restarting cannot help; alert, supervisor exits 2
4     the bot's own kill switch latched: never restarted blindly; the supervisor latches too,
      verifies cancel + flatten on the exchange, alerts, and waits for ``amm500 supervise reset``
else  a crash (1, 3, a signal) or a hang: restart with backoff, at most
      ``supervisor.max_restarts_per_hour``; past that: kill procedure, latch, alert
====  ===============================================================================================
"""

from __future__ import annotations

import asyncio
import json
import logging
import logging.handlers
import os
import signal
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from amm500.config import Config
from amm500.store import journal
from amm500.store.state_dir import (
    BOT_LOCK,
    JOURNAL,
    SUPERVISOR_LOCK,
    SUPERVISOR_LOG,
    LockHeld,
    acquire_lock,
    lock_holder,
)
from amm500.supervisor.alerts import AlertManager
from amm500.supervisor.kill import KillReport, KillSwitchManager, read_latch
from amm500.supervisor.process import Event, ProcessManager
from amm500.supervisor.sdnotify import Notifier
from amm500.supervisor.wallet import JournalWallet, Session, WalletState, WalletTracker, fill_stats

log = logging.getLogger("amm500.supervisor")

EXIT_OK, EXIT_REFUSED, EXIT_KILLED = 0, 2, 4


class JsonFormatter(logging.Formatter):
    """One JSON object per line (``supervisor.log``), the same shape as the bot's ``engine.log``."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": round(record.created, 3), "level": record.levelname, "logger": record.name,
               "msg": record.getMessage()}
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out)


def setup_logging(state_dir: Path, verbose: bool = True) -> logging.Handler:
    """JSON lines to ``supervisor.log`` (rotated 10 MB x 5); the caller removes the handler when done."""
    state_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(state_dir / SUPERVISOR_LOG, maxBytes=10_000_000, backupCount=5)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("amm500")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler


class Supervisor:
    """Watches one bot on one state folder. :meth:`run` blocks until stopped and returns the exit code."""

    def __init__(self, config: Config, state_dir: Path, mode: str, bot_cmd: Sequence[str],
                 notifier: Notifier | None = None) -> None:
        if mode not in ("paper", "live"):
            raise ValueError(f"mode {mode!r}: paper or live")
        self.config = config
        self.state_dir = state_dir
        self.mode = mode
        self.sup = config.supervisor
        self.pm = ProcessManager(bot_cmd, state_dir, self.sup)
        self.alerts = AlertManager(config, state_dir, label=state_dir.name)
        self.kill_switch = KillSwitchManager(config, state_dir, mode=mode)
        self.notifier = notifier or Notifier()
        self.session = Session.load(state_dir)
        self.wallet: WalletTracker | None = None
        self.paper_wallet = JournalWallet(state_dir) if mode == "paper" else None
        self._aloop: asyncio.AbstractEventLoop | None = None
        self._stop_requested = False
        self._exit_code = EXIT_OK
        latch = read_latch(state_dir)
        self._latched = latch is not None
        self._latch_terminal = latch is not None and latch.terminal
        self._next_wallet = 0.0
        self._last_state: str | None = None
        self._last_wallet_error = 0.0
        self.last_wallet: WalletState | None = None
        self.kill_reports: list[KillReport] = []
        self._summary_since = time.time()

    # ---- the loop --------------------------------------------------------------------------------------------

    def request_stop(self, *_: Any) -> None:
        self._stop_requested = True

    def run(self) -> int:
        try:
            lock_fd = acquire_lock(self.state_dir / SUPERVISOR_LOCK)
        except LockHeld as exc:
            log.error("%s: another supervisor watches this account", exc)
            return EXIT_REFUSED
        holder = lock_holder(self.state_dir / BOT_LOCK)
        if holder is not None:
            log.error("a bot (pid %s) already trades from %s without this supervisor: stop it first",
                      holder, self.state_dir)
            os.close(lock_fd)
            return EXIT_REFUSED
        old = {s: signal.signal(s, self.request_stop) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            if self.mode == "live":
                self.wallet = WalletTracker(config=self.config)
                self._aloop = asyncio.new_event_loop()
            latch = read_latch(self.state_dir)
            if latch is None:
                self.pm.start()
            else:
                log.error("kill switch latched since %s (%s): no bot until `amm500 supervise reset`",
                          datetime.fromtimestamp(latch.since, UTC).isoformat(timespec="seconds"), latch.reason)
            self.notifier.ready(f"watching {self.state_dir.name}")
            log.info("supervising %s (%s); alert targets: %s", self.state_dir, self.mode,
                     ", ".join(self.alerts.targets()) or "none")
            while not self._stop_requested:
                try:
                    self.step()
                except Exception:
                    # a bug in one pass must not end the watch; but the watchdog is fed only by passes that
                    # complete, so a supervisor failing on every pass is restarted by systemd
                    log.exception("supervisor pass failed")
                else:
                    self.notifier.ping()
                if self._stop_requested:
                    break
                time.sleep(self.sup.poll_interval_s)
            return self._exit_code
        finally:
            self.notifier.stopping()
            code = self.pm.stop()
            if code is not None:
                log.info("bot stopped with the supervisor (exit %s)", code)
            self.alerts.close()
            if self.wallet is not None and self._aloop is not None:
                self._aloop.run_until_complete(self.wallet.aclose())
                self._aloop.close()
            self._save_session()
            for s, handler in old.items():
                signal.signal(s, handler)
            os.close(lock_fd)

    def step(self) -> None:
        """One pass; public so tests can drive the supervisor without its sleep."""
        if self._check_latch():
            return
        event = self.pm.poll()
        if event is not None:
            self._on_event(event)
        if self.pm.tick():
            self.notifier.status(f"bot pid {self.pm.pid}, restarts in the last hour {self.pm.restarts_last_hour()}")
            self.alerts.submit("restart", f"bot restarted (pid {self.pm.pid})",
                               f"reason: {self.pm.last_reason}\nrestarts in the last hour: "
                               f"{self.pm.restarts_last_hour()}/{self.sup.max_restarts_per_hour}")
        self._watch_heartbeat()
        self._watch_account()
        self._daily_summary()

    # ---- the latch ---------------------------------------------------------------------------------------------

    def _check_latch(self) -> bool:
        """True while latched (nothing else runs); on a reset, starts a new session and the bot."""
        latch = read_latch(self.state_dir)
        if latch is not None:
            if not self._latched:  # latched from outside (another tool): make sure nothing trades
                self._latched = True
                self.pm.stop()
            self._latch_terminal = latch.terminal
            return True
        if self._latched:
            self._latched = False
            log.warning("kill switch reset by a person: new session, starting the bot")
            equity = self.last_wallet.equity if self.last_wallet is not None else None
            self.session.rebase(equity, keep_all_time=not self._latch_terminal)
            self._latch_terminal = False
            self._save_session()
            self.pm.reset_restarts()
            self.pm.start()
            self.notifier.status(f"bot pid {self.pm.pid} (after a reset)")
        return False

    def trigger_kill(self, reason: str, terminal: bool = False) -> KillReport:
        """Stop the bot, cancel and flatten with our own client, latch, alert."""
        t0 = time.time()
        log.error("KILL: %s%s", reason, " (terminal)" if terminal else "")
        self._latched = True
        self._latch_terminal = terminal
        self.pm.cancel_restart()
        if self.pm.alive():
            self.pm.stop()
        report = self.kill_switch.kill(reason, terminal=terminal, triggered_at=t0)
        self.kill_reports.append(report)
        self.notifier.status(f"KILL LATCHED: {reason} (amm500 supervise reset)")
        if not report.venue:
            log.error("KILL done: the paper bot is stopped (its paper orders and position end with it)")
        elif report.flat:
            log.error("KILL done: flat, no open order, %.2f s after the trigger (%d cancelled, %d IOC)",
                      report.seconds or 0.0, report.cancelled, report.iocs)
        else:
            log.error("KILL FAILED to verify a flat account: %s (position %s, open orders %s)", report.error,
                      report.final_position, report.open_orders)
        what = ("paper bot stopped" if not report.venue else "flat and no open order" if report.flat else
                f"NOT VERIFIED FLAT: {report.error}; position {report.final_position}, open orders "
                f"{report.open_orders}: act on the account by hand")
        self.alerts.submit("kill", f"KILL: {reason}",
                           f"{what}\ntrigger to flat: {report.seconds if report.seconds is not None else '-'} s\n"
                           f"cancelled {report.cancelled}, flatten IOCs {report.iocs}\n"
                           f"no bot runs until `amm500 supervise reset{' --terminal' if terminal else ''} "
                           f"--state-dir {self.state_dir}`")
        return report

    # ---- the process --------------------------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        what = event.describe()
        if event.kind == "exit" and event.code == 0:
            log.info("%s: stopped as asked; the supervisor stops too", what)
            self._stop_requested = True
            return
        if event.kind == "exit" and event.code == 2:
            log.error("%s: the bot refused to start (see %s); restarting cannot fix that", what, "bot.out")
            self.alerts.submit("crash", "bot refused to start (exit 2)", f"{what}\nsee bot.out and engine.log "
                                   f"in {self.state_dir}; the supervisor stops")
            self._exit_code = EXIT_REFUSED
            self._stop_requested = True
            return
        if event.kind == "exit" and event.code == 4:
            self.trigger_kill("the bot's own kill switch latched (exit 4)")
            return
        if event.kind == "hung":
            self.pm.stop()
        log.error("%s", what)
        if self.mode == "live":
            self._cancel_orphans(what)
        self.alerts.submit("crash", "bot hung" if event.kind == "hung" else "bot crashed",
                           f"{what}\nlast lines: see bot.out in {self.state_dir}")
        if not self.pm.restart_bot(what):
            self.alerts.submit("restart_limit", "restart limit reached: bot stopped",
                               f"{self.pm.restarts_last_hour()} restarts in the last hour (limit "
                               f"{self.sup.max_restarts_per_hour}); last: {what}")
            self.trigger_kill(f"restart limit ({self.sup.max_restarts_per_hour}/hour) reached")

    def _cancel_orphans(self, what: str) -> None:
        """A dead or hung bot's quotes were priced for a market that moved on, and Hyperliquid's dead-man's
        switch needs $1M of lifetime volume: cancel them now, before the backoff and the restart (the
        position stays; the restarted bot reconciles and manages it)."""
        report = self.kill_switch.cancel_orders(what)
        if report.flat:
            log.warning("cancelled %d order(s) the stopped bot left resting", report.cancelled)
        else:
            log.error("could not cancel the stopped bot's orders: %s (%s left)", report.error, report.open_orders)

    def _watch_heartbeat(self) -> None:
        beat = self.pm.heartbeat()
        if beat is None:
            return
        if self._last_state is not None and beat.state != self._last_state and beat.state not in ("STOPPING",
                                                                                                 "STOPPED"):
            self.alerts.submit("trading_state", f"trading state {self._last_state} -> {beat.state}",
                               f"reasons: {', '.join(beat.reasons) or '-'}")
        self._last_state = beat.state
        if beat.feed_age_s is not None and beat.feed_age_s > self.config.alerts.stale_feed_alert_s:
            self.alerts.submit("stale_feed", f"market data {beat.feed_age_s:.0f} s old",
                               f"the bot's book is {beat.feed_age_s:.1f} s old (alert above "
                               f"{self.config.alerts.stale_feed_alert_s:g} s); state {beat.state}")

    # ---- the account ----------------------------------------------------------------------------------------

    def read_wallet(self) -> WalletState | None:
        if self.paper_wallet is not None:
            return self.paper_wallet.read()
        assert self.wallet is not None and self._aloop is not None
        try:
            return self._aloop.run_until_complete(asyncio.wait_for(self.wallet.poll(),
                                                                   self.config.network.request_timeout_s))
        except Exception as exc:  # an unreachable venue must not stop the loop; say so, not too often
            if time.monotonic() - self._last_wallet_error > 60:
                log.warning("cannot read the account from the exchange: %s: %s", type(exc).__name__, exc)
                self._last_wallet_error = time.monotonic()
            return None

    def _watch_account(self) -> None:
        now = time.monotonic()
        if now < self._next_wallet:
            return
        self._next_wallet = now + self.sup.wallet_poll_s
        state = self.read_wallet()
        if state is None:
            return
        self.last_wallet = state
        self.session.update(state.equity)
        self._save_session()
        dd, pnl, terminal = (self.session.drawdown(state.equity), self.session.pnl(state.equity),
                             self.session.terminal_drawdown(state.equity))
        since_ms = int(self.session.started * 1000)
        stats = fill_stats(self.state_dir, since_ms)
        alerts = self.config.alerts
        if terminal > self.sup.terminal_drawdown:
            self.trigger_kill(f"terminal drawdown {terminal:.2%} from the all-time peak "
                              f"{self.session.all_time_peak:.2f} > {self.sup.terminal_drawdown:.0%}", terminal=True)
            return
        if self.kill_switch.check_kill_conditions(dd * 100.0, pnl, stats.consecutive_losses):
            self.trigger_kill("; ".join(self.kill_switch.reasons))
            return
        figures = f"equity {state.equity:.2f}, session PnL {pnl:+.2f}, drawdown {dd:.2%} (peak " \
                  f"{self.session.peak_equity:.2f}), margin ratio {state.margin_ratio:.2f}"
        if dd > alerts.drawdown_alert:
            self.alerts.submit("drawdown", f"drawdown {dd:.2%}", figures)
        elif -pnl > alerts.session_loss_alert:
            self.alerts.submit("drawdown", f"session loss ${-pnl:.2f}", figures)
        if state.margin_ratio > alerts.margin_ratio_alert:
            self.alerts.submit("margin_ratio", f"margin ratio {state.margin_ratio:.2f}", figures)
        if stats.fills >= self.config.risk.taker_ratio_min_trades and stats.taker_ratio > alerts.taker_ratio_alert:
            self.alerts.submit("taker_ratio", f"taker ratio {stats.taker_ratio:.0%}",
                               f"{stats.taker_fills} of {stats.fills} session fills crossed the spread")
        if state.budget_left is not None and state.budget_left < alerts.request_budget_alert:
            self.alerts.submit("request_budget", f"request budget {state.budget_left:.0%} left",
                               "the address's action budget is nearly spent: quoting will slow to 1 request "
                               "per 10 s; more fill volume or fewer requotes")

    def _save_session(self) -> None:
        self.session.save(self.state_dir, mode=self.mode, restarts_last_hour=self.pm.restarts_last_hour(),
                          bot_pid=self.pm.pid)

    # ---- the daily summary ------------------------------------------------------------------------------------

    def summary_text(self) -> str:
        lines = []
        path = self.state_dir / JOURNAL
        if path.is_file():
            try:
                with journal.reader(path) as conn:
                    s = journal.summary(conn)
                mr = s["maker_ratio"]
                lines += [f"net PnL {s['net_pnl']:+.2f} = spread capture {s['spread_capture']:+.2f} + inventory "
                          f"{s['inventory_pnl']:+.2f} - fees {s['fees']:.2f} - funding {s['funding']:.2f}",
                          f"fills {s['fills']} (maker ratio {'-' if mr is None else f'{mr:.1%}'}), volume "
                          f"${s['volume_usd']:,.0f}, position {s['position']}"]
            except journal.JournalError as exc:
                lines.append(f"journal unreadable: {exc}")
        else:
            lines.append("no journal yet")
        self.pm._account_uptime()
        span = max(1.0, time.time() - self._summary_since)
        lines.append(f"bot uptime {self.pm.alive_s / 3600:.1f} h of {span / 3600:.1f} h "
                     f"({min(1.0, self.pm.alive_s / span):.0%}); restarts in the last hour "
                     f"{self.pm.restarts_last_hour()}")
        if self.last_wallet is not None:
            lines.append(f"equity {self.last_wallet.equity:.2f}, session PnL "
                         f"{self.session.pnl(self.last_wallet.equity):+.2f}")
        return "\n".join(lines)

    def _daily_summary(self) -> None:
        now = datetime.now(UTC)
        today = now.date().isoformat()
        if now.hour != self.config.alerts.daily_summary_hour_utc or self.alerts.state.get_extra("summary_day") == today:
            return
        self.alerts.state.set_extra("summary_day", today)
        self.alerts.submit("daily_summary", f"daily summary {today}", self.summary_text())
        self.pm.alive_s = 0.0
        self._summary_since = time.time()
