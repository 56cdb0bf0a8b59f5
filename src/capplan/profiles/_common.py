"""Pieces shared by the profile readers: the error type, frame kinds and module names."""

from __future__ import annotations

import re
from functools import lru_cache

from capplan.errors import CapplanError

__all__ = ["NATIVE_FILE", "ProfileError", "module_of"]


class ProfileError(CapplanError, ValueError):
    """A profile file is malformed, empty or of an unknown kind; the message names file and line/key."""


#: A frame's file that is a shared library (native frame), e.g. ``libc.so.6``, ``x.cpython-311.so``.
NATIVE_FILE = re.compile(r"\.(so|dylib|dll|pyd)(\.[0-9]+)*$|^\[.*\]$")

_PY_LIB = re.compile(r"/lib/python3(\.[0-9]+)?/")
_FROZEN = re.compile(r"^<frozen ([^>]+)>$")


@lru_cache(maxsize=65536)
def module_of(file: str) -> str:
    """The importable module a frame's file belongs to, as far as the path tells.

    py-spy writes paths relative to the profiled process's ``sys.path``
    (``capplan/demo/workload.py``); scalene writes absolute paths. Both map to the same dotted
    name: the part after the last ``site-packages/``/``dist-packages/``, ``lib/python3.x/`` or
    ``src/`` directory, else the relative path; an absolute path with none of those gives its
    file stem (a script is module ``app`` whether it was run from ``/srv/app.py`` or ``app.py``).
    ``<frozen importlib._bootstrap>`` is ``importlib._bootstrap``; a shared library is its name
    up to ``.so`` / ``.cpython-...``.
    """
    frozen = _FROZEN.match(file)
    if frozen:
        return frozen.group(1)
    if file.startswith("<") or not file:
        return file
    path = file.replace("\\", "/")
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in path:
            path = path.rsplit(marker, 1)[1]
            break
    else:
        lib = list(_PY_LIB.finditer(path))
        if lib:
            path = path[lib[-1].end() :]
        elif "/src/" in path:
            path = path.rsplit("/src/", 1)[1]
        elif path.startswith("/"):
            path = path.rsplit("/", 1)[1]
    if NATIVE_FILE.search(path):
        stem = path.split(".so")[0].split(".cpython-")[0].split(".dylib")[0].split(".dll")[0]
        return stem.rsplit(".pyd", 1)[0].replace("/", ".")
    if path.endswith(".py"):
        path = path[:-3]
    if path.endswith("/__init__"):
        path = path[: -len("/__init__")]
    return path.strip("/").replace("/", ".")
