"""Simulate a service past its edge: client timeouts and retries, a circuit breaker, load shedding.

:func:`simulate_overload` validates a spec, draws the first attempts of a :class:`~capplan.sim.Load`
and runs the compiled kernel (:mod:`capplan.sim.overload_kernel`); :class:`OverloadResult`
(:mod:`capplan.sim.overload_result`) holds the per-bin timeline and the per-request records.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from capplan._validate import integer_count
from capplan.errors import ParameterError
from capplan.overload.policy import CircuitBreaker, ClientPolicy, LoadShedding
from capplan.sim import distributions as d
from capplan.sim.load import Load
from capplan.sim.overload_kernel import BIN_COLUMNS, run_overload
from capplan.sim.overload_result import OverloadResult

__all__ = ["OverloadSpec", "simulate_overload"]

#: Samples drawn up front, then resampled, for a service distribution the kernel cannot draw.
RESAMPLED_SERVICE_SAMPLES = 1 << 20
_JITTER_CODES = {"none": 0.0, "full": 1.0, "equal": 2.0}


@dataclass(frozen=True)
class OverloadSpec:
    """What :func:`simulate_overload` simulates (validated)."""

    load: Load | None  # None: first attempts given as a trace
    duration: float
    service: d.Sampler
    servers: int
    client: ClientPolicy
    breaker: CircuitBreaker | None
    shedding: LoadShedding | None
    bin_width: float

    def describe(self) -> str:
        c = self.client
        arrivals = self.load.describe() if self.load is not None else f"trace over {self.duration:g} s"
        parts = [arrivals, f"service {self.service.label}", f"c={self.servers}"]
        if math.isfinite(c.timeout):
            parts.append(f"timeout {c.timeout:g} s")
        if c.retry.max_retries:
            b = c.retry.backoff
            kind = "fixed" if b.multiplier == 1 else f"x{b.multiplier:g}"
            parts.append(f"{c.retry.max_retries} retries (backoff {b.base:g} s {kind}, jitter {b.jitter})")
            if c.retry.budget is not None:
                parts.append(f"retry budget {c.retry.budget.ratio:.0%}")
        if self.breaker is not None:
            parts.append("circuit breaker")
        if self.shedding is not None:
            parts.append("load shedding")
        return ", ".join(parts)

    def vectors(self) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """The kernel's ``client``, ``breaker`` and ``shed`` parameter vectors."""
        c, retry = self.client, self.client.retry
        b, budget = retry.backoff, retry.budget
        client = np.array(
            [
                c.timeout, retry.max_retries, b.base, b.multiplier, b.cap, _JITTER_CODES[b.jitter],
                -1.0 if budget is None else budget.ratio, 0.0 if budget is None else budget.burst,
            ]
        )  # fmt: skip
        k = self.breaker
        breaker = (
            np.array([0.0, 1.0, 1.0, 1.0, math.inf, 1.0, 1.0, 0.0])
            if k is None
            else np.array(
                [
                    1.0, k.failure_threshold, k.success_threshold, k.timeout,
                    k.response_time_threshold, k.error_rate_threshold, k.window, float(k.slow_call_is_error),
                ]
            )
        )  # fmt: skip
        s = self.shedding
        shed = (
            np.array([-1.0, -1.0, 1.0, 0.0])
            if s is None
            else np.array(
                [
                    -1.0 if s.max_queue is None else s.max_queue, -1.0 if s.target is None else s.target,
                    s.interval, float(s.drop_expired),
                ]
            )
        )  # fmt: skip
        return client, breaker, shed


def _service_sampler(service: Any, rng: np.random.Generator) -> d.Sampler:
    sampler = d.to_sampler("service", service)
    if not sampler.drawn_in_chunks:
        return sampler
    values = np.ascontiguousarray(
        sampler.source.rvs(size=RESAMPLED_SERVICE_SAMPLES, random_state=rng), dtype=np.float64
    )
    if not np.all(np.isfinite(values) & (values >= 0)):
        raise ParameterError("service distribution drew an invalid time")
    return d.Sampler(d.EMPIRICAL, sampler.params, values, sampler.mean, sampler.scv, None, sampler.label)


def _checked(name: str, value: Any, kind: type) -> Any:
    if value is not None and not isinstance(value, kind):
        raise ParameterError(f"{name} must be a capplan {kind.__name__} or None, got {type(value).__name__}")
    return value


def _first_attempts(
    load: Load | ArrayLike, duration: float | None, rng: np.random.Generator
) -> tuple[Load | None, float, NDArray[np.float64]]:
    if isinstance(load, Load):
        if duration is not None:
            raise ParameterError("duration: only for a trace of first-attempt times (a Load has its own)")
        return load, load.duration, load.arrival_times(rng)
    try:
        times = np.ascontiguousarray(load, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError(
            f"load must be a capplan.sim.Load or first-attempt times, got {type(load).__name__}"
        ) from None
    if times.ndim != 1 or times.size == 0:
        raise ParameterError("load: a trace of first-attempt times must be a non-empty 1-D array")
    if not np.all(np.isfinite(times)) or times[0] < 0 or np.any(np.diff(times) < 0):
        raise ParameterError("load: first-attempt times must be finite, non-negative and sorted")
    end = float(np.nextafter(times[-1], math.inf)) if duration is None else float(duration)
    if not (math.isfinite(end) and end > times[-1]):
        raise ParameterError(f"duration must be finite and after the last first attempt, got {duration!r}")
    return None, end, times


def simulate_overload(
    load: Load | ArrayLike,
    service: Any,
    servers: int = 1,
    *,
    seed: int | np.random.Generator,
    client: ClientPolicy | None = None,
    breaker: CircuitBreaker | None = None,
    shedding: LoadShedding | None = None,
    bin_width: float | None = None,
    duration: float | None = None,
) -> OverloadResult:
    """Simulate requests with client timeouts and retries against a FCFS multi-server queue.

    Parameters
    ----------
    load : Load or array_like
        First attempts: a piecewise-constant Poisson rate (:meth:`Load.constant`,
        :meth:`Load.spike`, :meth:`Load.steps`), or their send times (a sorted trace, seconds).
    service : float, array_like or distribution
        Service time of an attempt, seconds (as for :func:`capplan.sim.simulate_queue`; a SciPy
        distribution the kernel cannot draw is sampled 2**20 times up front and resampled).
    servers : int
        Servers of the queue (c >= 1).
    seed : int or numpy.random.Generator
        The only source of randomness.
    client : ClientPolicy, optional
        Timeout per attempt and retry policy (default: no timeout, no retries).
    breaker : CircuitBreaker, optional
        One breaker in front of the server, shared by all clients (a client library or sidecar).
    shedding : LoadShedding, optional
        The server's load shedding.
    bin_width : float, optional
        Width of the timeline's bins, seconds (default: the load's duration / 100).
    duration : float, optional
        With a trace: the length of the run it covers (default: just after its last time).

    Returns
    -------
    OverloadResult

    Notes
    -----
    Each request runs until it succeeds or fails for good, so events may continue past the
    end of the load; the timeline's bins cover the load, and its totals everything.
    """
    c = int(integer_count("servers", servers))
    client = ClientPolicy() if client is None else _checked("client", client, ClientPolicy)
    _checked("breaker", breaker, CircuitBreaker)
    _checked("shedding", shedding, LoadShedding)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    spec_load, span, arrivals = _first_attempts(load, duration, rng)
    width = span / 100 if bin_width is None else float(bin_width)
    if not (math.isfinite(width) and width > 0):
        raise ParameterError(f"bin_width must be positive and finite, got {bin_width!r}")
    spec = OverloadSpec(spec_load, span, _service_sampler(service, rng), c, client, breaker, shedding, width)
    n = arrivals.size
    nbins = max(1, math.ceil(span / width - 1e-9))
    sums = np.zeros((nbins + 1, len(BIN_COLUMNS)))
    status = np.zeros(n, dtype=np.int8)
    latency = np.zeros(n)
    attempts = np.zeros(n, dtype=np.int8)
    final = np.zeros(2)
    vectors = spec.vectors()
    svc = spec.service
    run_overload(
        rng, arrivals, (svc.kind, svc.params, svc.values), np.zeros(c), *vectors,
        1.0 / width, sums, status, latency, attempts, final,
    )  # fmt: skip
    return OverloadResult(spec, arrivals, sums, status, latency, attempts, float(final[0]), float(final[1]))
