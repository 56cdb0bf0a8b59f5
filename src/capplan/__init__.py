"""capplan: capacity planning from SLA targets and measurements.

Data flows one way: inputs (:mod:`capplan.sla`, :mod:`capplan.units`) -> models
(:mod:`capplan.queueing`) -> decisions (:mod:`capplan.sizing`) -> output (:mod:`capplan.plan`,
:mod:`capplan.plots`, the ``capplan`` command line).  All rates are per second, all times in seconds,
probabilities and utilizations are fractions in [0, 1].

``import capplan`` loads only the errors and unit parsers; the other names import their modules
(and pandas, SciPy, numba, matplotlib as those need them) on first use.
"""

from importlib import import_module
from typing import TYPE_CHECKING

from capplan._lazy import lazy_exports
from capplan.errors import (
    CapplanError,
    InfeasibleError,
    ParameterError,
    SLAError,
    UnitError,
    UnstableSystemError,
)
from capplan.units import parse_bound, parse_duration, parse_percent, parse_quantity, parse_size

if TYPE_CHECKING:
    from capplan.plan.build import plan
    from capplan.plan.model import CapacityPlan
    from capplan.sla import SLA, load_sla
    from capplan.sweeps import sweep

    __version__: str
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "plan.build": ("plan",),
            "plan.model": ("CapacityPlan",),
            "sla": ("SLA", "load_sla"),
            "sweeps": ("sweep",),
            "_version": ("__version__",),
        },
    )
    # ``capplan.plan`` is a subpackage and ``cp.plan`` the function that builds a plan.  Import the
    # subpackage (light: its names are lazy too) before anything else can, then drop the module
    # that the import bound here, so ``cp.plan`` resolves through ``__getattr__`` to the function.
    import_module("capplan.plan")
    del globals()["plan"]

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
