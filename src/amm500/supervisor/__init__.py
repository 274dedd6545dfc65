"""The autonomous supervisor (seed section 8): restarts, alerts, kill switches that work with the bot dead.

It reaches the bot only through the process, the heartbeat file, the journal and its own venue
client (docs/engine.md, docs/supervisor.md).
"""

from amm500.supervisor.alerts import ALERT_TYPES, AlertManager, AlertState
from amm500.supervisor.kill import KillReport, KillSwitchManager
from amm500.supervisor.process import ProcessManager
from amm500.supervisor.wallet import WalletState, WalletTracker

__all__ = ["ALERT_TYPES", "AlertManager", "AlertState", "KillReport", "KillSwitchManager", "ProcessManager",
           "WalletState", "WalletTracker"]
