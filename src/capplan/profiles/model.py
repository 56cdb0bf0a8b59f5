"""The one profile model: sampled call stacks with their weight in seconds, and what follows.

Every reader (py-spy speedscope, py-spy raw collapsed stacks, scalene JSON) produces a
:class:`Profile`: the :class:`~capplan.profiles.stacks.Stacks` (frames, distinct call stacks, and
per stack its thread, CPU seconds and sample count) with the function tables, module groups,
per-request demand and what-if as methods.  Those are computed from the stacks alone, so they mean
the same whichever profiler recorded them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

import capplan.profiles.demand as _demand
import capplan.profiles.tables as _tables
import capplan.profiles.whatif as _whatif
from capplan.profiles._common import ProfileError
from capplan.profiles.frames import IDLE_FUNCTIONS, Frame, frame_matcher
from capplan.profiles.stacks import Stacks

__all__ = ["IDLE_FUNCTIONS", "Frame", "Profile", "frame_matcher"]


class Profile(Stacks):
    """Sampled call stacks with weights in seconds (one model for every profiler).

    The fields are those of :class:`~capplan.profiles.stacks.Stacks`; this class adds the tables,
    the per-request demand and the what-if.
    """

    # -- tables ---------------------------------------------------------------------------------
    def functions(self) -> pd.DataFrame:
        """Self and inclusive time per function, with shares and their sampling error.

        Columns ``function, file, line, module, self_s, inclusive_s, self_share,
        inclusive_share, self_share_se, inclusive_share_se, self_samples, inclusive_samples``;
        sorted by inclusive then self time. See :func:`capplan.profiles.tables.function_table`.
        """
        return _tables.function_table(self)

    def by_module(self) -> pd.DataFrame:
        """Self and inclusive time per module (a sample counts once per module on its stack)."""
        return _tables.module_table(self)

    def diff(self, other: Profile) -> pd.DataFrame:
        """Function shares of this profile (``_a``) against ``other`` (``_b``), with a z-score."""
        if not isinstance(other, Profile):
            raise ProfileError(f"other must be a Profile, got {type(other).__name__}")
        return _tables.diff_table(self, other)

    # -- demand and what-if -------------------------------------------------------------------
    def demand(
        self, requests: float, *, within: str | None = None, cpu_s: float | None = None
    ) -> _demand.RequestDemand:
        """CPU seconds per request, per function and in total (see :mod:`capplan.profiles.demand`)."""
        return _demand.request_demand(self, requests, within=within, cpu_s=cpu_s)

    def what_if(self, speedups: Mapping[str, float], *, requests: float, **kwargs: Any) -> _whatif.WhatIf:
        """Amdahl what-if for speeding functions up (see :func:`capplan.profiles.whatif.what_if`)."""
        return _whatif.what_if(self, speedups, requests=requests, **kwargs)
