"""Exception types raised by capplan.

Every error a user can trigger with bad input is a :class:`ValueError` subclass whose message
names the offending parameter (or key path) and value.
"""

from __future__ import annotations

__all__ = ["CapplanError", "ParameterError", "SLAError", "UnitError", "UnstableSystemError", "clipped"]


class CapplanError(Exception):
    """Base class of every capplan exception.

    A message longer than 5,000 characters (one quoting a pasted blob or a huge value) keeps its
    start and end and says how long it was, so an error never floods a terminal or a log.
    """

    def __init__(self, *args: object) -> None:
        if len(args) == 1 and isinstance(args[0], str) and len(args[0]) > _LONGEST:
            text = args[0]
            args = (f"{text[:4000]} ... ({len(text)} characters) ... {text[-800:]}",)
        super().__init__(*args)


_LONGEST = 5000


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


def clipped(text: str, limit: int = 400) -> str:
    """``text`` for an error message: a pasted blob shows its start and its length, not all of it."""
    return text if len(text) <= limit else f"{text[: limit - 40]} ... ({len(text)} characters)"
