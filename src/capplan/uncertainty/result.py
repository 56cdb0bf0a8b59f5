"""The result of sizing under uncertainty: draws, replicas at a confidence, the tornado."""

from __future__ import annotations

import dataclasses
import html
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from capplan._html_table import html_table
from capplan.uncertainty.propagate import needed_at

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["CacheAtConfidence", "UncertainSizing"]


def _count(value: float) -> float | None:
    """A replica count for display (None where no count meets the targets)."""
    return float(value) if np.isfinite(value) else None


@dataclass(frozen=True)
class CacheAtConfidence:
    """The plan's cache when the throughput is at the confidence quantile of its draws.

    ``load`` is that throughput over the plan's; the cache's reads are taken to scale with it.
    The capacity is the plan's (its LRU hit ratio does not depend on the request rate), so the
    backend's miss rate scales from ``planned_backend_rate`` to ``backend_rate`` (requests/s), and
    ``pool`` is the connection pool those misses need (None without a query time).
    """

    load: float
    planned_backend_rate: float
    backend_rate: float
    pool: int | None

    def describe(self, level: str) -> str:
        pool = "" if self.pool is None else f"; the pool for cache misses {self.pool} connections"
        return (
            f"cache at {level}: the planned capacity (an LRU's hit ratio depends on its capacity and "
            f"the popularity, not on the rate); reads taken to scale with the throughput "
            f"(x{self.load:.3g}), so misses reach the backend at {self.backend_rate:,.4g}/s "
            f"(planned {self.planned_backend_rate:,.4g}/s){pool}"
        )


@dataclass(frozen=True)
class UncertainSizing:
    """Result of :func:`capplan.uncertainty.size_under_uncertainty`.

    ``draws`` holds the replicas needed per class and in ``total``, one row per Monte Carlo draw
    (``inf`` where the draw's service time alone misses a target); ``at_medians`` the same with
    every input at its median; ``sensitivity`` the tornado (widest swing of the total first);
    ``inputs`` how each uncertain input was stated.
    """

    confidence: float
    draws: pd.DataFrame
    at_medians: dict[str, float]
    sensitivity: pd.DataFrame
    inputs: dict[str, str]
    #: Connection pool per replica for the fleet at :attr:`confidence` (a plan with ``query_time``).
    pool_per_replica: int | None = None
    #: The plan's cache at the confidence (a plan with a cache section).
    cache: CacheAtConfidence | None = None

    def replicas(self, confidence: float | None = None) -> dict[str, float]:
        """Replicas per class and ``total`` enough in a ``confidence`` share of the draws (default:
        the result's); the total's quantile is of the draws' totals, not a sum of quantiles."""
        level = self.confidence if confidence is None else confidence
        return {str(k): needed_at(level, self.draws[k].to_numpy()) for k in self.draws.columns}

    @property
    def total(self) -> float:
        """Total replicas at :attr:`confidence`."""
        return self.replicas()["total"]

    def to_frame(self) -> pd.DataFrame:
        """Per class and total: replicas at the medians, the draws' median, at the confidence, the
        largest drawn, and the share of draws no count could serve."""
        label = f"at_p{self.confidence * 100:g}"
        rows = []
        for name in self.draws.columns:
            values = self.draws[name].to_numpy()
            finite = values[np.isfinite(values)]
            rows.append(
                {
                    "class": name,
                    "at_medians": _count(self.at_medians[name]),
                    "median": _count(needed_at(0.5, values)),
                    label: _count(needed_at(self.confidence, values)),
                    "max_drawn": _count(float(finite.max())) if finite.size else None,
                    "infeasible_share": float(1.0 - finite.size / values.size),
                }
            )
        return pd.DataFrame(rows).set_index("class")

    def describe(self) -> list[str]:
        """Sentences for a report: what was drawn and what the confidence means."""
        n = len(self.draws)
        stated = "; ".join(f"{k}: {v}" for k, v in self.inputs.items()) or "none (every input a point)"
        return [
            f"{n} Monte Carlo draws of independent inputs; uncertain: {stated}",
            f"replicas at p{self.confidence * 100:g}: enough in {self.confidence:.0%} of the draws "
            "(per class, and the total of each draw)",
            "intervals {low, high} are lognormal with low and high the 5th and 95th percentiles "
            "unless stated uniform; a drawn share is clipped to [0, 1]",
            "tornado: each uncertain input at its 5th and 95th percentile, the others at their medians",
            *self._pool_line(),
            *([] if self.cache is None else [self.cache.describe(f"p{self.confidence * 100:g}")]),
        ]

    def _pool_line(self) -> list[str]:
        if self.pool_per_replica is None:
            return []
        return [
            f"connection pool per replica for the fleet at p{self.confidence * 100:g} "
            f"({self.total:g} replicas): {self.pool_per_replica} (the database's query rate is not "
            "among the uncertain inputs)"
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the table, the tornado and the inputs."""
        table = self.to_frame().reset_index()
        return {
            "confidence": self.confidence,
            "draws": len(self.draws),
            "inputs": dict(self.inputs),
            "replicas": table.to_dict(orient="records"),
            "sensitivity": self.sensitivity.to_dict(orient="records"),
            "pool_per_replica": self.pool_per_replica,
            "cache": None if self.cache is None else dataclasses.asdict(self.cache),
        }

    def plot_tornado(self, ax: Axes | None = None) -> Axes:
        """The tornado: total replicas with each input at its 5th and 95th percentile."""
        from capplan.uncertainty.plots import plot_tornado  # noqa: PLC0415 - matplotlib

        return plot_tornado(self, ax=ax)

    def __repr__(self) -> str:
        total = self.total
        shown = f"{total:g}" if np.isfinite(total) else "none"
        top = self.sensitivity["input"].iloc[0] if len(self.sensitivity) else "-"
        return (
            f"UncertainSizing({len(self.draws)} draws, total replicas at "
            f"p{self.confidence * 100:g}: {shown}, widest swing: {top})"
        )

    def _repr_html_(self) -> str:
        return (
            f"<p>{html.escape(repr(self))}</p>{html_table(self.to_frame())}"
            f"{html_table(self.sensitivity, index=False)}"
        )
