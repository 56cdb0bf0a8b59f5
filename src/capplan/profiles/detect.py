"""``load_profile``: detect a profile file's format and read it (the input layer of profiles)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from capplan._sources import read_text_source
from capplan._strict import load_json
from capplan.profiles._common import ProfileError
from capplan.profiles.collapsed import parse_collapsed
from capplan.profiles.model import Profile
from capplan.profiles.scalene import parse_scalene
from capplan.profiles.speedscope import SCHEMA, parse_speedscope

__all__ = ["Format", "decode_json", "detect_format", "load_profile", "load_profiles", "read_profile_file"]

Format = Literal["speedscope", "collapsed", "scalene"]


def detect_format(text: str, doc: Any = None) -> Format | None:
    """``"speedscope"``, ``"scalene"``, ``"collapsed"`` or ``None`` for JSON of another kind."""
    if doc is None:
        return "collapsed"
    if not isinstance(doc, dict):
        return None
    if doc.get("$schema") == SCHEMA or ("shared" in doc and "profiles" in doc):
        return "speedscope"
    if "elapsed_time_sec" in doc and "files" in doc:
        return "scalene"
    return None


def decode_json(text: str, source: str) -> Any:
    """The decoded JSON of a profile file's text; :class:`ProfileError` with line and column."""
    return load_json(text, source, ProfileError)


def read_profile_file(path: str | os.PathLike[str], caller: str = "load_profile") -> tuple[str, str]:
    """``(source, text)`` of a profile file; :class:`ProfileError` naming the file otherwise."""
    return read_text_source(
        path,
        is_text=lambda _s: False,
        caller=caller,
        text_label="<text>",
        expects="a path to a profile file",
        what="a profile file",
        error=ProfileError,
    )


def load_profiles(path: str | os.PathLike[str]) -> list[Profile]:
    """The profile file at ``path``, or every profile in the directory ``path`` (its files sorted by
    name, each read by :func:`load_profile`; hidden files and subdirectories skipped).

    Raises
    ------
    ProfileError
        A directory without files, or a file :func:`load_profile` refuses (naming it).
    """
    folder = Path(path)
    if not folder.is_dir():
        return [load_profile(path)]
    files = sorted(f for f in folder.iterdir() if f.is_file() and not f.name.startswith("."))
    if not files:
        raise ProfileError(f"{folder}: a directory without profile files")
    return [load_profile(f) for f in files]


def load_profile(
    path: str | os.PathLike[str], *, format: Format | None = None, rate: float | None = None
) -> Profile:
    """Read a py-spy speedscope JSON, py-spy raw collapsed stacks or scalene JSON profile.

    Parameters
    ----------
    path : str or path-like
        The profile file.
    format : {"speedscope", "collapsed", "scalene"}, optional
        Skip detection. Otherwise a file whose first character is ``{`` is JSON (speedscope
        when it has ``$schema``/``shared``+``profiles``, scalene when it has
        ``elapsed_time_sec``+``files``) and anything else is collapsed stacks.
    rate : float, optional
        Samples per second of a collapsed-stacks file (the format does not record it; py-spy's
        default, 100, is assumed otherwise). Ignored for JSON, which records time.

    Returns
    -------
    Profile
        Fully validated; nothing is returned for a file with any malformed part.

    Raises
    ------
    ProfileError
        One message naming the file and the line (raw, invalid JSON) or key (JSON) at fault:
        missing or unreadable file, truncated or foreign JSON, an empty profile, a malformed line.
    """
    source, text = read_profile_file(path)
    if format not in (None, "speedscope", "collapsed", "scalene"):
        raise ProfileError(f"format must be 'speedscope', 'collapsed' or 'scalene', got {format!r}")
    if not text.strip():
        raise ProfileError(f"{source}: empty profile (the file is empty)")
    is_json = text.lstrip().startswith(("{", "["))
    if format == "collapsed" or (format is None and not is_json):
        return parse_collapsed(text, source, rate=rate)
    doc = decode_json(text, source)
    kind = format or detect_format(text, doc)
    if kind is None or not isinstance(doc, dict):
        keys = sorted(doc)[:6] if isinstance(doc, dict) else type(doc).__name__
        raise ProfileError(
            f"{source}: JSON that is neither speedscope (py-spy -f speedscope) nor scalene "
            f"(scalene run -o file.json); found top-level {keys}"
        )
    if kind == "speedscope":
        return parse_speedscope(doc, source)
    return parse_scalene(doc, source)
