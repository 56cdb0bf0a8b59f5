"""Read scalene JSON (``scalene run -o profile.json``, scalene 2.x) into a :class:`Profile`.

What the file holds (read from scalene 2.4.0 output) and how it is interpreted:

* ``elapsed_time_sec``: wall-clock length of the run.
* ``files[path].functions[]``: per function (``line`` is the *name*, ``lineno`` the ``def``
  line) ``n_cpu_percent_python`` and ``n_cpu_percent_c`` — **percent of the elapsed wall
  time**, not of CPU time, and **self** time (a caller's figure excludes its callees). Seconds
  are ``percent / 100 * elapsed_time_sec``; their sum over all functions is the CPU time
  scalene attributes to the profiled code, :math:`T`.
* Lines and functions under ``--cpu-percent-threshold`` (default 1 %) are dropped from the
  report, so :math:`T` is a lower bound on the profiled code's CPU time.
* ``stacks[]``: ``[[ "path function:line;", ...root first ], {count, cpu_samples,
  python_time, c_time}]``. ``count`` is a number of samples; ``cpu_samples`` is **normalised**
  (the weights of all stacks sum to 1). A stack's seconds are ``cpu_samples * T``, which keeps
  the profile's total equal to scalene's own total while taking the call structure (and so the
  inclusive times, which the function table cannot give) from the sampled stacks.
* Without stacks (``--no-stacks``) each reported function becomes a one-frame stack with its
  self time; inclusive times are then unknown (equal to self).

Stacks hold only frames of profiled files (the program's, unless ``--profile-all``); scalene does
not record threads per stack, so every stack is in thread ``"all"``.

Paths: scalene writes absolute paths; py-spy writes them relative to the profiled process's
``sys.path`` entry. Files under the program's root — the script's directory, or for
``python -m pkg.mod`` the directory holding ``pkg`` — are made relative to it, as py-spy would
print them, so the two tools' profiles of one program name the same functions alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

from capplan._strict import finite_json_number
from capplan.profiles._common import ProfileError
from capplan.profiles.frames import Frame
from capplan.profiles.model import Profile

__all__ = ["SCALENE_DEFAULT_INTERVAL", "parse_scalene", "scalene_functions"]

#: scalene's default CPU sampling interval (``--cpu-sampling-rate``), seconds.
SCALENE_DEFAULT_INTERVAL = 0.01


def _num(value: Any, where: str) -> float:
    return finite_json_number(value, where, ProfileError, nonnegative=True)


def scalene_functions(doc: dict[str, Any], source: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(where, path, entry)`` for every ``files[path].functions[k]`` entry of scalene JSON, each
    checked to be an object with the function's name in ``line``; ``where`` names it for errors."""
    files = doc.get("files")
    if not isinstance(files, dict):
        raise ProfileError(f"{source}: files: missing or not an object")
    for path, entry in files.items():
        here = f"{source}: files[{path!r}]"
        funcs = entry.get("functions") if isinstance(entry, dict) else None
        if not isinstance(funcs, list):
            raise ProfileError(f"{here}.functions: missing or not a list")
        for k, fn in enumerate(funcs):
            at = f"{here}.functions[{k}]"
            if not isinstance(fn, dict) or not isinstance(fn.get("line"), str):
                raise ProfileError(f"{at}: expected an object with the function name in 'line'")
            yield at, str(path), fn


def _functions(doc: dict[str, Any], source: str) -> list[tuple[str, str, int | None, float]]:
    """``(name, file, def line, self percent of wall time)`` for every reported function."""
    out = []
    for at, path, fn in scalene_functions(doc, source):
        lineno = fn.get("lineno")
        if lineno is not None and (not isinstance(lineno, int) or isinstance(lineno, bool)):
            raise ProfileError(f"{at}.lineno: expected an integer, got {lineno!r}")
        pct = _num(fn.get("n_cpu_percent_python"), f"{at}.n_cpu_percent_python") + _num(
            fn.get("n_cpu_percent_c"), f"{at}.n_cpu_percent_c"
        )
        out.append((fn["line"], path, lineno, pct))
    return out


def _program_root(doc: dict[str, Any]) -> str | None:
    """Directory the program's imports are relative to (``sys.path[0]`` for a script)."""
    program, args = doc.get("program"), doc.get("args")
    if not isinstance(program, str) or not program.startswith("/"):
        return None
    path = PurePosixPath(program)
    if isinstance(args, list) and len(args) >= 2 and args[0] == "-m" and isinstance(args[1], str):
        parts = args[1].split(".")
        tail = [*parts[:-1], parts[-1] + ".py"]
        if path.name in {"__main__.py", "__init__.py"}:
            tail = [*parts, path.name]
        if list(path.parts[-len(tail) :]) == tail:
            return str(PurePosixPath(*path.parts[: -len(tail)]))
    return str(path.parent)


def _relative(path: str, root: str | None) -> str:
    if root and path.startswith(root.rstrip("/") + "/"):
        return path[len(root.rstrip("/")) + 1 :]
    return path


def _frame(text: Any, where: str) -> Frame:
    if not isinstance(text, str):
        raise ProfileError(f"{where}: expected 'path function:line;', got {text!r}")
    body = text.rstrip(";").strip()
    path, sep, rest = body.rpartition(" ")
    name, colon, line = rest.rpartition(":")
    if not sep or not colon or not line.isdigit() or not name:
        raise ProfileError(f"{where}: expected 'path function:line;', got {text!r}")
    return Frame.make(name, path, int(line))


def parse_scalene(doc: dict[str, Any], source: str) -> Profile:
    """Convert a decoded scalene JSON document into a :class:`Profile` (see the module notes).

    Raises
    ------
    ProfileError
        Naming the file and key (``files['app.py'].functions[2].n_cpu_percent_c``) of the first
        problem, or ``empty profile`` when scalene reported no CPU time.
    """
    elapsed = _num(doc.get("elapsed_time_sec"), f"{source}: elapsed_time_sec")
    root = _program_root(doc)
    functions = [
        (name, _relative(path, root), line, pct) for name, path, line, pct in _functions(doc, source)
    ]
    total = sum(pct for *_, pct in functions) / 100.0 * elapsed
    if not total > 0:
        raise ProfileError(f"{source}: empty profile (scalene reported no CPU time above its threshold)")
    def_lines = {(name, path): line for name, path, line, _ in functions if line is not None}
    notes = [
        "scalene percentages are shares of wall time (seconds = percent/100 * elapsed_time_sec); "
        "functions under its --cpu-percent-threshold are not reported, so totals are lower bounds",
    ]
    stacks = doc.get("stacks", [])
    if not isinstance(stacks, list):
        raise ProfileError(f"{source}: stacks: expected a list, got {type(stacks).__name__}")
    entries: list[tuple[str, list[Frame], float, float]] = []
    weight_sum = 0.0
    for k, item in enumerate(stacks):
        where = f"{source}: stacks[{k}]"
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], list)):
            raise ProfileError(f"{where}: expected [[frames...], {{count, cpu_samples, ...}}]")
        frames_raw, stats = item
        if not frames_raw or not isinstance(stats, dict):
            raise ProfileError(f"{where}: expected a non-empty frame list and a statistics object")
        frames = [_frame(f, f"{where}[0][{j}]") for j, f in enumerate(frames_raw)]
        frames = [Frame(f.function, _relative(f.file, root), f.line, f.native) for f in frames]
        share = _num(stats.get("cpu_samples"), f"{where}[1].cpu_samples")
        count = _num(stats.get("count"), f"{where}[1].count")
        weight_sum += share
        entries.append(("all", frames, share, count))
    if entries and weight_sum > 0:
        entries = [(t, f, share / weight_sum * total, n) for t, f, share, n in entries]
    else:
        notes.append(
            "no call stacks in the file (--no-stacks): one frame per function, inclusive = self; "
            f"sample counts estimated at scalene's default {SCALENE_DEFAULT_INTERVAL:g} s interval"
        )
        entries = [
            ("all", [Frame.make(name, path, line)], pct / 100.0 * elapsed, pct / 100.0 * elapsed / 0.01)
            for name, path, line, pct in functions
            if pct > 0
        ]
    return Profile.from_samples(
        entries, tool="scalene", source=source, duration_s=elapsed, def_lines=def_lines, notes=notes
    )
