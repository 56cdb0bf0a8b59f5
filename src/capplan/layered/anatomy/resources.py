"""What a waiting stack is waiting for: the default map from modules and functions to resources.

A sample of a wall-clock profile (py-spy ``--idle``) is *waiting* when the innermost frames — the
last Python frame and the native frames under it (``--native``) — are a blocking call: a leaf
that :func:`capplan.profiles.is_idle` knows (``recv``, ``poll``, ``clock_nanosleep``,
``threading`` waits ...), or one of :data:`BLOCKING` (CPython's own blocking entry points,
such as ``time_sleep`` and ``PyThread_acquire_lock_timed``).  Every other sample is CPU.

A waiting sample goes to the first rule that matches, searched in two tiers:

1. **Libraries** (user rules first, then :data:`LIBRARIES`), over the whole stack, innermost frame
   first: a wait anywhere under ``psycopg`` is the database, under ``redis`` the cache, under
   ``httpx``/``requests``/``urllib3``/``http.client`` a downstream call.
2. **Generic** (:data:`GENERIC`), over the innermost frames only: a sleep, a lock, the interpreter
   lock, an event-loop select, a bare socket.  A wait matching nothing is ``wait:other``.

Keys: ``"module"`` matches that module and its submodules (dotted prefix), ``"module:function"``
also the function (exact, or the last part of a qualified name), ``":function"`` the function in
any module (native frames: ``time_sleep``, ``take_gil``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from capplan.errors import ParameterError
from capplan.profiles import Frame, frame_matcher, is_idle

__all__ = [
    "BLOCKING",
    "GENERIC",
    "LIBRARIES",
    "Classifier",
    "Resource",
    "hold",
    "queue",
    "wait",
]

Kind = Literal["cpu", "hold", "wait", "queue"]
_KINDS = ("cpu", "hold", "wait", "queue")


@dataclass(frozen=True, order=True)
class Resource:
    """Where time goes: ``cpu``; ``hold`` a pool's connection; ``wait`` for a downstream; or
    ``queue`` for a lock (contention, which the layered model computes rather than takes as input)."""

    kind: Kind
    name: str = "cpu"

    def __str__(self) -> str:
        return "cpu" if self.kind == "cpu" else f"{self.kind}:{self.name}"

    @staticmethod
    def parse(value: Resource | str, where: str) -> Resource:
        """A :class:`Resource` from itself or ``"cpu"``, ``"hold:db"``, ``"wait:cache"``, ``"queue:lock"``."""
        if isinstance(value, Resource):
            return value
        if not isinstance(value, str):
            raise ParameterError(f"{where}: expected a Resource or 'kind:name', got {value!r}")
        kind, _, name = value.partition(":")
        if kind == "cpu" and not name:
            return CPU
        if kind not in _KINDS[1:] or not name:
            raise ParameterError(
                f"{where}: expected 'cpu', 'hold:<pool>', 'wait:<name>' or 'queue:<name>', got {value!r}"
            )
        return Resource(kind, name)  # type: ignore[arg-type]


CPU = Resource("cpu")


def hold(pool: str) -> Resource:
    """Holding a connection of ``pool`` (a :class:`~capplan.layered.Hold` step)."""
    return Resource("hold", pool)


def wait(name: str) -> Resource:
    """Waiting for downstream ``name`` (a :class:`~capplan.layered.Wait` step)."""
    return Resource("wait", name)


def queue(name: str) -> Resource:
    """Queueing for ``name`` (a lock): contention, reported but not made into a step."""
    return Resource("queue", name)


#: Libraries whose waits are a pool or a downstream (tier 1, innermost frame first).
LIBRARIES: Mapping[str, Resource] = {
    "psycopg_pool": queue("pool"),
    "psycopg": hold("db"),
    "psycopg_binary": hold("db"),
    "psycopg_c": hold("db"),
    "psycopg2": hold("db"),
    "asyncpg": hold("db"),
    "sqlalchemy": hold("db"),
    "redis": wait("cache"),
    "httpx": wait("downstream"),
    "httpcore": wait("downstream"),
    "requests": wait("downstream"),
    "urllib3": wait("downstream"),
    "http.client": wait("downstream"),
    "aiohttp": wait("downstream"),
}

#: What the innermost frames of an otherwise unmatched wait are doing (tier 2).
GENERIC: Mapping[str, Resource] = {
    "time:sleep": wait("sleep"),
    ":time_sleep": wait("sleep"),
    "asyncio:sleep": wait("sleep"),
    ":take_gil": queue("gil"),
    ":lock_PyThread_acquire_lock": queue("lock"),
    ":PyThread_acquire_lock_timed": queue("lock"),
    ":rlock_acquire": queue("lock"),
    "threading": queue("lock"),
    "queue": queue("lock"),
    "selectors": wait("await"),
    "asyncio": wait("await"),
    "socket": wait("socket"),
    "ssl": wait("socket"),
    ":sock_recv": wait("socket"),
    ":sock_recv_into": wait("socket"),
    ":sock_call_ex": wait("socket"),
    ":clock_nanosleep": wait("sleep"),
    ":nanosleep": wait("sleep"),
}

#: CPython's blocking entry points (native frames) that :func:`capplan.profiles.is_idle` does not
#: list: a tail holding one of them is waiting.
BLOCKING = re.compile(
    r"^(time_sleep|take_gil|lock_PyThread_acquire_lock|PyThread_acquire_lock_timed|rlock_acquire"
    r"|sock_recv\w*|sock_connect\w*|sock_accept|internal_connect|select_\w+|epoll_pwait|ppoll|read|connect)$"
)

#: A bare ``pthread_cond_(timed)wait`` right under a Python frame is CPython waiting for the
#: interpreter lock (``take_gil`` is inlined in release builds).
_GIL_WAIT = re.compile(r"^pthread_cond_(timed)?wait$")


def _is_python(frame: Frame) -> bool:
    return frame.file.endswith((".py", ".pyw")) or frame.file.startswith("<")


@dataclass(frozen=True)
class _Rule:
    """One key of a resource map: a module prefix and an optional function predicate."""

    module: str
    function: Callable[[Frame], bool] | None
    resource: Resource

    @staticmethod
    def make(key: str, resource: Resource | str, where: str) -> _Rule:
        if not isinstance(key, str) or not key.strip(":"):
            raise ParameterError(
                f"{where}: key must be 'module', 'module:function' or ':function', got {key!r}"
            )
        module, _, function = key.partition(":")
        predicate = frame_matcher(f":{function}") if function else None
        return _Rule(module, predicate, Resource.parse(resource, f"{where}[{key!r}]"))

    def matches(self, frame: Frame) -> bool:
        if self.module:
            module = frame.module
            if module != self.module and not module.startswith(f"{self.module}."):
                return False
        return self.function is None or self.function(frame)


def _first(frames: Sequence[Frame], rules: Sequence[_Rule]) -> Resource | None:
    """The resource of the innermost frame any rule matches (rules in order at each frame)."""
    for frame in reversed(frames):
        for rule in rules:
            if rule.matches(frame):
                return rule.resource
    return None


class Classifier:
    """Classify a sampled stack (root first) into a :class:`Resource`; see the module notes.

    ``resources`` are user rules (``{"fakedb": "hold:db"}``), checked before :data:`LIBRARIES`;
    ``defaults=False`` drops the defaults of both tiers.
    """

    def __init__(
        self, resources: Mapping[str, Resource | str] | None = None, *, defaults: bool = True
    ) -> None:
        if resources is not None and not isinstance(resources, Mapping):
            raise ParameterError(
                f"resources must be a mapping of module keys to resources, got {resources!r}"
            )
        libraries = dict(resources or {})
        if defaults:
            libraries.update({k: v for k, v in LIBRARIES.items() if k not in libraries})
        self.libraries = [_Rule.make(k, r, "resources") for k, r in libraries.items()]
        self.generic = [_Rule.make(k, r, "GENERIC") for k, r in GENERIC.items()] if defaults else []

    def classify(self, stack: Sequence[Frame]) -> Resource:
        """The resource of one sampled stack (root first)."""
        named = [f for f in _tail(stack) if not f.function.startswith("0x")]
        if not named or not _waiting(named):
            return CPU
        if len(named) == 2 and _GIL_WAIT.match(named[-1].function):
            return queue("gil")
        return _first(stack, self.libraries) or _first(named, self.generic) or wait("other")


def _tail(stack: Sequence[Frame]) -> Sequence[Frame]:
    """The last Python frame and the native frames under it (the whole stack if none is Python)."""
    for i in range(len(stack) - 1, -1, -1):
        if _is_python(stack[i]):
            return stack[i:]
    return stack


def _waiting(named: Sequence[Frame]) -> bool:
    return is_idle(named[-1]) or any(BLOCKING.match(f.function) for f in named if not _is_python(f))
