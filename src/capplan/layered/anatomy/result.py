"""What :func:`~capplan.layered.anatomy.anatomy_from_profile` returns: per class the seconds per
request of CPU, pool holds, downstream waits and lock queueing, and the :class:`ServiceModel`
they make."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from capplan.errors import ParameterError
from capplan.layered.anatomy.resources import Resource
from capplan.layered.model import (
    Cpu,
    EventLoop,
    Hold,
    Memory,
    Pool,
    RequestClass,
    ServiceModel,
    Step,
    Wait,
    Workers,
)
from capplan.profiles import binomial_se

__all__ = ["Anatomy", "AnatomyWarning"]

COLUMNS = [
    "class",
    "part",
    "kind",
    "seconds",
    "samples",
    "share",
    "share_se",
    "per_request_s",
    "per_request_se",
]
_ORDER = {"cpu": 0, "hold": 1, "wait": 2, "queue": 3}


class AnatomyWarning(UserWarning):
    """The anatomy is likely incomplete (e.g. a profile without waiting samples)."""


def _positive_map(name: str, values: Mapping[str, float], keys: Sequence[str]) -> dict[str, float]:
    if not isinstance(values, Mapping):
        raise ParameterError(f"{name} must map class names to numbers, got {values!r}")
    unknown = sorted(set(values) - set(keys))
    if unknown:
        raise ParameterError(f"{name}: unknown classes {unknown} (classes: {list(keys)})")
    out = {}
    for key in keys:
        v = values.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
            raise ParameterError(f"{name}[{key!r}] must be a positive finite number, got {v!r}")
        out[key] = float(v)
    return out


@dataclass(frozen=True, eq=False)
class Anatomy:
    """Per class and part (``cpu``, ``hold:<pool>``, ``wait:<name>``, ``queue:<lock>``): the
    profile seconds and samples, the share of the class's time with its binomial standard error,
    and the seconds per request with its Poisson sampling error.

    ``table`` columns: ``class, part, kind, seconds, samples, share, share_se, per_request_s,
    per_request_se``.  ``unattributed_s``: profile seconds under no class entry.
    """

    table: pd.DataFrame
    requests: Mapping[str, float]
    source: str
    unattributed_s: float
    notes: tuple[str, ...] = ()
    method: str = (
        "wall-clock samples inside each class's entry, classified by their innermost frames; "
        "seconds per request = part seconds / requests (service demand law); binomial share errors"
    )

    @classmethod
    def build(
        cls,
        seconds: Mapping[tuple[str, Resource], float],
        samples: Mapping[tuple[str, Resource], float],
        *,
        requests: Mapping[str, float],
        classes: Sequence[str],
        source: str,
        unattributed_s: float,
        notes: Sequence[str] = (),
    ) -> Anatomy:
        """Assemble the table from per ``(class, resource)`` seconds and sample counts."""
        counts = _positive_map("requests", requests, classes)
        rows = []
        for name in classes:
            parts = sorted((r for c, r in seconds if c == name), key=lambda r: (_ORDER[r.kind], r.name))
            if not parts:
                raise ParameterError(f"{source}: class {name!r} has no samples")
            total = sum(seconds[name, r] for r in parts)
            n_total = sum(samples[name, r] for r in parts)
            for r in parts:
                s, n = seconds[name, r], samples[name, r]
                share = s / total
                rows.append(
                    {
                        "class": name,
                        "part": str(r),
                        "kind": r.kind,
                        "seconds": s,
                        "samples": n,
                        "share": share,
                        "share_se": float(binomial_se(np.array([share]), n_total)[0]),
                        "per_request_s": s / counts[name],
                        "per_request_se": s / counts[name] / math.sqrt(n) if n > 0 else math.inf,
                    }
                )
        table = pd.DataFrame(rows, columns=COLUMNS)
        return cls(table, counts, source, float(unattributed_s), tuple(notes))

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.table["class"]))

    def _rows(self, name: str) -> pd.DataFrame:
        if name not in self.classes:
            raise ParameterError(f"class {name!r} is not in the anatomy (classes: {list(self.classes)})")
        return self.table[self.table["class"] == name]

    def parts(self, name: str) -> dict[str, float]:
        """Seconds per request of each part of class ``name`` (``{"cpu": ..., "wait:sleep": ...}``)."""
        rows = self._rows(name)
        return dict(zip(rows["part"], rows["per_request_s"].astype(float), strict=True))

    def shares(self, name: str) -> dict[str, float]:
        """Share of class ``name``'s time in each part."""
        rows = self._rows(name)
        return dict(zip(rows["part"], rows["share"].astype(float), strict=True))

    def steps(self, name: str, *, scv: float = 1.0) -> tuple[Step, ...]:
        """The class's steps: its CPU, then a :class:`Hold` per pool, then a :class:`Wait` per
        downstream (the profile does not record their order).  ``queue:`` parts are contention,
        which the layered model computes, so they are left out."""
        steps: list[Step] = []
        for _, row in self._rows(name).iterrows():
            mean = float(row["per_request_s"])
            part_name = str(row["part"]).partition(":")[2]
            if row["kind"] == "cpu":
                steps.append(Cpu(mean, scv))
            elif row["kind"] == "hold":
                steps.append(Hold(part_name, mean, scv))
            elif row["kind"] == "wait":
                steps.append(Wait(mean, scv, part_name))
        return tuple(steps)

    def to_model(
        self,
        rates: Mapping[str, float],
        *,
        workers: Workers | EventLoop | None = None,
        cores: int = 1,
        gil_free: float = 0.0,
        pools: Mapping[str, Pool] | None = None,
        memory: Memory | None = None,
        scv: float = 1.0,
    ) -> ServiceModel:
        """A :class:`ServiceModel` with one :class:`RequestClass` per class (``rates`` per second,
        e.g. from :func:`~capplan.layered.anatomy.class_traffic`), to edit with ``dataclasses.replace``
        or :meth:`ServiceModel.with_layout`.  Every pool a ``hold:`` part names needs a size in
        ``pools``."""
        rate = _positive_map("rates", rates, self.classes)
        used = sorted({p.partition(":")[2] for p in self.table["part"] if p.startswith("hold:")})
        pools = dict(pools or {})
        missing = [p for p in used if p not in pools]
        if missing:
            raise ParameterError(
                f"pools: the profile holds connections of {missing}; give their sizes, e.g. "
                f"pools={{{missing[0]!r}: Pool(size=10)}}"
            )
        classes = [RequestClass(name, rate[name], self.steps(name, scv=scv)) for name in self.classes]
        return ServiceModel(
            classes, workers or Workers(), cores=cores, gil_free=gil_free, pools=pools, memory=memory
        )

    def to_frame(self) -> pd.DataFrame:
        """The table (a copy)."""
        return self.table.copy()

    def __repr__(self) -> str:
        lines = [
            f"Anatomy(source={self.source.rsplit('/', 1)[-1]!r}, unattributed_s={self.unattributed_s:.3f})"
        ]
        for name in self.classes:
            parts = ", ".join(f"{p}={v * 1e3:.3g} ms" for p, v in self.parts(name).items())
            lines.append(f"  {name}: {parts}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        body = self.table.to_html(index=False, float_format=lambda v: f"{v:.4g}")
        return f"<p>anatomy from {self.source.rsplit('/', 1)[-1]}</p>{body}"
