"""Traffic forecasts and capacity runway: when does the load outgrow the fleet?

:func:`load_history` (CSV) or :func:`history_from_prometheus` give a request-rate history;
:func:`fit_traffic` fits trend, daily and weekly cycles and AR errors, flagging spikes;
:meth:`TrafficModel.forecast` gives the median and 80%/95% prediction intervals;
:func:`evaluate` holds back the last weeks and scores the model against a seasonal-naive forecast
(MASE, interval coverage); :func:`plan_runway` finds when the forecast crosses what the plan's
fleet can carry.

Each name imports its module on first use (see :mod:`capplan._lazy`); statsmodels loads only to fit.
"""

from typing import TYPE_CHECKING

from capplan._lazy import lazy_exports

if TYPE_CHECKING:
    from capplan.forecast.accuracy import Accuracy, evaluate
    from capplan.forecast.history import ForecastError, check_history, history_from_prometheus, load_history
    from capplan.forecast.model import LEVELS, Forecast, TrafficModel, fit_traffic
    from capplan.forecast.runways import PlanRunway, Runway, class_capacity, plan_runway, runway
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "accuracy": ("Accuracy", "evaluate"),
            "history": ("ForecastError", "check_history", "history_from_prometheus", "load_history"),
            "model": ("LEVELS", "Forecast", "TrafficModel", "fit_traffic"),
            "runways": ("PlanRunway", "Runway", "class_capacity", "plan_runway", "runway"),
        },
    )

__all__ = [
    "LEVELS",
    "Accuracy",
    "Forecast",
    "ForecastError",
    "PlanRunway",
    "Runway",
    "TrafficModel",
    "check_history",
    "class_capacity",
    "evaluate",
    "fit_traffic",
    "history_from_prometheus",
    "load_history",
    "plan_runway",
    "runway",
]
