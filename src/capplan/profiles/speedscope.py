"""Read speedscope JSON (``py-spy record -f speedscope``) into a :class:`Profile`.

Format (speedscope's ``file-format-spec.ts``, https://github.com/jlfwong/speedscope): a top
level object with ``$schema`` = ``https://www.speedscope.app/file-format-schema.json``,
``shared.frames`` (``{name, file?, line?, col?}``) and ``profiles``. A *sampled* profile has
``samples`` (each a list of frame indices, root first) and parallel ``weights`` in ``unit``;
an *evented* profile has ``events`` ``{type: "O"|"C", at, frame}`` that open and close frames
in balanced order. py-spy writes one sampled profile per thread, named
``Thread <tid> "<name>"`` (``Process <pid> Thread <tid> "<name>"`` with ``--subprocesses``), with
every weight equal to the sampling interval in seconds. Thread labels become ``<name> (<tid>)``,
``thread (<tid>)`` when unnamed, prefixed ``process <pid>/`` for subprocesses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from capplan._strict import finite_json_number
from capplan.profiles._common import ProfileError
from capplan.profiles.frames import Frame
from capplan.profiles.model import Profile

__all__ = ["SCHEMA", "parse_speedscope"]

SCHEMA = "https://www.speedscope.app/file-format-schema.json"
_UNITS = {"seconds": 1.0, "milliseconds": 1e-3, "microseconds": 1e-6, "nanoseconds": 1e-9}
_PYSPY_THREAD = re.compile(r'^(?:Process (\d+) )?Thread (\d+) "(.*)"$')

Entry = tuple[str, Sequence[Frame], float, float]


def _thread_label(name: str) -> str:
    m = _PYSPY_THREAD.match(name)
    if not m:
        return name
    pid, tid, thread = m.groups()
    label = f"{thread} ({tid})" if thread else f"thread ({tid})"
    return f"process {pid}/{label}" if pid else label


def _number(value: Any, where: str) -> float:
    return finite_json_number(value, where, ProfileError)


def _frames(doc: dict[str, Any], source: str) -> list[Frame]:
    shared = doc.get("shared")
    raw = shared.get("frames") if isinstance(shared, dict) else None
    if not isinstance(raw, list):
        raise ProfileError(f"{source}: shared.frames: missing or not a list")
    out = []
    for i, fr in enumerate(raw):
        where = f"{source}: shared.frames[{i}]"
        if not isinstance(fr, dict) or not isinstance(fr.get("name"), str):
            raise ProfileError(f"{where}: expected an object with a string 'name', got {fr!r}")
        file = fr.get("file") or ""
        line = fr.get("line")
        if not isinstance(file, str) or not (line is None or (isinstance(line, int) and line >= 0)):
            raise ProfileError(f"{where}: 'file' must be a string and 'line' an integer, got {fr!r}")
        out.append(Frame.make(fr["name"], file, line))
    return out


def _stack(indices: Any, frames: list[Frame], where: str) -> list[Frame]:
    if not isinstance(indices, list):
        raise ProfileError(f"{where}: expected a list of frame indices, got {indices!r}")
    if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in indices):
        raise ProfileError(f"{where}: frame indices must be non-negative integers")
    try:
        return [frames[i] for i in indices]
    except IndexError:
        raise ProfileError(f"{where}: frame index out of range (there are {len(frames)} frames)") from None


def _sampled(
    prof: dict[str, Any], frames: list[Frame], scale: float, thread: str, where: str
) -> tuple[list[Entry], set[float]]:
    """Entries per distinct stack (weights summed, samples counted) and the distinct weights."""
    samples, weights = prof.get("samples"), prof.get("weights")
    if not isinstance(samples, list) or not isinstance(weights, list) or len(samples) != len(weights):
        raise ProfileError(f"{where}: 'samples' and 'weights' must be lists of equal length")
    acc: dict[tuple[int, ...], list[float]] = {}
    distinct: set[float] = set()
    for k, (indices, weight) in enumerate(zip(samples, weights, strict=True)):
        if type(weight) not in (float, int) or not 0 <= weight < float("inf"):
            finite_json_number(weight, f"{where}.weights[{k}]", ProfileError, nonnegative=True)
        try:
            key = tuple(indices)
            slot = acc.get(key)
        except TypeError:  # not a list, or holding lists or objects (unhashable)
            raise ProfileError(
                f"{where}.samples[{k}]: expected a list of frame indices, got {indices!r}"
            ) from None
        if slot is None:
            _stack(indices, frames, f"{where}.samples[{k}]")  # validate each distinct stack once
            slot = acc[key] = [0.0, 0.0]
        slot[0] += weight
        slot[1] += 1.0
        distinct.add(weight)
    # py-spy writes an empty stack for a sample with no Python frame (process exiting): kept with
    # no frames here and counted as dropped by the caller
    entries: list[Entry] = [(thread, [frames[i] for i in key], w * scale, n) for key, (w, n) in acc.items()]
    return entries, {round(w * scale, 12) for w in distinct}


def _evented(prof: dict[str, Any], frames: list[Frame], scale: float, thread: str, where: str) -> list[Entry]:
    """Time between consecutive events is charged to the stack open in between."""
    events = prof.get("events")
    if not isinstance(events, list):
        raise ProfileError(f"{where}: 'events' must be a list")
    open_stack: list[int] = []
    last: float | None = None
    out: list[Entry] = []
    for k, ev in enumerate(events):
        here = f"{where}.events[{k}]"
        if not isinstance(ev, dict) or ev.get("type") not in ("O", "C"):
            raise ProfileError(f"{here}: expected {{type: 'O'|'C', at, frame}}, got {ev!r}")
        at = _number(ev.get("at"), f"{here}.at")
        idx = ev.get("frame")
        if not isinstance(idx, int) or isinstance(idx, bool) or not 0 <= idx < len(frames):
            raise ProfileError(f"{here}.frame: not a valid frame index: {idx!r}")
        if last is not None:
            if at < last:
                raise ProfileError(f"{here}.at: events go back in time ({at} < {last})")
            if open_stack and at > last:
                out.append((thread, [frames[i] for i in open_stack], (at - last) * scale, 1.0))
        last = at
        if ev["type"] == "O":
            open_stack.append(idx)
        elif not open_stack or open_stack[-1] != idx:
            raise ProfileError(f"{here}: closes frame {idx} which is not the innermost open frame")
        else:
            open_stack.pop()
    if open_stack:
        raise ProfileError(f"{where}: {len(open_stack)} frame(s) never closed (truncated profile?)")
    return out


def parse_speedscope(doc: dict[str, Any], source: str) -> Profile:
    """Convert a decoded speedscope document into a :class:`Profile` (weights to seconds).

    Raises
    ------
    ProfileError
        Naming the file and the key (``profiles[0].weights[12]``) of the first problem; also
        for a weight unit that is not time (``bytes``, ``none``) and for an empty profile.
    """
    frames = _frames(doc, source)
    profiles = doc.get("profiles")
    if not isinstance(profiles, list) or not profiles:
        raise ProfileError(f"{source}: profiles: missing or empty (no samples)")
    entries: list[Entry] = []
    intervals: set[float] = set()
    duration = 0.0
    for p, prof in enumerate(profiles):
        where = f"{source}: profiles[{p}]"
        if not isinstance(prof, dict):
            raise ProfileError(f"{where}: expected an object, got {type(prof).__name__}")
        unit = prof.get("unit")
        if not isinstance(unit, str) or unit not in _UNITS:
            raise ProfileError(f"{where}.unit: must be a time unit {sorted(_UNITS)}, got {unit!r}")
        scale = _UNITS[unit]
        thread = _thread_label(str(prof.get("name", f"profile {p}")))
        kind = prof.get("type")
        if kind == "sampled":
            got, weights = _sampled(prof, frames, scale, thread, where)
            intervals.update(weights)
        elif kind == "evented":
            got = _evented(prof, frames, scale, thread, where)
        else:
            raise ProfileError(f"{where}.type: must be 'sampled' or 'evented', got {kind!r}")
        entries.extend(got)
        if "startValue" in prof and "endValue" in prof:
            span = _number(prof["endValue"], f"{where}.endValue") - _number(
                prof["startValue"], f"{where}.startValue"
            )
            duration = max(duration, span * scale)
    exporter = str(doc.get("exporter", ""))
    tool = "py-spy" if exporter.startswith("py-spy") else (exporter.split("@", maxsplit=1)[0] or "speedscope")
    if not entries:
        raise ProfileError(f"{source}: empty profile (no samples)")
    # py-spy weighs every sample by the sampling interval: one distinct weight is the interval
    interval = next(iter(intervals)) if len(intervals) == 1 else None
    dropped = sum(n for _, s, _, n in entries if not s)
    entries = [e for e in entries if e[1]]
    if not entries:
        raise ProfileError(f"{source}: empty profile (no sample has a stack)")
    return Profile.from_samples(
        entries,
        dropped_samples=dropped,
        tool=tool,
        source=source,
        sampling_interval=interval if interval else None,
        duration_s=duration or None,
    )
