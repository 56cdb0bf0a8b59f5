"""A piecewise-constant Poisson load: a steady rate, a spike of a given height and length, or steps.

Within each step the arrivals are a Poisson process of that step's rate; the count in a step is
Poisson and, given the count, the instants are independent uniforms (the order-statistics
property), which draws a whole run in a few vectorised calls and exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from capplan.errors import ParameterError

__all__ = ["Load"]


@dataclass(frozen=True)
class Load:
    """First-attempt arrivals at ``rates[i]`` per second on ``[edges[i], edges[i + 1])``.

    Build one with :meth:`constant`, :meth:`spike` or :meth:`steps`.
    """

    edges: NDArray[np.float64]
    rates: NDArray[np.float64]

    def __post_init__(self) -> None:
        edges = np.asarray(self.edges, dtype=np.float64)
        rates = np.asarray(self.rates, dtype=np.float64)
        if edges.ndim != 1 or rates.ndim != 1 or edges.size != rates.size + 1 or rates.size == 0:
            raise ParameterError("load: give one more edge than rates (edges[i], edges[i+1]) per rate")
        if not np.all(np.isfinite(edges)) or edges[0] != 0.0 or np.any(np.diff(edges) <= 0):
            raise ParameterError(f"load.edges must start at 0 and increase strictly, got {edges.tolist()}")
        bad = ~np.isfinite(rates) | (rates < 0)
        if bad.any():
            raise ParameterError(f"load.rates must be finite and non-negative, got {float(rates[bad][0])!r}")
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "rates", rates)

    @classmethod
    def constant(cls, rate: float, duration: float) -> Load:
        """``rate`` per second for ``duration`` seconds."""
        return cls.steps([rate], [duration])

    @classmethod
    def steps(cls, rates: ArrayLike, durations: ArrayLike) -> Load:
        """``rates[i]`` per second for ``durations[i]`` seconds, one after the other."""
        d = np.asarray(durations, dtype=np.float64)
        if d.ndim != 1 or np.any(~np.isfinite(d) | (d <= 0)):
            raise ParameterError(f"load durations must be positive and finite, got {np.ravel(d).tolist()}")
        return cls(np.concatenate([[0.0], np.cumsum(d)]), np.asarray(rates, dtype=np.float64))

    @classmethod
    def spike(cls, base: float, peak: float, start: float, length: float, duration: float) -> Load:
        """``base`` per second, except ``peak`` on ``[start, start + length)``; ``duration`` in all."""
        for name, value in (("start", start), ("length", length), ("duration", duration)):
            if not (math.isfinite(value) and value > 0):
                raise ParameterError(f"spike {name} must be positive and finite, got {value!r}")
        if start + length >= duration:
            raise ParameterError(
                f"spike: start + length ({start + length:g} s) must end before duration ({duration:g} s)"
            )
        return cls.steps([base, peak, base], [start, length, duration - start - length])

    @property
    def duration(self) -> float:
        """Seconds from the first to the last edge."""
        return float(self.edges[-1])

    @property
    def expected_arrivals(self) -> float:
        """Mean number of first attempts over the whole load."""
        return float(np.dot(self.rates, np.diff(self.edges)))

    def rate(self, t: ArrayLike) -> NDArray[np.float64]:
        """The rate at times ``t`` (0 outside ``[0, duration)``)."""
        tt = np.asarray(t, dtype=np.float64)
        idx = np.searchsorted(self.edges, tt, side="right") - 1
        inside = (idx >= 0) & (idx < self.rates.size)
        return np.where(inside, self.rates[np.clip(idx, 0, self.rates.size - 1)], 0.0)

    def arrival_times(self, rng: np.random.Generator) -> NDArray[np.float64]:
        """One realisation of the arrival instants, in order.

        Within each step, exponential gaps at the step's rate from the step's start, cut at its
        end (memorylessness makes the restart at each edge exact).
        """
        parts = []
        for start, end, rate in zip(self.edges[:-1], self.edges[1:], self.rates, strict=True):
            if rate <= 0:
                continue
            expected = rate * (end - start)
            times = start + np.cumsum(
                rng.standard_exponential(int(expected + 10 * expected**0.5 + 10)) / rate
            )
            while times[-1] < end:  # pragma: no cover - ten standard deviations of headroom
                more = rng.standard_exponential(int(expected**0.5 + 10)) / rate
                times = np.concatenate([times, times[-1] + np.cumsum(more)])
            parts.append(times[: np.searchsorted(times, end)])
        return np.concatenate(parts) if parts else np.empty(0)

    def describe(self) -> str:
        if self.rates.size == 1:
            return f"Poisson {self.rates[0]:g}/s for {self.duration:g} s"
        steps = ", ".join(f"{r:g}/s from {a:g} s" for r, a in zip(self.rates, self.edges[:-1], strict=True))
        return f"Poisson {steps} to {self.duration:g} s"
