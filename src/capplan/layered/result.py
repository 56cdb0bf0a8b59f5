"""What solving or simulating a :class:`~capplan.layered.model.ServiceModel` returns: per class
response times, per layer utilizations and waits, and the layer that binds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from capplan.layered.model import ServiceModel

__all__ = ["QUANTILES", "LayeredResult", "layer_names"]

#: Response-time quantiles every result reports.
QUANTILES = (0.5, 0.95, 0.99, 0.999)


def layer_names(model: ServiceModel) -> list[str]:
    """The layers of ``model`` in the order every result lists them."""
    names = ["workers", "event loop" if model.event_loop else "interpreter lock", "cores"]
    for name, pool in model.pools.items():
        names.append(f"pool {name}")
        if pool.server_limit:
            names.append(f"pgbouncer {name}")
    return names


@dataclass(frozen=True)
class LayeredResult:
    """Per class and per layer results of one replica (seconds, fractions).

    ``classes`` has one row per request class: ``rate``, ``response_mean``, ``response_p50`` ..
    ``response_p99.9`` and, for a simulation, ``*_ci`` half-widths (95% batch means).  ``layers``
    has one row per layer (workers, interpreter lock or event loop, cores, each pool and PgBouncer):
    ``servers``, ``utilization`` (busy servers over servers) and ``wait_mean`` (the mean time a
    request spends queueing for it).  ``waits`` has one row per class and layer: ``mean``, ``p50``
    .. ``p99.9`` of the time a request of the class spends queueing for the layer, all its visits
    together.  ``binding`` names the busiest layer.
    """

    classes: pd.DataFrame
    layers: pd.DataFrame
    method: str
    memory_bytes: float | None = None
    notes: tuple[str, ...] = field(default=())
    waits: pd.DataFrame | None = None

    @property
    def binding(self) -> str:
        """The layer with the highest utilization."""
        return str(self.layers["utilization"].idxmax())

    @property
    def stable(self) -> bool:
        return bool((self.layers["utilization"] < 1.0).all())

    def to_frame(self) -> pd.DataFrame:
        """Per class response times (the ``classes`` table)."""
        return self.classes.copy()

    def quantile(self, op_class: str, q: float) -> float:
        """The ``q`` response-time quantile of ``op_class``, seconds."""
        column = self.classes[f"response_p{q * 100:g}"]
        return float(column.to_numpy(dtype=float)[self.classes.index.get_loc(op_class)])

    def __repr__(self) -> str:
        cols = ["response_mean", *(f"response_p{q * 100:g}" for q in QUANTILES)]
        body = self.classes[cols].map(lambda v: f"{1e3 * v:.4g} ms").to_string()
        util = ", ".join(f"{k} {v:.0%}" for k, v in self.layers["utilization"].items())
        return f"LayeredResult({self.method}; binding: {self.binding})\n{body}\nutilization: {util}"

    def _repr_html_(self) -> str:
        classes = self.classes.to_html(float_format=lambda v: f"{v:.4g}")
        layers = self.layers.to_html(float_format=lambda v: f"{v:.4g}")
        waits = (
            ""
            if self.waits is None
            else "<p>waits per class and layer (seconds)</p>"
            + self.waits.to_html(float_format=lambda v: f"{v:.4g}")
        )
        memory = (
            ""
            if self.memory_bytes is None
            else f"<p>memory at this load: {self.memory_bytes / 2**20:.0f} MiB</p>"
        )
        return (
            f"<p><b>{self.method}</b> — binding layer: <b>{self.binding}</b></p>"
            f"<p>per class (seconds)</p>{classes}<p>per layer</p>{layers}{waits}{memory}"
        )
