"""Timing a benchmark against another revision's code: extract that revision's ``src/`` and run the
benchmark's ``worker(repeats)`` in a fresh process with it first on ``sys.path``."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def src_tree(rev: str, into: Path) -> Path:
    """``src/`` of revision ``rev``, extracted under ``into``."""
    archive = into / "src.tar"
    with archive.open("wb") as f:
        subprocess.run(["git", "archive", rev, "src"], cwd=ROOT, stdout=f, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def run_worker(module: str, src: Path, repeats: int) -> dict[str, Any]:
    """``benchmarks/<module>.py``'s ``worker(repeats)`` run with ``src`` importing as capplan; the
    JSON object it prints last."""
    code = f"import sys; sys.path.insert(0, {str(src)!r}); sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); "
    code += f"import {module} as b; b.worker({repeats})"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
