"""Pieces shared by the subcommands: ``NAME=VALUE`` options, durations, and the error exit."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

from capplan.errors import CapplanError
from capplan.units import parse_duration

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_MISS",
    "EXIT_OK",
    "class_values",
    "deferred",
    "error",
    "positive_duration",
]

EXIT_OK = 0
#: ``capplan check``: the plan or measurement misses the SLA.
EXIT_MISS = 1
#: Bad input (a file, an option): one line on stderr says what.
EXIT_BAD_INPUT = 2

T = TypeVar("T")

#: Exceptions that mean "bad input" (every capplan error is a ValueError).
INPUT_ERRORS = (CapplanError, ValueError, KeyError, OSError, argparse.ArgumentTypeError)


def error(exc: BaseException) -> int:
    """Print ``capplan: error: ...`` (one line, no traceback) and return :data:`EXIT_BAD_INPUT`."""
    if isinstance(exc, KeyError) and exc.args:
        message = str(exc.args[0])
    elif isinstance(exc, OSError) and exc.filename:
        message = f"{exc.filename}: {exc.strerror}"
    else:
        message = str(exc)
    print(f"capplan: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def positive_duration(text: str) -> float:
    """A duration string (``25ms``) that must be > 0, in seconds."""
    seconds = parse_duration(text)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"service time {text!r} must be positive")
    return seconds


def class_values(values: Sequence[str] | None, flag: str, convert: Callable[[str], T]) -> dict[str, T]:
    """``["critical_operations=20ms", ...]`` -> ``{"critical_operations": convert("20ms")}``."""
    out: dict[str, T] = {}
    for item in values or ():
        name, sep, text = item.partition("=")
        if not sep or not name.strip() or not text.strip():
            raise argparse.ArgumentTypeError(f"{flag} {item!r}: expected CLASS=VALUE")
        out[name.strip()] = convert(text.strip())
    return out


def deferred(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """A subcommand's run function ``module.name``, imported when the command runs.

    The parsers are declared in light modules, so ``capplan --help`` and ``capplan CMD --help``
    start in a blink; a command's models (pandas, SciPy, numba, matplotlib) load only to run it.
    """

    def run(args: argparse.Namespace) -> int:
        status: int = getattr(importlib.import_module(module), name)(args)
        return status

    return run
