"""Run a real profiler (py-spy or scalene) on a command and load what it wrote.

py-spy attaches to the program by its process id (``py-spy record --pid``) while this module
runs the program and waits for it, so the program's own exit status is known: a program that
fails (``python missing.py``) raises :class:`ProgramFailedError` with that status instead of
returning a profile of the interpreter's start-up.  (``py-spy record -- COMMAND`` exits 0
whatever its child's status.)  The first tens of milliseconds, before py-spy attaches, are not
sampled: interpreter start-up, not the program's work.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from capplan.errors import CapplanError, ParameterError
from capplan.profiles.detect import load_profile
from capplan.profiles.model import Profile

__all__ = ["ProfilerError", "ProgramFailedError", "profiler_command", "record"]

Tool = Literal["py-spy", "scalene"]

#: Seconds to wait for the program after py-spy has stopped before it is killed.
_GRACE_S = 5.0


class ProfilerError(CapplanError, RuntimeError):
    """The profiler is missing, failed, or wrote no profile."""


class ProgramFailedError(ProfilerError):
    """The profiled program exited with a non-zero status (``returncode``; ``-N`` for signal N)."""

    def __init__(self, message: str, returncode: int) -> None:
        super().__init__(message)
        self.returncode = returncode


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
    pid: int | None = None,
) -> list[str]:
    """The argument list that records ``command`` with ``tool`` into ``out``.

    py-spy: ``py-spy record -o OUT -f FMT -r RATE [--threads] [--native] [--idle] -- COMMAND``,
    or ``... --pid PID`` when ``pid`` (the running ``command``) is given.
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
        return [*args, "--pid", str(pid)] if pid is not None else [*args, "--", *cmd]
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
    ProgramFailedError
        The program exited with a non-zero status (``returncode`` holds it; under scalene, whose
        status is the program's, also scalene's own failures).
    ProfilerError
        The profiler is missing, exits with an error, times out, or writes no profile.
    """
    with tempfile.TemporaryDirectory(prefix="capplan-profile-") as tmp:
        suffix = ".txt" if tool == "py-spy" and fmt == "raw" else ".json"
        target = Path(out) if out is not None else Path(tmp) / f"profile{suffix}"
        build = functools.partial(
            profiler_command, fmt=fmt, rate=rate, threads=threads, native=native, idle=idle
        )
        args = build(command, target, tool=tool)  # checks the arguments
        if target.exists():
            target.unlink()
        full_env = None if env is None else {**os.environ, **env}
        if tool == "py-spy":
            done = _run_attached(list(command), target, build, timeout, quiet, full_env)
        else:
            done = _run(args, f"{tool}: {' '.join(command)!r}", timeout, quiet, full_env)
        tail = (done.stderr or "")[-800:] if quiet else "(see its output above)"
        if tool == "scalene" and done.returncode != 0:  # scalene exits with the program's status
            raise ProgramFailedError(
                f"the profiled program {' '.join(command)!r} {_describe_status(done.returncode)} under "
                f"scalene; no profile is reported: {tail}",
                done.returncode,
            )
        if done.returncode != 0 or not target.exists():
            raise ProfilerError(
                f"{tool} exited with status {done.returncode}"
                f"{'' if target.exists() else ' and wrote no profile'}: {tail}"
            )
        return load_profile(target, rate=rate if fmt == "raw" else None)


def _run(
    args: list[str], label: str, timeout: float | None, quiet: bool, env: dict[str, str] | None
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(args, capture_output=quiet, text=True, timeout=timeout, check=False, env=env)
    except subprocess.TimeoutExpired:
        raise ProfilerError(f"{label} did not finish in {timeout} s") from None


def _describe_status(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


def _run_attached(
    command: list[str],
    target: Path,
    build: Callable[..., list[str]],
    timeout: float | None,
    quiet: bool,
    env: dict[str, str] | None,
) -> subprocess.CompletedProcess[str]:
    """Start ``command``, attach py-spy to it, and wait for both; the program must succeed."""
    pipe = subprocess.PIPE if quiet else None
    try:
        program = subprocess.Popen(command, stdout=pipe, stderr=pipe, text=True, env=env)
    except OSError as exc:
        raise ProgramFailedError(f"cannot start {command[0]!r}: {exc.strerror or exc}", 127) from None
    output: list[tuple[str, str]] = []
    waiter = threading.Thread(target=lambda: output.append(program.communicate()), daemon=True)
    waiter.start()  # reaps the program as soon as it exits, so py-spy sees it gone
    killed = False
    try:
        args = build(command, target, tool="py-spy", pid=program.pid)
        done = _run(args, f"py-spy: {' '.join(command)!r}", timeout, quiet, env)
    finally:
        waiter.join(timeout=_GRACE_S)  # py-spy stops when the program exits; else it failed early
        if program.poll() is None:
            program.kill()
            killed = True
            waiter.join()
    if program.returncode != 0 and not killed:
        err = output[0][1] if output and output[0][1] else ""
        tail = f": {err[-800:]}" if err else "" if quiet else " (see its output above)"
        raise ProgramFailedError(
            f"the profiled program {' '.join(command)!r} {_describe_status(program.returncode)}; "
            f"no profile is reported{tail}",
            program.returncode,
        )
    return done
