"""Exception types raised by capplan.

Every error a user can trigger with bad input is a :class:`ValueError` subclass whose message
names the offending parameter (or key path) and value.
"""

from __future__ import annotations

__all__ = ["CapplanError", "ParameterError", "SLAError", "UnitError", "UnstableSystemError"]


class CapplanError(Exception):
    """Base class of every capplan exception."""


class ParameterError(CapplanError, ValueError):
    """A model or function parameter is invalid (negative rate, ``servers < 1``, NaN, ...)."""


class UnitError(CapplanError, ValueError):
    """A string such as ``"50ms"`` or ``"2gb"`` could not be parsed."""


class SLAError(CapplanError, ValueError):
    """An SLA document is malformed; the message names the file and the key path."""


class UnstableSystemError(CapplanError, ValueError):
    """A finite answer was required but the system is unstable (utilization >= 1)."""


class InfeasibleError(CapplanError, ValueError):
    """No configuration can meet the target (e.g. a p99 below the service time's own p99)."""
