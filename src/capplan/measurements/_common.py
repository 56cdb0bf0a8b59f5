"""What the measurement readers share: their error type and the path-or-text reader."""

from __future__ import annotations

import os

from capplan._sources import read_text_source
from capplan.errors import CapplanError

__all__ = ["MeasurementError", "read_measurement"]


class MeasurementError(CapplanError, ValueError):
    """A measurement file or API answer is malformed; the message names the source and the line or key."""


def read_measurement(source: str | os.PathLike[str], *, caller: str, what: str) -> tuple[str, str]:
    """``(label, text)`` of a measurement given as a path or as the file's text (text has a newline)."""
    return read_text_source(
        source,
        is_text=lambda s: "\n" in s,
        caller=caller,
        text_label="<text>",
        expects="a path or the file's text",
        what=what,
        error=MeasurementError,
    )
