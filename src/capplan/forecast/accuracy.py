"""How good is the forecast?  Hold back the last weeks, forecast them, score against seasonal naive.

The score is the mean absolute scaled error (Hyndman & Koehler, "Another look at measures of
forecast accuracy", *International Journal of Forecasting* 22 (2006) 679-688, sec. 3.4)::

    MASE = mean |y_t - yhat_t| / Q,   Q = mean over the training data of |y_t - y_{t-m}|

with ``m`` one week of steps, so ``Q`` is the in-sample error of the seasonal-naive forecast
"same hour last week".  The seasonal-naive forecast of the held-back weeks (the last training
week repeated) is scored with the same ``Q`` in the same run: a model worth having scores below it.
Coverage is the share of held-back steps inside each prediction interval (nominal 80% and 95%).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from capplan.forecast.history import MIN_WEEKS, ForecastError, check_history, week_steps
from capplan.forecast.model import LEVELS, Forecast, fit_traffic

__all__ = ["Accuracy", "evaluate"]


@dataclass(frozen=True, repr=False)
class Accuracy:
    """Result of :func:`evaluate`: scores of the model and of seasonal naive on the held-back weeks."""

    holdout_weeks: int
    mase: float
    naive_mase: float
    coverage: dict[float, float]
    forecast: Forecast
    actual: pd.Series
    naive: pd.Series

    @property
    def beats_naive(self) -> bool:
        """True when the model's MASE is below seasonal naive's."""
        return self.mase < self.naive_mase

    def to_frame(self) -> pd.DataFrame:
        """One row per method: ``mase`` and the coverage of each interval (NaN for naive)."""
        rows = {
            "model": {
                "mase": self.mase,
                **{f"coverage_{round(q * 100)}": c for q, c in self.coverage.items()},
            },
            "seasonal naive": {"mase": self.naive_mase},
        }
        frame = pd.DataFrame.from_dict(rows, orient="index")
        frame.index.name = f"last {self.holdout_weeks} weeks held back"
        return frame

    def __repr__(self) -> str:
        cover = ", ".join(f"{round(q * 100)}% interval covers {c:.1%}" for q, c in self.coverage.items())
        return (
            f"Accuracy({self.holdout_weeks} weeks held back: MASE {self.mase:.3f} vs seasonal naive "
            f"{self.naive_mase:.3f}; {cover})"
        )


def evaluate(
    history: pd.Series, *, holdout_weeks: int = 4, source: str = "history", **fit_options: Any
) -> Accuracy:
    """Fit :func:`~capplan.forecast.fit_traffic` on all but the last ``holdout_weeks`` weeks of
    ``history``, forecast them, and score model and seasonal naive (see the module docstring)."""
    y = check_history(history, source)
    if not (isinstance(holdout_weeks, int) and holdout_weeks >= 1):
        raise ForecastError(f"holdout_weeks must be a whole number of weeks >= 1, got {holdout_weeks!r}")
    week = week_steps(y)
    held = holdout_weeks * week
    if len(y) - held < MIN_WEEKS * week:
        raise ForecastError(
            f"{source}: too short to hold back {holdout_weeks} weeks: {len(y)} steps leave "
            f"{len(y) - held}, the fit needs {MIN_WEEKS} weeks ({MIN_WEEKS * week} steps)"
        )
    train, actual = y.iloc[:-held], y.iloc[-held:]
    model = fit_traffic(train, source=source, **fit_options)
    step = y.index[1] - y.index[0]
    forecast = model.forecast(step * held)
    naive = pd.Series(np.resize(train.to_numpy()[-week:], held), index=actual.index, name="seasonal naive")
    scale = _scale(train, week)
    frame = forecast.frame
    coverage = {
        level: float(
            np.mean(
                (actual.to_numpy() >= frame[f"lower_{round(level * 100)}"].to_numpy())
                & (actual.to_numpy() <= frame[f"upper_{round(level * 100)}"].to_numpy())
            )
        )
        for level in LEVELS
    }
    return Accuracy(
        holdout_weeks=holdout_weeks,
        mase=float(np.mean(np.abs(actual.to_numpy() - frame["median"].to_numpy()))) / scale,
        naive_mase=float(np.mean(np.abs(actual.to_numpy() - naive.to_numpy()))) / scale,
        coverage=coverage,
        forecast=forecast,
        actual=actual,
        naive=naive,
    )


def _scale(train: pd.Series, week: int) -> float:
    """Mean absolute error of "same step last week" over the training data (MASE's denominator)."""
    values = train.to_numpy()
    scale = float(np.mean(np.abs(values[week:] - values[:-week])))
    if not scale > 0:
        raise ForecastError("history: the training weeks repeat exactly; MASE is undefined")
    return scale
