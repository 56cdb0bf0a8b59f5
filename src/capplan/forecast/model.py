"""The traffic model: log rate = trend + daily and weekly cycles + AR errors, robust to spikes.

Model (dynamic harmonic regression, Hyndman & Athanasopoulos, *Forecasting: Principles and
Practice* 3rd ed. (2021), sec. 10.3 "Regression with ARIMA errors" and sec. 12.1 "Complex
seasonality")::

    log(rate_t + c) = b0 + b1 t + sum_d w_d [day_t = d]                     (trend, day of week)
                      + sum_k a_k sin(2 pi k h_t / 24) + a'_k cos(...)      (daily cycle, K harmonics)
                      + weekend_t * sum_j (g_j sin(2 pi j h_t / 24) + ...)  (weekend's own day shape)
                      + e_t,       e_t ~ AR(p)

with ``t`` in years, ``h_t`` the hour of day (UTC), ``c`` 0, or 1% of the mean rate when some step
has no requests (so that it has a logarithm).  In logs the cycles and the growth are factors, as
traffic's are: a busy hour is a multiple of the day's level, and growth scales the whole day.

Fitting is two-stage (statsmodels): ordinary least squares for the regression, repeated with the
hours whose residual exceeds ``outlier_threshold`` robust standard deviations (1.4826 x MAD) set
aside until the set is stable -- holidays and event spikes are *flagged* rather than fitted, so
they neither bend the trend nor widen the intervals; then an AR(``ar_order``) model for the
residuals, its coefficients by conditional least squares over the unflagged hours and its
forecast from :class:`statsmodels.tsa.arima.model.ARIMA`'s Kalman filter, which takes the flagged
hours as missing.  The forecast's variance is the AR forecast's plus the regression's
(``x' Cov(b) x``, Newey-West covariance over one day of lags); the intervals are normal in logs,
so the reported centre is the median.

Why this model and not another of statsmodels':

* ETS (``ETSModel``) and Holt-Winters take one seasonal period, traffic has two (day, week);
* SARIMAX with a weekly seasonal period (168 hourly steps) carries a state of hundreds of
  elements, and SARIMAX with the Fourier terms as exogenous regressors estimated jointly took
  65-105 s on the bundled year and forecast worse than the two-stage fit (MASE 3.3-26 against 0.85);
* MSTL decomposes but does not forecast or give intervals by itself; UnobservedComponents with
  two trigonometric seasonals estimates a dozen variances by numerical likelihood on 8,760 hours,
  slow for a command that should answer in seconds.

The two-stage fit takes about a second on a year of hourly data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from capplan._validate import positive
from capplan.errors import ParameterError
from capplan.forecast.history import ForecastError, check_history
from capplan.units import parse_duration

__all__ = ["LEVELS", "Forecast", "TrafficModel", "fit_traffic"]

#: Coverage of the reported prediction intervals.
LEVELS = (0.80, 0.95)
_YEAR_S = 365.25 * 86400.0


@dataclass(frozen=True)
class Forecast:
    """Forecast rates (requests/s) per time: ``median`` and ``lower_80``/``upper_80``,
    ``lower_95``/``upper_95`` (pointwise prediction intervals), in :attr:`frame`."""

    frame: pd.DataFrame
    method: str

    def __repr__(self) -> str:
        f = self.frame
        return (
            f"Forecast({len(f)} steps from {f.index[0]:%Y-%m-%d %H:%M} to {f.index[-1]:%Y-%m-%d %H:%M}, "
            f"peak median {float(f['median'].max()):.4g}/s, peak upper_95 {float(f['upper_95'].max()):.4g}/s)"
        )


def _design(index: pd.DatetimeIndex, origin: pd.Timestamp, daily: int, weekend: int) -> NDArray[np.float64]:
    """The regressors of the module docstring, one row per time."""
    years = (index - origin).total_seconds().to_numpy() / _YEAR_S
    hours = (index.hour + index.minute / 60.0 + index.second / 3600.0).to_numpy()
    dow = index.day_of_week.to_numpy()
    is_weekend = (dow >= 5).astype(float)
    columns = [np.ones(len(index)), years, *((dow == d).astype(float) for d in range(1, 7))]
    for k in range(1, daily + 1):
        angle = 2 * np.pi * k * hours / 24.0
        columns += [np.sin(angle), np.cos(angle)]
    for k in range(1, weekend + 1):
        angle = 2 * np.pi * k * hours / 24.0
        columns += [is_weekend * np.sin(angle), is_weekend * np.cos(angle)]
    return np.column_stack(columns)


@dataclass(frozen=True, repr=False)
class TrafficModel:
    """Result of :func:`fit_traffic`; fitted attributes end in ``_``."""

    history: pd.Series
    daily_harmonics: int
    weekend_harmonics: int
    ar_order: int
    outlier_threshold: float
    offset_: float
    coef_: NDArray[np.float64]
    cov_: NDArray[np.float64]
    errors_: Any  # statsmodels ARIMAResults of the residuals
    outliers_: pd.DatetimeIndex
    resid_sd_: float

    @property
    def method(self) -> str:
        """The model in one line, for reports."""
        return (
            f"log-linear trend + day of week + daily Fourier (K={self.daily_harmonics}, weekend "
            f"K={self.weekend_harmonics}) + AR({self.ar_order}) errors; {len(self.outliers_)} outlier "
            f"steps (> {self.outlier_threshold:g} robust sd) set aside"
        )

    @property
    def growth_per_year(self) -> float:
        """Fitted growth of the rate over a year (0.4 = 40% a year)."""
        return float(np.expm1(self.coef_[1]))

    @property
    def _index(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.history.index)

    def _design(self, index: pd.DatetimeIndex) -> NDArray[np.float64]:
        return _design(index, self._index[0], self.daily_harmonics, self.weekend_harmonics)

    def fitted(self) -> pd.Series:
        """The regression part (trend and cycles, no AR errors) over the history, requests/s."""
        values = np.exp(self._design(self._index) @ self.coef_) - self.offset_
        return pd.Series(np.maximum(values, 0.0), index=self.history.index, name="fitted")

    def outliers(self) -> pd.DataFrame:
        """The flagged steps: ``rate``, ``fitted`` and their ``ratio``."""
        rate = self.history.loc[self.outliers_]
        fit = self.fitted().loc[self.outliers_]
        return pd.DataFrame({"rate": rate, "fitted": fit, "ratio": rate / fit})

    def forecast(self, horizon: str | float | pd.Timedelta) -> Forecast:
        """Median and 80%/95% prediction intervals for every step up to ``horizon`` after the
        history's end (a duration such as ``"90d"``, seconds, or a Timedelta)."""
        index = self._future(horizon)
        X = self._design(index)
        ahead = self.errors_.get_forecast(len(index))
        mean = X @ self.coef_ + np.asarray(ahead.predicted_mean)
        var = np.asarray(ahead.var_pred_mean) + np.einsum("ij,jk,ik->i", X, self.cov_, X)
        sd = np.sqrt(var)
        from scipy.special import ndtri  # noqa: PLC0415 - SciPy loads when forecasting

        columns: dict[str, NDArray[np.float64]] = {"median": mean}
        for level in LEVELS:
            z = float(ndtri(0.5 + level / 2))
            tag = f"{round(level * 100)}"
            columns[f"lower_{tag}"], columns[f"upper_{tag}"] = mean - z * sd, mean + z * sd
        frame = pd.DataFrame(
            {k: np.maximum(np.exp(v) - self.offset_, 0.0) for k, v in columns.items()}, index=index
        )
        frame = frame[["median", "lower_80", "upper_80", "lower_95", "upper_95"]]
        frame.index.name = "time"
        return Forecast(frame, self.method)

    def _future(self, horizon: str | float | pd.Timedelta) -> pd.DatetimeIndex:
        if isinstance(horizon, pd.Timedelta):
            seconds = horizon.total_seconds()
        else:
            seconds = parse_duration(horizon) if isinstance(horizon, str) else float(horizon)
        positive("horizon", seconds)
        index = self.history.index
        step = index[1] - index[0]
        steps = int(seconds // step.total_seconds())
        span = (index[-1] - index[0]) + step
        if steps < 1:
            raise ParameterError(f"horizon: {horizon!r} is shorter than one step of the history ({step})")
        if step * steps > span:
            raise ForecastError(f"horizon: {horizon!r} is longer than the history it is fitted on ({span})")
        return pd.date_range(index[-1] + step, periods=steps, freq=step, name="time")

    def __repr__(self) -> str:
        h = self.history
        return (
            f"TrafficModel({len(h)} steps of {h.index[1] - h.index[0]} from {h.index[0]:%Y-%m-%d}, "
            f"growth {self.growth_per_year:+.1%}/year, {len(self.outliers_)} outlier steps, "
            f"residual sd {self.resid_sd_:.3f} in logs)"
        )


def fit_traffic(
    history: pd.Series,
    *,
    daily_harmonics: int = 6,
    weekend_harmonics: int = 3,
    ar_order: int = 2,
    outlier_threshold: float = 4.0,
    source: str = "history",
) -> TrafficModel:
    """Fit the model of the module docstring to ``history`` (requests/s on a regular time index,
    e.g. from :func:`~capplan.forecast.load_history`); ``source`` names it in errors."""
    y = check_history(history, source)
    for name, value in (("daily_harmonics", daily_harmonics), ("weekend_harmonics", weekend_harmonics)):
        if not (isinstance(value, int) and 1 <= value <= 11):
            raise ParameterError(f"{name} must be an integer from 1 to 11, got {value!r}")
    if not (isinstance(ar_order, int) and 0 <= ar_order <= 5):
        raise ParameterError(f"ar_order must be an integer from 0 to 5, got {ar_order!r}")
    threshold = float(positive("outlier_threshold", outlier_threshold))
    offset = 0.0 if float(y.min()) > 0 else 0.01 * float(y.mean())
    z = np.log(y.to_numpy() + offset)
    index = pd.DatetimeIndex(y.index)
    X = _design(index, index[0], daily_harmonics, weekend_harmonics)
    coef, keep, resid_sd = _robust_regression(X, z, threshold)
    day = int(pd.Timedelta(days=1) / (y.index[1] - y.index[0]))
    from statsmodels.regression.linear_model import OLS  # noqa: PLC0415 - statsmodels is heavy
    from statsmodels.tsa.arima.model import ARIMA  # noqa: PLC0415

    regression = OLS(z[keep], X[keep]).fit(method="qr", cov_type="HAC", cov_kwds={"maxlags": day})
    coef = np.asarray(regression.params)
    resid = z - X @ coef
    resid[~keep] = np.nan
    errors = ARIMA(resid, order=(ar_order, 0, 0), trend="n").filter(_ar_estimate(resid, ar_order, source))
    return TrafficModel(
        history=y,
        daily_harmonics=daily_harmonics,
        weekend_harmonics=weekend_harmonics,
        ar_order=ar_order,
        outlier_threshold=threshold,
        offset_=offset,
        coef_=coef,
        cov_=np.asarray(regression.cov_params()),
        errors_=errors,
        outliers_=index[~keep],
        resid_sd_=resid_sd,
    )


def _ar_estimate(resid: NDArray[np.float64], order: int, source: str) -> NDArray[np.float64]:
    """AR(``order``) coefficients and innovation variance by conditional least squares over the
    steps whose lags are all present (Box, Jenkins, Reinsel & Ljung, *Time Series Analysis* 5th ed.
    (2015), sec. 7.1.5); the Kalman filter then takes the missing steps as missing."""
    if order == 0:
        return np.array([float(np.nanvar(resid))])
    n = resid.size
    lagged = np.column_stack([resid[order - k : n - k] for k in range(1, order + 1)])
    target = resid[order:]
    ok = np.isfinite(target) & np.all(np.isfinite(lagged), axis=1)
    if ok.sum() <= 10 * order:
        raise ForecastError(f"{source}: too few unflagged steps to fit the AR({order}) errors")
    phi = np.linalg.lstsq(lagged[ok], target[ok], rcond=None)[0]
    roots = np.roots(np.r_[1.0, -phi])
    if np.any(np.abs(roots) >= 1):  # keep the error process stationary
        raise ForecastError(
            f"{source}: the residuals are not stationary (AR roots {np.abs(roots).max():.3f})"
        )
    sigma2 = float(np.mean((target[ok] - lagged[ok] @ phi) ** 2))
    return np.asarray(np.r_[phi, sigma2], dtype=float)


def _robust_regression(
    X: NDArray[np.float64], z: NDArray[np.float64], threshold: float, rounds: int = 5
) -> tuple[NDArray[np.float64], NDArray[np.bool_], float]:
    """Least squares, refitted without the points beyond ``threshold`` robust sd until stable."""
    keep = np.ones(z.size, dtype=bool)
    coef: NDArray[np.float64] = np.zeros(X.shape[1])
    scale = 0.0
    for _ in range(rounds):
        kept = X[keep]
        coef = np.asarray(np.linalg.solve(kept.T @ kept, kept.T @ z[keep]), dtype=float)  # normal equations
        resid = z - X @ coef
        centre = np.median(resid[keep])
        scale = 1.4826 * float(np.median(np.abs(resid[keep] - centre)))
        if scale <= 0:
            break
        new = np.abs(resid - centre) <= threshold * scale
        if np.array_equal(new, keep):
            break
        keep = new
    return coef, keep, scale
