"""The two kinds of venue failure a driver or supervisor acts on, whatever the venue.

*Transient* failures are retried: no answer or an unreadable one (the outcome is unknown, so the
order manager reconciles from the venue), or a request the venue refused as a whole (nothing in it
happened; request budgets included). *Fatal* ones stop quoting and alert a person: nothing will
work until the key, the account or the configuration is fixed. Each venue's errors subclass one of
these, so ``except TransientError`` / ``except FatalError`` never needs to know the venue.
"""

from __future__ import annotations


class VenueError(Exception):
    """Base class: messages are for people and never contain secrets."""

    fatal = False


class TransientError(VenueError):
    """Retry: the request may or may not have been executed (reconcile before trusting local state)."""


class RefusedError(TransientError):
    """Retry later: the venue answered no to the whole request, so nothing in it was executed."""


class ThrottledError(RefusedError):
    """A request budget is spent (IP weight, per-address requests): new orders wait, cancels still go."""


class FatalError(VenueError):
    """Stop quoting and alert: a person must fix the key, the account or the configuration."""

    fatal = True


def error_kind(exc: BaseException) -> str:
    """``"fatal"`` or ``"transient"`` for a venue error (anything else is a bug: ``"fatal"``)."""
    return "transient" if isinstance(exc, TransientError) else "fatal"
