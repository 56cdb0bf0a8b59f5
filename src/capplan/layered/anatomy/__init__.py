"""The anatomy of a request from measurements: per class CPU and waits from a py-spy ``--idle``
profile (:func:`anatomy_from_profile`), the share of CPU outside the interpreter lock from scalene
(:func:`cpu_split`), per class rates and latencies from Prometheus (:func:`class_traffic`), and
from them a :class:`~capplan.layered.ServiceModel` to edit (:meth:`Anatomy.to_model`)."""

from capplan.layered.anatomy.profile import anatomy_from_profile
from capplan.layered.anatomy.resources import (
    BLOCKING,
    GENERIC,
    LIBRARIES,
    Classifier,
    Resource,
    hold,
    queue,
    wait,
)
from capplan.layered.anatomy.result import Anatomy, AnatomyWarning
from capplan.layered.anatomy.scalene_split import CpuSplit, cpu_split
from capplan.layered.anatomy.traffic import ClassTraffic, class_traffic

__all__ = [
    "BLOCKING",
    "GENERIC",
    "LIBRARIES",
    "Anatomy",
    "AnatomyWarning",
    "ClassTraffic",
    "Classifier",
    "CpuSplit",
    "Resource",
    "anatomy_from_profile",
    "class_traffic",
    "cpu_split",
    "hold",
    "queue",
    "wait",
]
