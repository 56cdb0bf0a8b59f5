"""A small, deterministic demo service used to check profiles and what-if predictions.

:mod:`capplan.demo.workload` serves requests made of a few named pure-Python functions of
different weight; any one of them can be slowed by a factor, so the real throughput change can
be measured and compared with the what-if prediction of :mod:`capplan.profiles`.

The package imports nothing eagerly, so ``python -m capplan.demo.workload`` runs the module
once, as ``__main__``: import from :mod:`capplan.demo.workload` directly.
"""

from __future__ import annotations

__all__: list[str] = []
