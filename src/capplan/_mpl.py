"""A new figure's axes for the plot functions called with ``ax=None``.

matplotlib.pyplot is slow to import and starts a GUI backend, so it is imported here, when a plot
function first needs a figure of its own; reports draw on :class:`matplotlib.figure.Figure` objects
and never touch it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["new_axes"]


def new_axes(figsize: tuple[float, float] | None = None) -> Axes:
    """The axes of a new pyplot figure (``plt.subplots(figsize=...)``)."""
    import matplotlib.pyplot as plt  # noqa: PLC0415 - see the module docstring

    _, ax = plt.subplots(figsize=figsize)
    return ax
