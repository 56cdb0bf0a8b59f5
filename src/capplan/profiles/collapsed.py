"""Read collapsed ("folded") stacks, as ``py-spy record -f raw`` writes them, into a :class:`Profile`.

One line per distinct stack: frames root first, separated by ``;``, a space, then the number of
samples (Brendan Gregg's ``stackcollapse`` format). py-spy writes a frame as
``function (file:line)``; with ``--native`` also ``0x7f.. (libc.so.6)`` or
``function (libpython3.11.so.1.0)`` (no line); with ``--threads`` the first frame is
``thread (<tid>): <name>``; with ``--subprocesses`` ``process <pid>:"<cmdline>"`` frames (parent
first) come before it. The thread label is then ``process <pid>/<thread>``. Plain names
without ``(file)`` (other stack collapsers) are accepted too.

The file does not record the sampling rate: give ``rate`` (py-spy's default is 100 samples per
second, which is assumed, and noted on the profile, when it is not given).
"""

from __future__ import annotations

import re

from capplan._strict import ascii_count
from capplan.profiles._common import ProfileError
from capplan.profiles.frames import Frame
from capplan.profiles.model import Profile

__all__ = ["PYSPY_DEFAULT_RATE", "parse_collapsed"]

#: py-spy's default sampling rate (``--rate``), samples per second.
PYSPY_DEFAULT_RATE = 100.0

_THREAD = re.compile(r"^thread \(([^)]*)\)(?::\s?(.*))?$")
_PROCESS = re.compile(r"^process[ (]?(\d+)\)?:?\s*(.*)$")


def _frame(text: str, where: str) -> Frame:
    if not text:
        raise ProfileError(f"{where}: empty frame name")
    if text.endswith(")") and " (" in text:
        name, inner = text[:-1].rsplit(" (", 1)
        file, sep, line = inner.rpartition(":")
        number = ascii_count(line) if sep else None
        if number is not None:
            return Frame.make(name, file, number)
        return Frame.make(name, inner, None)
    return Frame.make(text, "", None)


def parse_collapsed(text: str, source: str, *, rate: float | None = None) -> Profile:
    """Parse collapsed stacks; each line's count becomes ``count / rate`` seconds.

    Raises
    ------
    ProfileError
        ``"<file>:<line>: ..."`` for the first malformed line (no count, a count that is not a
        positive integer, an empty frame); ``"<file>: empty profile"`` when there are no lines.
    """
    notes: list[str] = []
    if rate is None:
        rate = PYSPY_DEFAULT_RATE
        notes.append(f"the raw format does not record the sampling rate: assumed py-spy's default {rate:g}/s")
    elif not (isinstance(rate, (int, float)) and rate > 0 and rate != float("inf")):
        raise ProfileError(f"rate must be a positive number of samples per second, got {rate!r}")
    interval = 1.0 / float(rate)
    entries: list[tuple[str, list[Frame], float, float]] = []
    skipped = 0
    for lineno, raw_line in enumerate(text.splitlines(), start=1):
        where = f"{source}:{lineno}"
        line = raw_line.rstrip()
        if not line:
            continue
        stack_text, sep, count_text = line.rpartition(" ")
        if not sep:
            raise ProfileError(f"{where}: expected 'frame;frame;... COUNT', got {line[:80]!r}")
        count = ascii_count(count_text)
        if not count:
            raise ProfileError(
                f"{where}: sample count must be a positive integer of ASCII digits up to 2**53, "
                f"got {count_text[:40]!r}"
            )
        if not stack_text.strip():  # py-spy: samples with no Python frame (the process exiting)
            skipped += count
            continue
        parts = stack_text.split(";")
        thread, process = "all", ""
        while parts:  # leading labels: process(es) (parent first), then the thread
            m_thread, m_proc = _THREAD.match(parts[0]), _PROCESS.match(parts[0])
            if m_thread:
                tid, name = m_thread.groups()
                thread = f"{name} ({tid})" if name else f"thread ({tid})"
            elif m_proc and parts[0].startswith("process"):
                process = f"process {m_proc.group(1)}/"
            else:
                break
            parts.pop(0)
        if process:
            thread = process + ("all" if thread == "all" else thread)
        if not parts:  # a thread label alone: a sample with no Python frame
            skipped += count
            continue
        frames = [_frame(p, where) for p in parts]
        entries.append((thread, frames, count * interval, float(count)))
    if not entries:
        raise ProfileError(f"{source}: empty profile (no stack lines)")
    if skipped:
        notes.append(f"{skipped} samples with an empty stack were left out")
    return Profile.from_samples(
        entries,
        tool="py-spy",
        source=source,
        sampling_interval=interval,
        notes=notes,
        dropped_samples=float(skipped),
    )
