"""``amm500 supervise``: run the bot under the supervisor, reset a latched kill, or show the state.

    amm500 supervise [--state-dir DIR] -- paper|live BOT_ARGS...
    amm500 supervise [--state-dir DIR] reset [--terminal] [--new-session] [paper|live BOT_ARGS...]
    amm500 supervise [--state-dir DIR] status [paper|live BOT_ARGS...]
    amm500 supervise [--state-dir DIR] kill [--reason TEXT] [paper|live BOT_ARGS...]

The supervisor reads the same config as the bot: the ``--config``/``-c`` and ``--set``/``-s`` found
among BOT_ARGS (plus the shared ``AMM500_*`` environment), so a threshold has one home.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from amm500.cli.app import app, console, fail, get_config
from amm500.config import Config

_USAGE = ("usage: amm500 supervise [--state-dir DIR] -- paper|live BOT_ARGS... | reset [--terminal] | status | "
          "kill [--reason TEXT]")


def config_args(bot_args: list[str]) -> tuple[Path | None, list[str], str | None]:
    """The ``--config`` file, the ``--set`` overrides and the ``--network`` among the bot's arguments."""
    path: Path | None = None
    sets: list[str] = []
    network: str | None = None
    i = 0
    while i < len(bot_args):
        arg = bot_args[i]
        value: str | None = None
        for long, short in (("--config", "-c"), ("--set", "-s"), ("--network", "-n")):
            if arg in (long, short) and i + 1 < len(bot_args):
                value, i = bot_args[i + 1], i + 1
            elif arg.startswith(long + "="):
                value = arg.split("=", 1)[1]
            else:
                continue
            if long == "--config":
                path = Path(value)
            elif long == "--set":
                sets.append(value)
            else:
                network = value
            break
        i += 1
    return path, sets, network


def account_of(cfg: Config, mode: str) -> str:
    """The state folder's account: ``paper`` for paper, else the trading address (vault > account > key)."""
    if mode == "paper":
        return "paper"
    net = cfg.network
    if net.vault_address or net.account_address:
        return str(net.vault_address or net.account_address)
    key = cfg.private_key()
    if not key:
        raise fail("live supervision needs the account: set network.account_address or AMM500_PRIVATE_KEY")
    from eth_account import Account

    return str(Account.from_key(key).address).lower()


def _resolve(state_dir: Path | None, rest: list[str]) -> tuple[Config, Path, str | None, list[str]]:
    mode = rest[0] if rest and rest[0] in ("paper", "live") else None
    bot_args = rest[1:] if mode else rest
    cfg_path, sets, network = config_args(bot_args)
    cfg = get_config(cfg_path, sets)
    from amm500.config import ConfigError
    from amm500.runs.session import resolve_network

    try:  # the bot's --network, resolved as the bot resolves it: the supervisor must watch the same venue
        net = resolve_network(network, cfg)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    cfg.network = cfg.network.model_copy(update={"network": "custom", "api_url": net.api, "ws_url": net.ws})
    if state_dir is None:
        if mode is None:
            raise fail("give --state-dir, or the bot's mode and arguments (paper|live ...) to find its folder")
        from amm500.store.state_dir import default_state_dir

        state_dir = default_state_dir(mode, net.name, account_of(cfg, mode))
    return cfg, state_dir, mode, bot_args


@app.command("supervise", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def supervise(
    args: Annotated[list[str] | None, typer.Argument(
        help="paper|live BOT_ARGS (after --), or reset [--terminal], status, kill [--reason TEXT]",
        show_default=False)] = None,
    state_dir: Annotated[Path | None, typer.Option(
        help="The bot's state folder (default: $AMM500_HOME/<mode>-<network>-<account>).")] = None,
    bot_cmd: Annotated[str | None, typer.Option(hidden=True, help="Command that runs the bot instead of "
                                                "`python -m amm500` (tests).")] = None,
) -> None:
    """Keep the bot running unattended: restarts, alerts, and a kill switch that works with the bot dead."""
    words = list(args or [])
    if not words:
        raise fail(_USAGE)
    action = words[0]
    if action == "reset":
        flags = {"--terminal", "--new-session"}
        _reset(state_dir, [w for w in words[1:] if w not in flags], "--terminal" in words[1:],
               "--new-session" in words[1:])
        return
    if action == "status":
        _status(state_dir, words[1:])
        return
    if action == "kill":
        rest, reason = list(words[1:]), "a person's kill (amm500 supervise kill)"
        if "--reason" in rest:
            i = rest.index("--reason")
            if i + 1 >= len(rest):
                raise fail("--reason needs a text")
            reason = rest[i + 1]
            del rest[i:i + 2]
        _kill(state_dir, rest, reason)
        return
    if action not in ("paper", "live"):
        raise fail(f"{action!r}: expected paper or live (the bot's mode), reset, status or kill\n{_USAGE}")
    if any(w == "--state-dir" or w.startswith("--state-dir=") for w in words[1:]):
        raise fail("give --state-dir to supervise (before --), not to the bot: the supervisor passes it on")
    cfg, folder, mode, bot_args = _resolve(state_dir, words)
    assert mode is not None
    prefix = shlex.split(bot_cmd) if bot_cmd else [sys.executable, "-m", "amm500"]
    cmd = [*prefix, mode, *bot_args, "--state-dir", str(folder)]

    import logging

    from amm500.supervisor.supervisor import Supervisor, setup_logging

    handler = setup_logging(folder)
    stream = logging.StreamHandler()
    stream.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.getLogger("amm500").addHandler(stream)
    console.print(f"supervising {mode} in {folder} (log: {folder / 'supervisor.log'})", highlight=False)
    try:
        code = Supervisor(cfg, folder, mode, cmd).run()
    finally:
        logging.getLogger("amm500").removeHandler(handler)
        logging.getLogger("amm500").removeHandler(stream)
        handler.close()
    raise typer.Exit(code)


def _reset(state_dir: Path | None, rest: list[str], terminal: bool, new_session: bool = False) -> None:
    from amm500.store.state_dir import SUPERVISOR_LOCK, lock_holder
    from amm500.supervisor.kill import TerminalLatch, reset_latch
    from amm500.supervisor.wallet import Session

    _cfg, folder, _mode, _ = _resolve(state_dir, rest)
    try:
        latch = reset_latch(folder, terminal=terminal)
    except TerminalLatch as exc:
        raise fail(str(exc)) from None
    holder = lock_holder(folder / SUPERVISOR_LOCK)
    if latch is None:
        if not new_session:
            console.print(f"{folder}: not latched; nothing to reset (--new-session starts a new session)",
                          highlight=False)
            return
        if holder is not None:
            raise fail(f"a supervisor (pid {holder}) runs on {folder}: stop it before starting a new session")
        session = Session.load(folder)
        session.rebase(None, keep_all_time=not terminal)
        session.save(folder)
        console.print(f"{folder}: the next `amm500 supervise` starts a new session", highlight=False)
        return
    if holder is None:  # nobody will notice the reset: start the next session here
        session = Session.load(folder)
        session.rebase(None, keep_all_time=not terminal)
        session.save(folder)
    console.print(f"kill switch reset ({latch.reason}); "
                  + (f"the supervisor (pid {holder}) starts the bot now" if holder else
                     "the next `amm500 supervise` starts a new session"), highlight=False)


def _status(state_dir: Path | None, rest: list[str]) -> None:
    from amm500.obs.heartbeat import read_heartbeat
    from amm500.store.state_dir import BOT_LOCK, HEARTBEAT, SUPERVISOR_LOCK, SUPERVISOR_STATE, lock_holder
    from amm500.supervisor.kill import read_latch

    _cfg, folder, _mode, _ = _resolve(state_dir, rest)
    beat = read_heartbeat(folder / HEARTBEAT)
    latch = read_latch(folder)
    try:
        session = json.loads((folder / SUPERVISOR_STATE).read_text())
    except (OSError, ValueError):
        session = None
    out = {
        "state_dir": str(folder),
        "supervisor_pid": lock_holder(folder / SUPERVISOR_LOCK),
        "bot_pid": lock_holder(folder / BOT_LOCK),
        "heartbeat_age_s": round(time.time() - beat.ts, 1) if beat else None,
        "trading_state": beat.state if beat else None,
        "kill_latch": None if latch is None else {"reason": latch.reason, "since": latch.since,
                                                  "terminal": latch.terminal, "report": latch.report},
        "session": session,
    }
    console.print_json(json.dumps(out))


def _kill(state_dir: Path | None, rest: list[str], reason: str) -> None:
    """A person's kill, from any shell: latch, stop the bot, cancel and flatten with this process's own client.

    Works whether or not a supervisor runs (a running one sees the latch and stops its bot) and whether
    or not the bot is alive.
    """
    import os
    import signal

    from amm500.obs.heartbeat import read_heartbeat
    from amm500.store.state_dir import BOT_LOCK, HEARTBEAT, SUPERVISOR_LOCK, lock_holder
    from amm500.supervisor.kill import KillSwitchManager, Latch, write_latch

    cfg, folder, mode, _ = _resolve(state_dir, rest)
    if mode is None:
        beat = read_heartbeat(folder / HEARTBEAT)
        mode = beat.mode if beat is not None and beat.mode in ("paper", "live") else None
    if mode is None:
        raise fail("say which bot: kill paper|live BOT_ARGS (the folder has no heartbeat to tell)")
    t0 = time.time()
    write_latch(folder, Latch(reason, t0))
    supervisor_pid = lock_holder(folder / SUPERVISOR_LOCK)
    bot_pid = lock_holder(folder / BOT_LOCK)
    grace = cfg.supervisor.stop_grace_s
    if bot_pid is not None and bot_pid > 0:
        if supervisor_pid is None:  # nobody else will stop it
            os.kill(bot_pid, signal.SIGTERM)
        deadline = time.monotonic() + grace + 5.0
        while lock_holder(folder / BOT_LOCK) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        if lock_holder(folder / BOT_LOCK) is not None:
            os.kill(bot_pid, signal.SIGKILL)
    report = KillSwitchManager(cfg, folder, mode).kill(reason, triggered_at=t0)
    if not report.venue:
        console.print(f"paper bot stopped; latched: {reason}", highlight=False)
    elif report.flat:
        console.print(f"flat and no open order {report.seconds:.2f} s after the kill ({report.cancelled} cancelled, "
                      f"{report.iocs} IOC); latched until `amm500 supervise reset`", highlight=False)
    else:
        raise fail(f"NOT VERIFIED FLAT: {report.error}; position {report.final_position}, open orders "
                   f"{report.open_orders}: act on the account by hand", code=1)
