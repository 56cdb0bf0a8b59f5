"""Planning under uncertainty: uncertain inputs, replicas by Monte Carlo, which input matters most.

``capplan.uncertainty.size_under_uncertainty(rate, classes, confidence=0.9, draws=4000, rng=seed)``
draws the inputs (:mod:`~capplan.uncertainty.quantities`: a point, ``{low, high}``,
``{median, p90}``, ``{mean, sd}``) and sizes every draw through the plan's queueing models at once
(:mod:`~capplan.uncertainty.propagate`); :func:`plan_under_uncertainty` does it for a
:class:`~capplan.plan.CapacityPlan` with a plan file's ``uncertainty:`` section
(:mod:`~capplan.uncertainty.section`).

Each name imports its module on first use (see :mod:`capplan._lazy`).
"""

from typing import TYPE_CHECKING

from capplan._lazy import lazy_exports

if TYPE_CHECKING:
    from capplan.uncertainty.from_plan import plan_under_uncertainty
    from capplan.uncertainty.plots import plot_tornado
    from capplan.uncertainty.propagate import ClassModel, replicas_required
    from capplan.uncertainty.quantities import (
        Lognormal,
        Point,
        Uniform,
        lognormal_from_moments,
        lognormal_through,
    )
    from capplan.uncertainty.result import CacheAtConfidence, UncertainSizing
    from capplan.uncertainty.section import (
        UncertainInputs,
        UncertaintyInputError,
        parse_uncertain,
        parse_uncertainty,
    )
    from capplan.uncertainty.sizing import ClassInputs, size_under_uncertainty
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "from_plan": ("plan_under_uncertainty",),
            "plots": ("plot_tornado",),
            "propagate": ("ClassModel", "replicas_required"),
            "quantities": ("Lognormal", "Point", "Uniform", "lognormal_from_moments", "lognormal_through"),
            "result": ("CacheAtConfidence", "UncertainSizing"),
            "section": ("UncertainInputs", "UncertaintyInputError", "parse_uncertain", "parse_uncertainty"),
            "sizing": ("ClassInputs", "size_under_uncertainty"),
        },
    )

__all__ = [
    "CacheAtConfidence",
    "ClassInputs",
    "ClassModel",
    "Lognormal",
    "Point",
    "UncertainInputs",
    "UncertainSizing",
    "UncertaintyInputError",
    "Uniform",
    "lognormal_from_moments",
    "lognormal_through",
    "parse_uncertain",
    "parse_uncertainty",
    "plan_under_uncertainty",
    "plot_tornado",
    "replicas_required",
    "size_under_uncertainty",
]
