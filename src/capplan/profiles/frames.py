"""Stack frames, and matching frames by ``"module:function"`` keys."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from capplan.profiles._common import NATIVE_FILE, ProfileError, module_of

__all__ = ["IDLE_FUNCTIONS", "Frame", "frame_matcher"]

#: Leaf functions that mean "waiting, not computing" (py-spy ``--idle`` samples, blocked threads).
IDLE_FUNCTIONS = re.compile(
    r"^(wait|_wait_for_tstate_lock|acquire|select|poll|epoll|kqueue|control|sleep|accept|recv|"
    r"recv_into|recvfrom|read|readinto|readline|get|join|_worker|serve_forever|"
    r"__GI___poll|epoll_wait|__select|pthread_cond_(timed)?wait|__futex_abstimed_wait.*|"
    r"futex_wait.*|nanosleep|clock_nanosleep|__libc_recv|__libc_read|sem_wait|do_futex_wait.*)$"
)


@dataclass(frozen=True, order=True)
class Frame:
    """One stack frame: function name, file (as the profiler wrote it) and line (or ``None``).

    For py-spy the line is the line executing when the sample was taken, so one function can
    appear with several lines; functions are identified by ``(function, file)``.
    ``native`` marks a frame in a shared library (``--native`` stacks, scalene native frames).
    """

    function: str
    file: str
    line: int | None = None
    native: bool = False

    @property
    def module(self) -> str:
        """Dotted module name derived from the file (see :func:`capplan.profiles.module_of`)."""
        return module_of(self.file)

    @staticmethod
    def make(function: str, file: str, line: int | None) -> Frame:
        """A frame whose ``native`` flag follows from the file name (``.so``, ``.dylib``...)."""
        return Frame(function, file, line, bool(NATIVE_FILE.search(file)) and line is None)


def frame_matcher(key: str) -> Callable[[Frame], bool]:
    """Predicate for ``"module:function"``, ``"function"`` or ``"module:"`` keys.

    The function part matches the frame's name exactly or as the last dotted component of a
    qualified name (``"exec_module"`` matches ``_LoaderBasics.exec_module``). The module part
    matches the frame's module or a dotted suffix of it (``"workload"`` and
    ``"capplan.demo.workload"`` both match ``capplan/demo/workload.py``).
    """
    if not isinstance(key, str) or not key.strip(":").strip():
        raise ProfileError(f"function key must be 'module:function' or 'function', got {key!r}")
    module, sep, function = key.rpartition(":")
    module, function = module.strip(), function.strip()

    def matches(frame: Frame) -> bool:
        if function and frame.function != function and not frame.function.endswith("." + function):
            return False
        if sep and module:
            mod = frame.module
            return mod == module or mod.endswith("." + module)
        return True

    return matches
