"""capplan: capacity planning from SLA targets and measurements.

Data flows one way: inputs (:mod:`capplan.sla`, :mod:`capplan.units`) -> models
(:mod:`capplan.queueing`) -> decisions (:mod:`capplan.sizing`) -> output (:mod:`capplan.plan`,
:mod:`capplan.plots`, the ``capplan`` command line).  All rates are per second, all times in seconds,
probabilities and utilizations are fractions in [0, 1].
"""

from importlib.metadata import PackageNotFoundError, version

from capplan.errors import (
    CapplanError,
    InfeasibleError,
    ParameterError,
    SLAError,
    UnitError,
    UnstableSystemError,
)
from capplan.plan import CapacityPlan, plan
from capplan.sla import SLA, load_sla
from capplan.sweeps import sweep
from capplan.units import parse_bound, parse_duration, parse_percent, parse_quantity, parse_size

try:
    __version__ = version("capplan")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = [
    "SLA",
    "CapacityPlan",
    "CapplanError",
    "InfeasibleError",
    "ParameterError",
    "SLAError",
    "UnitError",
    "UnstableSystemError",
    "__version__",
    "load_sla",
    "parse_bound",
    "parse_duration",
    "parse_percent",
    "parse_quantity",
    "parse_size",
    "plan",
    "sweep",
]
