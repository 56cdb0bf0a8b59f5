"""One recommendation of a plan: a number to act on, what sets it, and the model behind it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Recommendation"]


@dataclass(frozen=True)
class Recommendation:
    """One number to act on, with the constraint that sets it and the model behind it."""

    component: str  # "replicas", "connection pool", "database", ...
    item: str  # what it is for, e.g. an operation class
    value: float | int | None  # None when no setting can meet the targets
    unit: str
    binding: str  # the constraint that sets the value (or why none can)
    model: str
