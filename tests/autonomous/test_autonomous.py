# tests/test_autonomous.py
# Seed section 8E, as written; adapted only in its imports (the package path, and `datetime`,
# which the seed uses without importing). tests/autonomous/conftest.py provides the local exchange.
from datetime import datetime

import pytest  # noqa: F401

from amm500.supervisor import (
    AlertManager,
    KillSwitchManager,
    ProcessManager,  # noqa: F401
    WalletTracker,
)


def test_wallet_tracker():
    """Test wallet state fetching."""
    tracker = WalletTracker("0x1cCC14E273DEF02EF2BF62B9bb6B6cAa15805f9C")
    state = tracker.get_wallet_state()
    assert state.equity > 0
    assert 0 <= state.margin_ratio <= 1

def test_kill_switch():
    """Test kill switch triggers."""
    kill_switch = KillSwitchManager()

    # Should not trigger
    assert not kill_switch.check_kill_conditions(2.0, -10, 5)

    # Should trigger on drawdown
    assert kill_switch.check_kill_conditions(6.0, -10, 5)

    # Should trigger on consecutive losses
    assert kill_switch.check_kill_conditions(2.0, -10, 11)

def test_alert_manager():
    """Test alert cooldown logic."""
    alert_mgr = AlertManager()

    # First alert should go through
    assert alert_mgr.state.can_send_alert("drawdown")

    # Second alert within 30min should be blocked
    alert_mgr.state.last_drawdown_alert = datetime.now()
    assert not alert_mgr.state.can_send_alert("drawdown", cooldown_minutes=30)
