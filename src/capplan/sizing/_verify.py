"""Check a sizing recommendation by simulating it (``verify=True`` of the ``size_*`` functions)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Verification", "simulate_percentiles"]

#: Customers simulated per check unless the caller asks for another number.
VERIFY_CUSTOMERS = 2_000_000


@dataclass(frozen=True)
class Verification:
    """Simulated percentiles of a recommendation beside the model's and the targets (seconds).

    ``table`` has one row per target: ``quantile, target_s, predicted_s, simulated_s, ci_low_s,
    ci_high_s, meets``.  A target is met when the simulation's confidence interval reaches down to
    it (the target is not exceeded with statistical significance).
    """

    table: pd.DataFrame
    customers: int
    confidence: float
    what: str

    @property
    def ok(self) -> bool:
        """True when every target is met in simulation."""
        return bool(self.table["meets"].all())

    def _repr_html_(self) -> str:
        return f"<p>{self.what}</p>" + self.table.to_html(float_format=lambda x: f"{x:.4g}")


def _arrivals(rate: float, scv: float) -> Any:
    from capplan.distributions import phase_type_fit  # noqa: PLC0415 - only when verifying

    return None if scv == 1.0 else phase_type_fit(1.0 / rate, scv)


def simulate_percentiles(
    arrival_rate: float,
    servers: int,
    targets: Mapping[float, float],
    predicted: Mapping[float, float],
    *,
    arrival_scv: float,
    service_mean: float,
    service_scv: float,
    service: Any,
    customers: int | None,
    seed: int,
    what: str,
    confidence: float = 0.95,
) -> Verification:
    """Simulate the G/G/c queue the model solved — the service distribution given, or the
    two-moment phase-type fit the model used; renewal arrivals with the same fit — and compare its
    response-time percentiles (batch-means intervals) with ``targets`` and ``predicted``."""
    from capplan.distributions import phase_type_fit  # noqa: PLC0415
    from capplan.sim import simulate_queue  # noqa: PLC0415 - the simulator loads numba

    n = int(customers or VERIFY_CUSTOMERS)
    arrivals = _arrivals(arrival_rate, arrival_scv)
    result = simulate_queue(
        arrival_rate=arrival_rate if arrivals is None else None,
        arrivals=arrivals,
        service=service if service is not None else phase_type_fit(service_mean, service_scv),
        servers=servers,
        customers=n,
        seed=np.random.default_rng(seed),
        keep="stats",
    )
    levels = sorted(targets)
    summary = result.summary(confidence=confidence, quantiles=levels)
    estimate, ci_low, ci_high = (summary[col] for col in ("estimate", "ci_low", "ci_high"))
    rows = []
    for q in levels:
        name = f"response_p{q * 100:g}"
        low = float(ci_low[name])
        rows.append(
            {
                "quantile": q,
                "target_s": targets[q],
                "predicted_s": predicted[q],
                "simulated_s": float(estimate[name]),
                "ci_low_s": low,
                "ci_high_s": float(ci_high[name]),
                "meets": low <= targets[q],
            }
        )
    return Verification(pd.DataFrame(rows), n, confidence, what)
