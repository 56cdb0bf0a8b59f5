"""CPU seconds of a process and its children, from Linux ``/proc`` (no dependency); stopping a child.

Used to charge CPU to the demo service, the database and PgBouncer over a stretch of load: the
difference of two readings, divided by the requests served in between, is CPU seconds per
request (the service demand law).
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["children", "cpu_seconds", "stop_process"]


def _stat_fields(pid: int) -> list[str]:
    # the command name (field 2) may contain spaces and parentheses: split after the last ")"
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def children(pid: int) -> list[int]:
    """Pids of the live children of ``pid`` (empty when it has none or is gone)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if int(_stat_fields(int(entry))[1]) == pid:
                found.append(int(entry))
        except (OSError, IndexError, ValueError):  # gone meanwhile
            continue
    return found


def cpu_seconds(pid: int, *, tree: bool = False) -> float:
    """User + system CPU seconds of ``pid`` (all its threads).

    With ``tree=True`` also the CPU of its children: the live ones read directly, the ones that
    exited and were reaped through the parent's ``cutime``/``cstime`` (so a database backend
    that ended between two readings is still counted).  A process that is gone counts as 0.
    """
    tick = os.sysconf("SC_CLK_TCK")
    try:
        fields = _stat_fields(pid)
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if tree:
        ticks += int(fields[13]) + int(fields[14])
        total = ticks / tick
        for child in children(pid):
            total += cpu_seconds(child, tree=True)
        return total
    return ticks / tick


def stop_process(proc: subprocess.Popen[Any], sig: int = signal.SIGINT, timeout: float = 15.0) -> None:
    """Send ``sig`` to a child still running, wait ``timeout`` seconds for it, else kill it."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
