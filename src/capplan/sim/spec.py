"""The specification of a simulated queue: validated inputs, independent of the engine."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from capplan.errors import ParameterError
from capplan.sim import distributions as d
from capplan.sim.slowdown import Slowdown

__all__ = ["QueueSpec", "RateFunction", "make_spec"]

#: A time-varying arrival rate: vectorised, times in seconds -> requests per second.
RateFunction = Callable[[NDArray[np.float64]], Any]


@dataclass(frozen=True)
class QueueSpec:
    """A FCFS G/G/c queue, optionally with finite capacity and impatient customers.

    Attributes
    ----------
    arrivals : Sampler
        Inter-arrival times (or, with ``rate_function``, kind ``TIMES`` filled by thinning).
    service : Sampler
        Service times.
    servers : int
    customers : int
        Arrivals simulated in total, warm-up included.
    warmup : int
        Arrivals discarded at the start.
    capacity : int or None
        Maximum number in the system (``None``: unlimited).
    patience : Sampler or None
        Time after which a waiting customer abandons (``None``: never).
    slowdown : Slowdown or None
        The servers' slowdown factor over time (``None``: constant speed).
    rate_function, rate_max
        A time-varying Poisson rate and its upper bound (non-homogeneous Poisson by thinning).
    """

    arrivals: d.Sampler
    service: d.Sampler
    servers: int
    customers: int
    warmup: int
    capacity: int | None = None
    patience: d.Sampler | None = None
    rate_function: RateFunction | None = None
    rate_max: float = math.nan
    slowdown: Slowdown | None = None

    @property
    def arrival_rate(self) -> float:
        """Mean arrival rate (1 / mean inter-arrival time); nan for a time-varying rate."""
        return 1.0 / self.arrivals.mean if self.rate_function is None else math.nan

    @property
    def offered_utilization(self) -> float:
        """lambda E[S] / c for stationary arrivals (E[S] times the time-average slowdown, if any)."""
        slow = 1.0 if self.slowdown is None else self.slowdown.mean
        return self.arrival_rate * self.service.mean * slow / self.servers

    def describe(self) -> str:
        arr = "time-varying Poisson" if self.rate_function is not None else self.arrivals.label
        parts = [f"arrivals {arr}", f"service {self.service.label}", f"c={self.servers}"]
        if self.capacity is not None:
            parts.append(f"K={self.capacity}")
        if self.patience is not None:
            parts.append(f"patience {self.patience.label}")
        if self.slowdown is not None:
            sd = self.slowdown
            parts.append(f"slowdown {sd.factors.min():.3g}-{sd.factors.max():.3g}x over {sd.period:g} s")
        return ", ".join(parts)


def _count(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, float, np.floating)):
        raise ParameterError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if not (math.isfinite(float(value)) and float(value) == int(value) and int(value) >= minimum):
        raise ParameterError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def make_spec(
    *,
    arrival_rate: float | RateFunction | None,
    arrivals: Any,
    arrival_rate_max: float | None,
    service: Any,
    servers: int,
    customers: int | None,
    capacity: int | None,
    patience: Any,
    warmup: int | float | None,
    slowdown: Slowdown | None = None,
) -> QueueSpec:
    """Validate :func:`capplan.sim.simulate_queue`'s arguments into a :class:`QueueSpec`."""
    c = _count("servers", servers, 1)
    rate_function: RateFunction | None = None
    rate_max = math.nan
    if (arrival_rate is None) == (arrivals is None):
        raise ParameterError(
            "give exactly one of arrival_rate (Poisson) or arrivals (a distribution or trace)"
        )
    if arrivals is not None:
        sampler = d.to_sampler("arrivals", arrivals, samples_kind=d.ARRAY)
        if sampler.mean <= 0:
            raise ParameterError("arrivals must have a positive mean inter-arrival time")
    elif callable(arrival_rate):
        if arrival_rate_max is None:
            raise ParameterError(
                "arrival_rate_max (an upper bound of the rate function) is required for thinning"
            )
        rate_max = float(arrival_rate_max)
        if not (math.isfinite(rate_max) and rate_max > 0):
            raise ParameterError(f"arrival_rate_max must be positive and finite, got {arrival_rate_max!r}")
        rate_function = arrival_rate
        sampler = d.Sampler(d.TIMES, np.zeros(3), label="time-varying Poisson")
    else:
        if isinstance(arrival_rate, bool) or not isinstance(
            arrival_rate, (int, float, np.integer, np.floating)
        ):
            raise ParameterError(
                f"arrival_rate must be a rate per second or a function of time, got {arrival_rate!r}"
            )
        rate = float(arrival_rate)
        if not (math.isfinite(rate) and rate > 0):
            raise ParameterError(f"arrival_rate must be positive and finite, got {arrival_rate!r}")
        sampler = d.Sampler(
            d.EXPONENTIAL,
            np.array([1.0 / rate, 0.0, 0.0]),
            mean=1.0 / rate,
            scv=1.0,
            label=f"Poisson {rate:g}/s",
        )
    svc = d.to_sampler("service", service)
    if customers is None:
        if sampler.kind != d.ARRAY or sampler.source is not None:
            raise ParameterError("customers is required unless arrivals is a trace of inter-arrival times")
        n = int(sampler.values.size)
    else:
        n = _count("customers", customers, 1)
    if sampler.kind == d.ARRAY and sampler.source is None and n > sampler.values.size:
        raise ParameterError(
            f"customers={n} exceeds the {sampler.values.size} inter-arrival times of the arrivals trace"
        )
    if warmup is None:
        skip = n // 10
    elif isinstance(warmup, float) and 0.0 <= warmup < 1.0:
        skip = int(n * warmup)
    else:
        skip = _count("warmup", warmup, 0)
    if n - skip < 2:
        raise ParameterError(f"warmup={warmup!r} leaves fewer than 2 of the {n} customers to measure")
    cap = None if capacity is None else _count("capacity", capacity, c)
    pat = None if patience is None else d.to_sampler("patience", patience)
    if slowdown is not None and not isinstance(slowdown, Slowdown):
        raise ParameterError(f"slowdown must be a capplan.sim.Slowdown, got {type(slowdown).__name__}")
    return QueueSpec(sampler, svc, c, n, skip, cap, pat, rate_function, rate_max, slowdown)
