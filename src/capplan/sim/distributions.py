"""Random inputs of the simulator: inter-arrival, service and patience times as compiled samplers.

Anything a user passes — a constant, an array of samples, a SciPy frozen distribution, or a
:class:`capplan.distributions.HyperExponential` — becomes a :class:`Sampler`: a kind code and
three parameters that the compiled kernel draws from directly (exponential, gamma/Erlang,
lognormal, Weibull, uniform, hyperexponential, constant, empirical resampling), so no per-customer
Python call is made.  Any other SciPy distribution is drawn in vectorised chunks with its own
``rvs`` and fed to the kernel as an array (kind ``ARRAY``), which is slower but exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from capplan.distributions import HyperExponential, hyperexponential
from capplan.errors import ParameterError

__all__ = [
    "ARRAY",
    "CONSTANT",
    "EMPIRICAL",
    "EXPONENTIAL",
    "GAMMA",
    "H2",
    "LOGNORMAL",
    "TIMES",
    "UNIFORM",
    "WEIBULL",
    "HyperExponential",
    "Sampler",
    "hyperexponential",
    "to_sampler",
]

# Kind codes understood by the kernel (capplan.sim.kernel._draw).
ARRAY = 0  # values[i], pre-drawn or a trace used in order
EXPONENTIAL = 1  # loc + scale * Exp(1):               params (scale, 0, loc)
GAMMA = 2  # loc + scale * Gamma(shape):                params (shape, scale, loc)
LOGNORMAL = 3  # loc + scale * exp(sigma Z):            params (sigma, scale, loc)
CONSTANT = 4  # params (value, 0, 0)
UNIFORM = 5  # params (low, width, 0)
WEIBULL = 6  # loc + scale * Weibull(shape):             params (shape, scale, loc)
H2 = 7  # Exp(mean1) w.p. p else Exp(mean2):            params (p, mean1, mean2)
EMPIRICAL = 8  # values[uniform index], resampling with replacement
TIMES = 9  # values[i] are absolute arrival times (time-varying rate, thinned in numpy)

_SCIPY_KINDS = {
    "expon": EXPONENTIAL,
    "gamma": GAMMA,
    "erlang": GAMMA,
    "lognorm": LOGNORMAL,
    "weibull_min": WEIBULL,
    "uniform": UNIFORM,
}


@dataclass(frozen=True)
class Sampler:
    """What the kernel needs to draw one kind of time: a kind code, parameters, optional values."""

    kind: int
    params: NDArray[np.float64]
    values: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    mean: float = math.nan
    scv: float = math.nan
    source: Any = None  # a SciPy frozen distribution drawn in chunks (kind ARRAY), else None
    label: str = ""

    @property
    def drawn_in_chunks(self) -> bool:
        """True if values must be drawn in numpy before each kernel call."""
        return self.source is not None


def _params(a: float, b: float = 0.0, c: float = 0.0) -> NDArray[np.float64]:
    return np.array([a, b, c], dtype=np.float64)


def _from_samples(name: str, values: ArrayLike, kind: int) -> Sampler:
    try:
        arr = np.ascontiguousarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{name} must be numeric samples, got {values!r}") from exc
    if arr.size == 0:
        raise ParameterError(f"{name} is an empty sample array")
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        raise ParameterError(f"{name} must hold finite non-negative times, got {float(arr[bad][0])!r}")
    mean = float(arr.mean())
    scv = float(arr.var() / mean**2) if mean > 0 else 0.0
    label = "trace" if kind == ARRAY else "empirical"
    return Sampler(kind, _params(0.0), arr, mean, scv, None, f"{label} ({arr.size} samples)")


def _scipy_parameters(dist: Any) -> tuple[tuple[float, ...], float, float]:
    shapes, loc, scale = dist.dist._parse_args(*dist.args, **dist.kwds)
    return tuple(float(s) for s in shapes), float(loc), float(scale)


def to_sampler(name: str, obj: Any, *, samples_kind: int = EMPIRICAL) -> Sampler:
    """Turn a user's description of a random time into a :class:`Sampler`.

    ``obj`` may be a number (a constant time), a sequence or array of samples (resampled, or used in
    order when ``samples_kind == ARRAY``), a SciPy frozen distribution with non-negative support, or
    a :class:`HyperExponential`.  Raises :class:`ParameterError` naming ``name`` otherwise.
    """
    if isinstance(obj, bool):
        raise ParameterError(f"{name} must be a time, samples or a distribution, got {obj!r}")
    if isinstance(obj, (int, float, np.integer, np.floating)):
        value = float(obj)
        if not (math.isfinite(value) and value >= 0):
            raise ParameterError(f"{name} must be a finite non-negative time, got {obj!r}")
        return Sampler(CONSTANT, _params(value), mean=value, scv=0.0, label=f"constant {value:g} s")
    if isinstance(obj, HyperExponential):
        return Sampler(
            H2,
            _params(obj.p, obj.mean1, obj.mean2),
            mean=obj.mean(),
            scv=obj.var() / obj.mean() ** 2,
            label=f"H2 (scv {obj.var() / obj.mean() ** 2:.3g})",
        )
    if isinstance(obj, (list, tuple, np.ndarray)):
        return _from_samples(name, obj, samples_kind)
    if hasattr(obj, "rvs") and hasattr(obj, "support") and hasattr(obj, "dist"):
        low, _ = obj.support()
        if not low >= 0:
            raise ParameterError(f"{name} distribution has negative support (lower bound {low!r})")
        mean, var = float(obj.mean()), float(obj.var())
        if not (math.isfinite(mean) and mean > 0):
            raise ParameterError(f"{name} distribution must have a finite positive mean, got {mean!r}")
        scv = var / mean**2 if math.isfinite(var) else math.inf
        dist_name = obj.dist.name
        label = f"{dist_name} (mean {mean:.4g} s, scv {scv:.3g})"
        kind = _SCIPY_KINDS.get(dist_name)
        if kind is None:
            return Sampler(ARRAY, _params(0.0), mean=mean, scv=scv, source=obj, label=label)
        shapes, loc, scale = _scipy_parameters(obj)
        if kind == EXPONENTIAL:
            params = _params(scale, 0.0, loc)
        elif kind == UNIFORM:
            params = _params(loc, scale)
        else:  # GAMMA, LOGNORMAL, WEIBULL: one shape parameter
            params = _params(shapes[0], scale, loc)
        return Sampler(kind, params, mean=mean, scv=scv, label=label)
    raise ParameterError(
        f"{name} must be a number, an array of samples or a scipy.stats frozen distribution, "
        f"got {type(obj).__name__}"
    )
