"""The demo workload: one request = parse -> validate -> price (-> apply_discounts) -> render.

Every stage is deterministic pure-Python integer arithmetic (a linear congruential loop), so a
request costs the same CPU time on every run and the profile of the work is known by
construction. The base amount of work per stage (loop iterations) is :data:`FUNCTIONS`;
``render`` also varies with the request id (1x to 1.75x its base), so service times are not all
equal. ``price`` calls ``apply_discounts``: in a profile ``price`` has both self time and a
callee, which is what separates inclusive from self time.

:func:`set_slowdown` multiplies one stage's iterations by a factor (e.g. ``2.0`` doubles its
CPU work); :func:`reset_slowdown` restores the base. The slowdown is a module-level setting
shared by every thread of the process.

Run ``python -m capplan.demo.workload --requests N [--slow name=factor ...] [--cpu-report F]``
to serve ``N`` requests in a loop and print ``N`` (this is the process that the profilers record). The module
imports only the standard library at start-up, so ``python path/to/workload.py ...`` runs it
without importing :mod:`capplan` (and its numerical stack): a profile of that process holds
almost nothing but the requests.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

__all__ = [
    "FUNCTIONS",
    "begin_request",
    "end_request",
    "handle_request",
    "main",
    "measured_slowdown",
    "reset_slowdown",
    "serve",
    "set_slowdown",
    "slowdown",
]

#: Base loop iterations per stage and request (``render`` is scaled by 1 + (id % 4) / 4).
FUNCTIONS: dict[str, int] = {
    "parse_request": 3000,
    "validate": 2000,
    "price": 4000,
    "apply_discounts": 3000,
    "render": 4000,
}

_MASK = 0xFFFFFFFF
_factors: dict[str, float] = {}


def _iterations(name: str, base: int) -> int:
    return max(1, round(base * _factors.get(name, 1.0)))


def parse_request(request_id: int) -> int:
    """Decode the request: ``FUNCTIONS['parse_request']`` LCG steps seeded by the id."""
    acc = request_id & _MASK
    for i in range(_iterations("parse_request", FUNCTIONS["parse_request"])):
        acc = (acc * 1103515245 + 12345 + i) & _MASK
    return acc


def validate(token: int) -> int:
    """Check the decoded fields (an xor-shift loop)."""
    acc = token | 1
    for _ in range(_iterations("validate", FUNCTIONS["validate"])):
        acc ^= (acc << 13) & _MASK
        acc ^= acc >> 17
        acc ^= (acc << 5) & _MASK
    return acc


def apply_discounts(amount: int) -> int:
    """Discount rules applied to a price (called by :func:`price`)."""
    acc = amount
    for i in range(_iterations("apply_discounts", FUNCTIONS["apply_discounts"])):
        acc = (acc * 69069 + i) & _MASK
    return acc


def price(token: int) -> int:
    """Price the order: its own loop, then :func:`apply_discounts`."""
    acc = token
    for i in range(_iterations("price", FUNCTIONS["price"])):
        acc = (acc + i * i) & _MASK
    return apply_discounts(acc)


def render(request_id: int, amount: int) -> int:
    """Serialise the response; heavier for some requests (1x to 1.75x the base work)."""
    base = FUNCTIONS["render"] * (4 + request_id % 4) // 4
    acc = amount
    for i in range(_iterations("render", base)):
        acc = (acc * 31 + i) & _MASK
    return acc


def begin_request(request_id: int) -> int:
    """The CPU work before a request's downstream call: parse, validate and price; the amount."""
    return price(validate(parse_request(request_id)))


def end_request(request_id: int, amount: int) -> int:
    """The CPU work after the downstream call: render the response; the checksum."""
    return render(request_id, amount)


def handle_request(request_id: int) -> int:
    """Serve one request and return its checksum (deterministic for a given id and slowdown)."""
    return end_request(request_id, begin_request(request_id))


def _parameter_error(message: str) -> Exception:
    # imported here so that running this file as a script does not import capplan
    from capplan.errors import ParameterError  # noqa: PLC0415

    return ParameterError(message)


def set_slowdown(function_name: str, factor: float) -> None:
    """Multiply the CPU work of one stage by ``factor`` (> 0; ``1`` restores it).

    Raises
    ------
    ParameterError
        If ``function_name`` is not a stage of :data:`FUNCTIONS` or ``factor`` is not positive.
    """
    if function_name not in FUNCTIONS:
        raise _parameter_error(f"function_name must be one of {sorted(FUNCTIONS)}, got {function_name!r}")
    factor = float(factor)
    if not factor > 0 or factor == float("inf"):
        raise _parameter_error(f"factor must be positive and finite, got {factor!r}")
    _factors[function_name] = factor


def reset_slowdown() -> None:
    """Restore the base work of every stage."""
    _factors.clear()


@contextmanager
def slowdown(function_name: str, factor: float) -> Iterator[None]:
    """Context manager: slow one stage by ``factor`` inside the ``with`` block."""
    previous = _factors.get(function_name)
    set_slowdown(function_name, factor)
    try:
        yield
    finally:
        if previous is None:
            _factors.pop(function_name, None)
        else:
            _factors[function_name] = previous


def serve(requests: int, start: int = 0) -> int:
    """Serve requests ``start .. start + requests - 1`` in a loop; return the xor of checksums."""
    checksum = 0
    for request_id in range(start, start + requests):
        checksum ^= handle_request(request_id)
    return checksum


def measured_slowdown(function_name: str, factor: float, reps: int = 21, batch: int = 40) -> float:
    """The measured cost ratio of slowing one stage: the ground truth a what-if must predict.

    Median over ``reps`` pairs of batches (``batch`` requests each, in alternating order) of
    CPU time with the stage slowed by ``factor`` over CPU time as is, on the thread clock, so
    other processes taking the CPU do not count.
    """
    ratios = []
    for r in range(reps):
        cost = {}
        for slowed in (True, False) if r % 2 else (False, True):
            with slowdown(function_name, factor if slowed else 1.0):
                t0 = time.thread_time()
                serve(batch)
                cost[slowed] = time.thread_time() - t0
        ratios.append(cost[True] / cost[False])
    return statistics.median(ratios)


def _slow_option(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        factor = float(value)
    except ValueError:
        factor = float("nan")
    if not sep or name not in FUNCTIONS or not factor > 0:
        raise argparse.ArgumentTypeError(
            f"--slow {text!r}: expected NAME=FACTOR with NAME in {sorted(FUNCTIONS)} and FACTOR > 0"
        )
    return name, factor


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m capplan.demo.workload --requests N [--slow name=factor ...]``."""
    parser = argparse.ArgumentParser(
        prog="python -m capplan.demo.workload", description="Serve N demo requests and print N."
    )
    parser.add_argument("--requests", type=int, required=True, help="number of requests to serve")
    parser.add_argument(
        "--slow",
        type=_slow_option,
        action="append",
        default=[],
        metavar="NAME=FACTOR",
        help="slow one stage by a factor (repeatable)",
    )
    parser.add_argument(
        "--cpu-report",
        metavar="FILE",
        help="write {requests, cpu_s, wall_s} of the serving loop (process CPU clock) as JSON",
    )
    args = parser.parse_args(argv)
    if args.requests < 0:
        parser.error(f"--requests must be >= 0, got {args.requests}")
    for name, factor in args.slow:
        set_slowdown(name, factor)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    serve(args.requests)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    if args.cpu_report:
        report = {"requests": args.requests, "cpu_s": round(cpu, 6), "wall_s": round(wall, 6)}
        with open(args.cpu_report, "w", encoding="utf-8") as fh:
            json.dump(report, fh)
    print(args.requests)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
