"""Stack frames, and matching frames by ``"module:function"`` keys."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from capplan.profiles._common import NATIVE_FILE, ProfileError, module_of

__all__ = ["IDLE_FUNCTIONS", "Frame", "frame_matcher", "is_idle"]

#: ``module:function`` of leaf frames that wait rather than compute: a Python frame blocked in
#: the standard library (py-spy shows the Python caller of the blocking C call), or a native
#: frame of a blocking system call (``--native``). Matched against the leaf frame only.
IDLE_FUNCTIONS = re.compile(
    r"^(threading:(\w+\.)?(wait|_wait_for_tstate_lock|join)"
    r"|selectors:(\w+\.)?select"
    r"|socket:(\w+\.)?(accept|recv\w*|_recv\w*|read\w*)"
    r"|socketserver:(\w+\.)?serve_forever"
    r"|queue:(\w+\.)?get"
    r"|ssl:(\w+\.)?(read|recv\w*)"
    r"|subprocess:(\w+\.)?(wait|_wait|communicate|_try_wait)"
    r"|multiprocessing\.[\w.]+:(\w+\.)?(wait|poll|_poll|recv\w*|_recv\w*|accept)"
    r"|concurrent\.futures\.[\w.]+:(\w+\.)?(_worker|result|wait)"
    r"|asyncio\.[\w.]+:(\w+\.)?(select|_run_once)"
    r"|[\w.]*:(epoll_wait|__GI___poll|poll|__select|select|accept4?|__libc_recv|recv|__libc_read"
    r"|pthread_cond_(timed)?wait|__futex_abstimed_wait\w*|futex_wait\w*|do_futex_wait\w*"
    r"|nanosleep|clock_nanosleep|__GI___clock_nanosleep|sem_wait|sem_timedwait))$"
)


def is_idle(frame: Frame) -> bool:
    """Whether a leaf frame is waiting (see :data:`IDLE_FUNCTIONS`): a heuristic, by name."""
    return bool(IDLE_FUNCTIONS.match(f"{frame.module}:{frame.function}"))


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
