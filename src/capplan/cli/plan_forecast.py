"""``capplan plan --horizon``: forecast the traffic history and add the runway to the plan."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from capplan.errors import ParameterError
from capplan.forecast import load_history, plan_runway
from capplan.plan import CapacityPlan
from capplan.plan.inputs import ROOT_KEY, forecast_history

__all__ = ["history_file", "with_runway"]


def history_file(args: argparse.Namespace) -> Path:
    """``--history``, else the plan-inputs file's ``forecast.history``."""
    if args.history:
        return Path(args.history)
    found = forecast_history(args.files[0]) if len(args.files) == 1 else None
    if found is None:
        raise ParameterError(
            f"--horizon: give --history FILE (timestamp, requests or rate), or name it in the plan "
            f"file as {ROOT_KEY}.forecast.history"
        )
    return found


def with_runway(result: CapacityPlan, args: argparse.Namespace) -> CapacityPlan:
    """``result`` with its :class:`~capplan.forecast.runways.PlanRunway` over ``args.horizon``."""
    path = history_file(args)
    runway = plan_runway(result, load_history(path), args.horizon, source=str(path))
    return dataclasses.replace(result, runway=runway)
