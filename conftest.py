"""Root pytest configuration: notebooks run under nbval (strict output comparison) by default.

``pytest`` alone runs the unit tests and every notebook in ``notebooks/`` in the current
environment's kernel, with the sanitize file given by absolute path so it works from any directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent

# Deterministic, headless plotting in tests and in the notebook kernels nbval starts.
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_configure(config: pytest.Config) -> None:
    opt = config.option
    if hasattr(opt, "nbval"):
        if not opt.nbval_lax:
            opt.nbval = True
        opt.nbval_current_env = True
        opt.nbval_sanitize_with = str(ROOT / "notebooks" / "nbval_sanitize.cfg")
