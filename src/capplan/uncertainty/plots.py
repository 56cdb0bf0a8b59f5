"""The tornado figure of :class:`~capplan.uncertainty.result.UncertainSizing` (``ax=None``, returns Axes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from capplan._mpl import new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from capplan.uncertainty.result import UncertainSizing

__all__ = ["plot_tornado"]


def plot_tornado(result: UncertainSizing, ax: Axes | None = None) -> Axes:
    """One bar per uncertain input, from the total replicas with it at its 5th percentile to those
    at its 95th (the others at their medians); the widest swing on top, the medians' total as a
    line."""
    if ax is None:
        ax = new_axes((7.0, 1.8 + 0.45 * max(len(result.sensitivity), 1)))
        ax.figure.subplots_adjust(left=0.38, right=0.97, bottom=0.35, top=0.88)
    table = result.sensitivity.iloc[::-1]
    base = float(result.at_medians["total"])
    y = np.arange(len(table))
    # A draw no count can serve needs inf replicas: its bar is left out rather than drawn to infinity.
    low = np.where(np.isfinite(t := table["replicas_at_low"].to_numpy(dtype=float)), t, np.nan)
    high = np.where(np.isfinite(t := table["replicas_at_high"].to_numpy(dtype=float)), t, np.nan)
    ax.barh(y, high - base, left=base, color="tab:red", label="input at its p95")
    ax.barh(y, low - base, left=base, color="tab:blue", label="input at its p5")
    ax.axvline(base, color="black", linewidth=1, label=f"all at medians ({base:g})")
    ax.set_yticks(y, list(table["input"]))
    ax.set_xlabel("total replicas needed")
    ax.set_title("Which input's uncertainty matters most")
    ax.legend(fontsize="small", loc="upper right", bbox_to_anchor=(1.0, -0.22), ncol=3, frameon=False)
    return ax
