"""Run a real profiler (py-spy or scalene) on a command and load what it wrote."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from capplan.errors import CapplanError, ParameterError
from capplan.profiles.detect import load_profile
from capplan.profiles.model import Profile

__all__ = ["ProfilerError", "profiler_command", "record"]

Tool = Literal["py-spy", "scalene"]


class ProfilerError(CapplanError, RuntimeError):
    """The profiler is missing, failed, or wrote no profile."""


def _executable(name: str) -> str:
    """The tool next to this interpreter (a virtualenv's ``bin/``), else on ``PATH``."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise ProfilerError(f"{name} is not installed (pip install {name}); it is needed to record")
    return found


def _is_python(arg: str) -> bool:
    name = Path(arg).name
    return name.startswith("python") or arg == sys.executable


def profiler_command(
    command: Sequence[str],
    out: str | os.PathLike[str],
    *,
    tool: Tool = "py-spy",
    fmt: Literal["speedscope", "raw"] = "speedscope",
    rate: float = 100.0,
    threads: bool = False,
    native: bool = False,
    idle: bool = False,
) -> list[str]:
    """The argument list that records ``command`` with ``tool`` into ``out``.

    py-spy: ``py-spy record -o OUT -f FMT -r RATE [--threads] [--native] [--idle] -- COMMAND``.
    scalene profiles Python programs only: ``COMMAND`` must be ``python script.py args`` or
    ``python -m module args``, run as ``scalene run --cpu-only -o OUT script.py --- args``
    (scalene runs it under its own interpreter; ``rate`` becomes ``--cpu-sampling-rate 1/rate``).
    """
    cmd = list(command)
    if not cmd or not all(isinstance(c, str) and c for c in cmd):
        raise ParameterError(f"command must be a non-empty list of strings, got {command!r}")
    if not rate > 0:
        raise ParameterError(f"rate must be positive, got {rate!r}")
    if tool == "py-spy":
        args = [_executable("py-spy"), "record", "-o", str(out), "-f", fmt, "-r", f"{rate:g}"]
        args += [flag for flag, on in (("--threads", threads), ("--native", native), ("--idle", idle)) if on]
        return [*args, "--", *cmd]
    if tool == "scalene":
        if not _is_python(cmd[0]) or len(cmd) < 2:
            raise ParameterError(
                f"scalene profiles Python programs: command must be 'python script.py ...' or "
                f"'python -m module ...', got {' '.join(cmd)!r}"
            )
        program, rest = (cmd[1:3], cmd[3:]) if cmd[1] == "-m" else (cmd[1:2], cmd[2:])
        args = [_executable("scalene"), "run", "--cpu-only", "-o", str(out)]
        args += ["--cpu-sampling-rate", f"{1.0 / rate:g}", *program]
        return [*args, "---", *rest] if rest else args
    raise ParameterError(f"tool must be 'py-spy' or 'scalene', got {tool!r}")


def record(
    command: Sequence[str],
    *,
    tool: Tool = "py-spy",
    out: str | os.PathLike[str] | None = None,
    fmt: Literal["speedscope", "raw"] = "speedscope",
    rate: float = 100.0,
    threads: bool = False,
    native: bool = False,
    idle: bool = False,
    timeout: float | None = None,
    quiet: bool = False,
    env: dict[str, str] | None = None,
) -> Profile:
    """Profile ``command`` with py-spy or scalene and return the loaded :class:`Profile`.

    Parameters
    ----------
    command : sequence of str
        The program to run, e.g. ``["python", "app.py"]``.
    tool : {"py-spy", "scalene"}
        Profiler. py-spy samples any process from outside (needs ptrace rights: root or
        ``CAP_SYS_PTRACE``); scalene runs Python programs under its own interpreter.
    out : path, optional
        Where to keep the profile file (a temporary file, deleted after loading, otherwise).
    fmt : {"speedscope", "raw"}
        py-spy output format (scalene always writes its JSON).
    rate : float
        Samples per second.
    threads, native, idle : bool
        py-spy ``--threads``, ``--native``, ``--idle``.
    timeout : float, optional
        Seconds before the run is abandoned (:class:`ProfilerError`).
    quiet : bool
        Capture the program's and profiler's output instead of passing it through.

    Raises
    ------
    ProfilerError
        The profiler is missing, exits with an error, times out, or writes no profile.
    """
    with tempfile.TemporaryDirectory(prefix="capplan-profile-") as tmp:
        suffix = ".txt" if tool == "py-spy" and fmt == "raw" else ".json"
        target = Path(out) if out is not None else Path(tmp) / f"profile{suffix}"
        args = profiler_command(
            command, target, tool=tool, fmt=fmt, rate=rate, threads=threads, native=native, idle=idle
        )
        if target.exists():
            target.unlink()
        try:
            done = subprocess.run(
                args,
                capture_output=quiet,
                text=True,
                timeout=timeout,
                check=False,
                env=None if env is None else {**os.environ, **env},
            )
        except subprocess.TimeoutExpired:
            raise ProfilerError(f"{tool}: {' '.join(command)!r} did not finish in {timeout} s") from None
        if done.returncode != 0 or not target.exists():
            tail = (done.stderr or "")[-800:] if quiet else "(see its output above)"
            raise ProfilerError(
                f"{tool} exited with status {done.returncode}"
                f"{'' if target.exists() else ' and wrote no profile'}: {tail}"
            )
        return load_profile(target, rate=rate if fmt == "raw" else None)
