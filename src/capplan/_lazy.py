"""Names of a package imported from their modules on first use (PEP 562 module ``__getattr__``).

``import capplan`` and ``capplan --help`` should take a blink, so a package whose names live in
modules that pull in heavy dependencies (pandas, SciPy's distributions, matplotlib, numba) lists
them here instead of importing them::

    if TYPE_CHECKING:  # what type checkers and readers see
        from capplan.plan.build import plan
    else:
        __getattr__, __dir__ = lazy_exports(__name__, {"build": ("plan",)})

The first ``package.plan`` (or ``from package import plan``) imports ``package.build`` and keeps
the value in the package's namespace, so later lookups cost nothing.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, modules: Mapping[str, Sequence[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose ``modules`` (relative names) define
    the listed public names."""
    where = {name: module for module, names in modules.items() for name in names}

    def lookup(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def names() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return lookup, names
