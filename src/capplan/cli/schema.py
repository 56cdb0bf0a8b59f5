"""``capplan schema sla|plan|hpa|overload [--out FILE]``: the JSON Schema of a file kind, for editors.

The schemas are those the loaders check files against (:mod:`capplan.schema`); an editor's YAML
language server reads them to complete keys, show each key's unit and range, and flag misspelt
keys as you type (README, "Editor support").
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from capplan.cli._common import EXIT_OK, INPUT_ERRORS, error

__all__ = ["add_parser", "run"]

#: The file kinds (keys of :data:`capplan.schema.KINDS`, kept here so ``--help`` imports nothing).
KINDS = ("sla", "plan", "hpa", "overload")


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    p = sub.add_parser(
        "schema",
        help="print the JSON Schema of an input file kind (for an editor's YAML language server)",
        description="Print the JSON Schema of the SLA, plan-inputs, HPA manifest or overload files: "
        "every key, its type, unit and valid range. The committed copies are schemas/*.schema.json.",
    )
    p.add_argument(
        "kind",
        choices=KINDS,
        help="sla, plan (plan-inputs file), hpa (autoscaling/v2 HPA) or overload (the plan's "
        "overload section in a file of its own)",
    )
    p.add_argument("--out", metavar="FILE", help="write it to FILE (atomically) instead of printing it")
    p.set_defaults(run=run)


def _write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's file is private; the schema is not
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(args: argparse.Namespace) -> int:
    """Print or write the schema."""
    from capplan.schema import json_schema  # noqa: PLC0415 - pydantic loads only to run it

    text = json_schema(args.kind)
    if args.out is None:
        print(text, end="")
        return EXIT_OK
    try:
        _write(Path(args.out), text)
    except INPUT_ERRORS as exc:
        return error(exc)
    return EXIT_OK
