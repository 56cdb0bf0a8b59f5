"""Base class of the least-squares fitted laws: a subclass declares its parameters and maths, the
base does the fitting, the standard errors, the confidence intervals, the bands and the plot.

The fit is bounded nonlinear least squares (``scipy.optimize.least_squares``, trust-region
reflective).  Standard errors follow R's ``nls`` (Bates & Watts, *Nonlinear Regression Analysis
and Its Applications*, Wiley 1988, sec. 2.3): with ``J`` the Jacobian of the model at the
estimate, ``s^2 = RSS/(n - p)`` and ``Cov = s^2 (J^T J)^-1``; intervals are
``estimate +- t_{n-p, (1+level)/2} se``, and a prediction band at ``x`` is
``f(x) +- t se_f(x)`` with ``se_f(x)^2 = g^T Cov g``, ``g`` the gradient of ``f`` in the
parameters (the delta method).  These are the linearised (Wald) intervals; they are symmetric and
can cross a bound (R's ``usl`` reports them the same way).
"""

from __future__ import annotations

import math
import sys
import warnings
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import optimize, stats

from capplan._mpl import new_axes
from capplan._validate import FloatArray, as_float_array
from capplan.errors import ParameterError

__all__ = ["FitWarning", "FittedLaw"]

#: Fewer points than this give a warning (R's ``usl`` warns below six as well).
FEW_POINTS = 6


def _caller_level() -> int:
    """``stacklevel`` that points a warning at the first caller outside capplan."""
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None and str(frame.f_globals.get("__name__", "")).startswith("capplan."):
        frame = frame.f_back
        level += 1
    return level


class FitWarning(UserWarning):
    """A fit succeeded but deserves caution: few points, or a parameter sitting at a bound."""


class FittedLaw:
    """A law ``y = f(x; theta)`` fitted by bounded least squares.

    Subclasses set :attr:`param_names`, :attr:`lower`, :attr:`upper`, ``x_name``/``y_name`` and
    implement :meth:`_f` (the law), :meth:`_gradient` (its partial derivatives in the parameters,
    one column per parameter) and :meth:`_start` (a starting point).  After :meth:`fit`, the
    attributes ending in ``_`` hold the result.
    """

    param_names: ClassVar[tuple[str, ...]] = ()
    lower: ClassVar[tuple[float, ...]] = ()
    upper: ClassVar[tuple[float, ...]] = ()
    x_name: ClassVar[str] = "x"
    y_name: ClassVar[str] = "y"
    label: ClassVar[str] = "law"

    params_: pd.Series
    standard_errors_: pd.Series
    covariance_: pd.DataFrame
    residuals_: FloatArray
    x_: FloatArray
    y_: FloatArray
    rss_: float
    dof_: int
    sigma_: float
    r_squared_: float
    at_bound_: tuple[str, ...]

    # -- the maths a subclass provides -------------------------------------------------------
    @staticmethod
    def _f(theta: FloatArray, x: FloatArray) -> FloatArray:
        raise NotImplementedError

    @staticmethod
    def _gradient(theta: FloatArray, x: FloatArray) -> FloatArray:
        raise NotImplementedError

    @staticmethod
    def _start(x: FloatArray, y: FloatArray) -> FloatArray:
        raise NotImplementedError

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, x: ArrayLike, y: ArrayLike) -> Self:
        """Fit the law to the points ``(x, y)``; returns ``self``.

        Raises
        ------
        ParameterError
            Fewer than 3 points, lengths that differ, or non-finite / non-positive values.
        """
        xs = as_float_array(self.x_name, x).ravel()
        ys = as_float_array(self.y_name, y).ravel()
        if xs.shape != ys.shape:
            raise ParameterError(
                f"{self.x_name} and {self.y_name} must have the same length, got {xs.size} and {ys.size}"
            )
        p = len(self.param_names)
        if xs.size < max(3, p):
            raise ParameterError(
                f"a {self.label} fit needs at least {max(3, p)} points ({self.x_name}, {self.y_name}), "
                f"got {xs.size}"
            )
        for name, arr in ((self.x_name, xs), (self.y_name, ys)):
            bad = ~np.isfinite(arr) | (arr <= 0)
            if bad.any():
                raise ParameterError(
                    f"{name} must be positive and finite, got {float(arr[bad][0])!r} at index "
                    f"{int(np.flatnonzero(bad)[0])}"
                )
        if xs.size < FEW_POINTS:
            warnings.warn(
                f"only {xs.size} points for a {self.label} fit; the estimates may not be accurate",
                FitWarning,
                stacklevel=_caller_level(),
            )
        lo = np.asarray(self.lower, dtype=np.float64)
        hi = np.asarray(self.upper, dtype=np.float64)
        start = np.clip(self._start(xs, ys), lo, hi)

        def residual(theta: FloatArray) -> FloatArray:
            return self._f(theta, xs) - ys

        def jac(theta: FloatArray) -> FloatArray:
            return self._gradient(theta, xs)

        result = optimize.least_squares(
            residual,
            start,
            jac=jac,
            bounds=(lo, hi),
            method="trf",
            x_scale="jac",
            ftol=1e-15,
            xtol=1e-15,
            gtol=1e-15,
            max_nfev=10_000,
        )
        theta = np.asarray(result.x, dtype=np.float64)
        self._store(theta, xs, ys)
        return self

    def _store(self, theta: FloatArray, xs: FloatArray, ys: FloatArray) -> None:
        names = list(self.param_names)
        p = len(names)
        lo = np.asarray(self.lower, dtype=np.float64)
        hi = np.asarray(self.upper, dtype=np.float64)
        # The trust-region iterates stay strictly inside the box: an estimate within a hair of a
        # bound is the bound (beta = 4e-28 is beta = 0, and the peak is then at infinity).
        tol = 1e-12 * max(1.0, float(np.max(np.abs(theta))))
        at_lo = np.isfinite(lo) & (np.abs(theta - lo) <= tol)
        at_hi = np.isfinite(hi) & (np.abs(theta - hi) <= tol)
        theta = np.where(at_lo, lo, np.where(at_hi, hi, theta))
        at = [n for n, flag in zip(names, at_lo | at_hi, strict=True) if flag]
        self.x_, self.y_ = xs, ys
        self.params_ = pd.Series(theta, index=names, name="estimate")
        res = ys - self._f(theta, xs)
        self.residuals_ = res
        self.rss_ = float(res @ res)
        self.dof_ = xs.size - p
        variance = self.rss_ / self.dof_ if self.dof_ > 0 else math.nan
        self.sigma_ = math.sqrt(variance)
        grad = self._gradient(theta, xs)
        try:
            cov = np.linalg.inv(grad.T @ grad) * variance
        except np.linalg.LinAlgError:
            cov = np.full((p, p), math.nan)
        self.covariance_ = pd.DataFrame(cov, index=names, columns=names)
        self.standard_errors_ = pd.Series(
            np.sqrt(np.clip(np.diag(cov), 0.0, None)), index=names, name="std_error"
        )
        centred = ys - ys.mean()
        self.r_squared_ = 1.0 - self.rss_ / float(centred @ centred) if centred.any() else math.nan
        self.at_bound_ = tuple(at)
        if at:
            warnings.warn(
                f"{self.label} fit: parameter(s) {', '.join(at)} at a bound "
                f"({', '.join(f'{n}={self.params_[n]:.6g}' for n in at)}); the law may be the wrong "
                "shape for these data, and the linearised intervals are unreliable there",
                FitWarning,
                stacklevel=_caller_level(),
            )

    # -- results -------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise ParameterError(f"this {self.label} model has not been fitted; call fit(x, y) first")

    def confidence_intervals(self, level: float = 0.95) -> pd.DataFrame:
        """Linearised (Wald) intervals ``estimate +- t_{n-p} se`` per parameter, as a DataFrame."""
        self._check_fitted()
        t = self._t(level)
        half = t * self.standard_errors_.to_numpy()
        est = self.params_.to_numpy()
        return pd.DataFrame(
            {"lower": est - half, "upper": est + half}, index=pd.Index(self.param_names, name="parameter")
        )

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """Estimate, standard error, t value, two-sided p-value and interval for each parameter."""
        self._check_fitted()
        ci = self.confidence_intervals(level)
        se = self.standard_errors_.to_numpy()
        est = self.params_.to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            tval = np.where(se > 0, est / se, np.nan)
        pval = 2 * stats.t.sf(np.abs(tval), self.dof_) if self.dof_ > 0 else np.full(est.shape, np.nan)
        return pd.DataFrame(
            {
                "estimate": est,
                "std_error": se,
                "t_value": tval,
                "p_value": pval,
                "lower": ci["lower"].to_numpy(),
                "upper": ci["upper"].to_numpy(),
                "at_bound": [n in self.at_bound_ for n in self.param_names],
            },
            index=pd.Index(self.param_names, name="parameter"),
        )

    def _t(self, level: float) -> float:
        if not (0 < level < 1):
            raise ParameterError(f"level must lie in (0, 1), got {level!r}")
        return float(stats.t.ppf(0.5 + level / 2, self.dof_)) if self.dof_ > 0 else math.inf

    def predict(self, x: ArrayLike, level: float | None = 0.95) -> pd.DataFrame:
        """The fitted law at ``x`` with a confidence band (delta method); ``level=None`` omits it.

        Returns a DataFrame with columns ``x_name``, ``y_name`` and, with a level, ``lower`` and
        ``upper`` (the band of the *mean* law, not of a new observation).
        """
        self._check_fitted()
        xs = as_float_array(self.x_name, x).ravel()
        theta = self.params_.to_numpy()
        fit = self._f(theta, xs)
        out = pd.DataFrame({self.x_name: xs, self.y_name: fit})
        if level is not None:
            grad = self._gradient(theta, xs)
            cov = self.covariance_.to_numpy()
            se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", grad, cov, grad), 0.0, None))
            half = self._t(level) * se
            out["lower"] = fit - half
            out["upper"] = fit + half
        return out

    def __call__(self, x: ArrayLike) -> Any:
        """The fitted law at ``x`` (a float for a scalar)."""
        self._check_fitted()
        xs = as_float_array(self.x_name, x)
        val = self._f(self.params_.to_numpy(), np.atleast_1d(xs).ravel()).reshape(xs.shape)
        return float(val) if val.ndim == 0 else val

    def plot(self, ax: Any = None, *, level: float | None = 0.95, points: int = 200) -> Any:
        """Data points, the fitted curve and its band; returns the matplotlib ``Axes``."""
        self._check_fitted()
        if ax is None:
            ax = new_axes()
        grid = np.linspace(min(1.0, float(self.x_.min())), float(self.x_.max()) * 1.5, points)
        pred = self.predict(grid, level)
        ax.plot(self.x_, self.y_, "o", color="black", label="measured")
        ax.plot(grid, pred[self.y_name], color="C0", label=f"{self.label} fit")
        if level is not None:
            ax.fill_between(
                grid, pred["lower"], pred["upper"], color="C0", alpha=0.2, label=f"{level:.0%} band"
            )
        ax.set_xlabel(self.x_name)
        ax.set_ylabel(self.y_name)
        ax.legend()
        return ax

    def __repr__(self) -> str:
        if not hasattr(self, "params_"):
            return f"{type(self).__name__}(unfitted)"
        inner = ", ".join(f"{n}={self.params_[n]:.6g}" for n in self.param_names)
        return f"{type(self).__name__}({inner}, n={self.x_.size}, r_squared={self.r_squared_:.4f})"
