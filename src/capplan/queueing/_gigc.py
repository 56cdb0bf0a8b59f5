"""Wait moments of the G/G/c queue from the SCVs of inter-arrival and service times.

Both times get the two-moment phase-type fits of :mod:`capplan.queueing.phasetype`; then, with
``rho = lambda E[S]/c`` (times in units of ``E[S]``, so results depend on ``rho``, ``c`` and the two
SCVs only), one of these methods gives ``P(W > 0)``, ``E[W]`` and ``E[W^2]``:

================================  =========================================================
where                             method
================================  =========================================================
``c_s^2 = 1``                     PH/M/c, exact for any ``c`` (:mod:`capplan.queueing._gimc`)
``c_s^2 = 0``                     GI/D/c, exact on a lattice for any ``c``
                                  (:mod:`capplan.queueing._lattice`) up to the utilization
                                  the lattice affords (below 1 - 1e-3 for one server and
                                  arrival SCV 1, 1 - 4e-3 for SCV 4); beyond, PH/M/c times the
                                  GI/D/c : PH/M/c ratios, moved from there to their
                                  heavy-traffic limits; approximate (within 1e-4 of a lattice
                                  on a 16 times longer FFT)
``c_s^2 >= 1/2``, ``c <= 32``     PH/PH/c, exact by the matrix-geometric method
                                  (:mod:`capplan.queueing._qbd`)
``c_s^2 >= 1/2``, ``c > 32``      PH/M/c at ``c``, times the PH/PH/32 : PH/M/32 ratio at the
                                  same ``(1 - rho) sqrt(c)`` (the Halfin-Whitt parameter, so the
                                  anchor is in the same traffic regime), the anchor's utilization
                                  at least 0.3; approximate
``0 < c_s^2 < 1/2``               quadratic in ``t = (c_s^2)^p`` through ``c_s^2 = 0``, ``1/2`` and
                                  ``1``, ``p = 3/4 + 1/(4c)``: linear in the SCV for one server
                                  (so exact for M/G/1, whose mean wait is linear in it), and
                                  towards ``3/4`` for many, where the wait falls steeply as
                                  service variability leaves 0.  The exponent was chosen on the
                                  accuracy grid's ``c_s^2 = 1/4`` points (max mean-wait error 6.8%
                                  against 13% for ``p = 1`` at every ``c``) and checked on
                                  held-out points at ``c_s^2 = 0.1`` and ``1/3``
                                  (docs/accuracy.md); approximate
``c_a^2 < 1/4``                   the value at ``c_a^2 = 1/4`` times ``(c_a^2 + c_s^2)/(1/4 + c_s^2)``
                                  (the heavy-traffic dependence on the arrival SCV, as in Whitt's
                                  QNA, 1983); approximate
================================  =========================================================

"Exact" means exact for the phase-type fits; for a real service-time distribution the first two
moments are all that is used (see docs/accuracy.md for the errors against simulation).  Every
rule is continuous in both SCVs and each approximation coincides with an exact method on its
boundary, with one exception: constant service with arrival SCVs so large (about 70 and more for
one server) that the lattice cannot reach utilization 1/2 takes the fixed heavy-traffic ratio
where the lattice fails, with a step there.  Results are cached by ``(rho, c, c_a^2, c_s^2)``,
and so are the PH/PH/c solutions they combine.  :func:`wait_moments_many` first runs the rules
with the PH/PH/c solves only noted (placeholders in their place), solves the noted queues in stacks
of equal structure (:func:`capplan.queueing._qbd.solve_phphc_many`), then runs the rules again on
the cached values.
"""

from __future__ import annotations

import functools
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np

from capplan.queueing._gimc import solve_phmc
from capplan.queueing._lattice import affordable, deterministic_service_wait, lattice_plan
from capplan.queueing._qbd import QBDWait, solve_phphc_many
from capplan.queueing.phasetype import (
    DETERMINISTIC_SCV,
    GammaMixture,
    two_moment_fit,
    two_moment_fits,
    two_moment_parts,
)

__all__ = ["EXACT_SERVERS", "WaitMoments", "wait_moments", "wait_moments_many"]

#: The largest server count solved by the matrix-geometric method (its cost grows as c^3).
EXACT_SERVERS = 32
#: The anchor's utilization is kept at or above this (see _phase_type).
ANCHOR_FLOOR = 0.3
#: Below this arrival SCV the fits would need more than four phases.
ARRIVAL_SCV_FLOOR = 0.25
#: Service SCVs from here on have fits with at most two phases (PH/PH/c solvable for c <= 32).
SERVICE_SCV_TWO_PHASE = 0.5

EXACT_PHM = "PH/M/c (exact)"
EXACT_QBD = "PH/PH/c matrix-geometric (exact for the phase-type fits)"
EXACT_LATTICE = "GI/D/c lattice Wiener-Hopf (exact)"
HEAVY_DETERMINISTIC = "PH/M/c x GI/D/c ratio from the lattice's last utilization to heavy traffic (approx)"
ANCHORED = "PH/M/c x PH/PH/32 ratio at equal (1 - rho) sqrt(c) (approx)"
INTERPOLATED = "quadratic in service SCV^(3/4 + 1/(4c)) through 0, 1/2 and 1 (approx)"
#: Service SCVs solved exactly that the interpolation below SERVICE_SCV_TWO_PHASE runs through.
INTERPOLATION_NODES = (0.0, SERVICE_SCV_TWO_PHASE, 1.0)
ARRIVAL_SCALED = "scaled from arrival SCV 1/4 as in QNA (approx)"


@dataclass(frozen=True)
class WaitMoments:
    """``P(W > 0)``, ``E[W]``, ``E[W^2]`` in units of the mean service time, and the methods used."""

    prob_wait: float
    mean: float
    second_moment: float
    methods: frozenset[str]

    def scaled(self, factor: float, method: str | None = None) -> WaitMoments:
        """Probability and moments multiplied by ``factor`` (the conditional moments unchanged)."""
        extra = {method} if method else set()
        return WaitMoments(
            min(1.0, self.prob_wait * factor),
            self.mean * factor,
            self.second_moment * factor,
            self.methods | extra,
        )

    @staticmethod
    def combine(parts: tuple[WaitMoments, ...], weights: tuple[float, ...], method: str) -> WaitMoments:
        """``sum_i weights[i] parts[i]`` of the probability and both moments."""

        def mix(attr: str) -> float:
            total = sum(float(w * getattr(p, attr)) for w, p in zip(weights, parts, strict=True))
            return max(total, 0.0)

        methods = frozenset({method}).union(*(p.methods for p in parts))
        return WaitMoments(min(mix("prob_wait"), 1.0), mix("mean"), mix("second_moment"), methods)


NO_WAIT = WaitMoments(0.0, 0.0, 0.0, frozenset({"no waiting"}))


def _arrival_parts(rho: float, servers: int, ca2: float) -> tuple[float, ...]:
    return tuple(float(a) for a in two_moment_parts(1.0 / (rho * servers), ca2))


#: :func:`_lattice_limit` finds the limit to this much in ``log(1 - rho)``.
_LIMIT_TOLERANCE = 1e-4


def _lattice_fits(rho: float, servers: int, ca2: float) -> bool:
    return affordable(_arrival_parts(rho, servers, ca2), ca2, servers, 1.0)


@functools.lru_cache(maxsize=16384)
def _deterministic(rho: float, servers: int, ca2: float) -> WaitMoments:
    """The lattice up to its limit ``rho*`` (:func:`_lattice_limit`), the heavy-traffic rule beyond.
    The limit is searched for only where the lattice's plan is within 1% of its bounds: the
    limit's tolerance, 1e-4 in ``log(1 - rho)``, moves those quantities by about 1e-4."""
    parts = _arrival_parts(rho, servers, ca2)
    plan = lattice_plan(parts, ca2, servers, 1.0)
    if plan is None or (plan.near_limit and rho > (_lattice_limit(servers, ca2) or 1.0)):
        return _heavy_deterministic(rho, servers, ca2)
    w = deterministic_service_wait(parts, ca2, servers, 1.0, plan)
    return WaitMoments(w.prob_wait, w.mean, w.second_moment, frozenset({EXACT_LATTICE}))


@functools.lru_cache(maxsize=1024)
def _lattice_limit(servers: int, ca2: float) -> float | None:
    """The utilization up to which the lattice affords the GI/D/c queue (bisection on
    ``log(1 - rho)`` between 1/2 and ``1 - 1e-12``), or None if it does not at 1/2."""
    lo, hi = math.log(0.5), math.log(1e-12)  # of 1 - rho: affordable at lo, not at hi
    if not _lattice_fits(1.0 - math.exp(lo), servers, ca2):
        return None
    while lo - hi > _LIMIT_TOLERANCE:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _lattice_fits(1.0 - math.exp(mid), servers, ca2) else (lo, mid)
    return 1.0 - math.exp(lo)


def _heavy_deterministic(rho: float, servers: int, ca2: float) -> WaitMoments:
    """GI/D/c beyond the lattice's reach: PH/M/c times the GI/D/c : PH/M/c ratios (``P(W > 0)``,
    ``E[W]``, ``E[W^2]``), taken at the lattice's last affordable utilization ``rho*`` and moved
    linearly in ``1 - rho`` to their heavy-traffic limits ``1``, ``r = c_a^2/(c_a^2 + 1)`` and
    ``r^2`` (the wait grows as ``c_a^2 + c_s^2`` and becomes exponential: Kollerstrom (1974),
    "Heavy traffic theory for queues with several servers. I", J. Appl. Prob. 11).  Continuous at
    ``rho*``; exact for M/D/1, whose three ratios are linear in ``1 - rho``.  Where the lattice
    fails even at 1/2 (arrival SCVs in the tens: then only where it fails), or below ``rho*``, the
    ratios stay fixed."""
    here = _exponential(rho, servers, ca2)
    r = ca2 / (ca2 + 1.0)
    limits: tuple[float, ...] = (1.0, r, r * r)
    star = _lattice_limit(servers, ca2)
    if star is None:
        ratios = limits
    else:
        exact, base = _deterministic(star, servers, ca2), _exponential(star, servers, ca2)
        t = min((1.0 - rho) / (1.0 - star), 1.0)
        at_star = (
            exact.prob_wait / base.prob_wait,
            exact.mean / base.mean,
            exact.second_moment / base.second_moment,
        )
        ratios = tuple(lim + (a - lim) * t for a, lim in zip(at_star, limits, strict=True))
    p, m1, m2 = (ratios[0] * here.prob_wait, ratios[1] * here.mean, ratios[2] * here.second_moment)
    return WaitMoments(min(p, 1.0), m1, m2, frozenset({HEAVY_DETERMINISTIC}))


@functools.lru_cache(maxsize=16384)
def _exponential(rho: float, servers: int, ca2: float) -> WaitMoments:
    fit = two_moment_fit(1.0 / (rho * servers), ca2)
    assert fit is not None
    w = solve_phmc(fit, 1.0, servers)
    return WaitMoments(w.prob_wait, w.mean, w.second_moment, frozenset({EXACT_PHM}))


def _phase_type(rho: float, servers: int, ca2: float, cs2: float) -> WaitMoments:
    """``c_s^2 >= 1/2`` and ``c_a^2 >= 1/4``: exact up to 32 servers, anchored beyond."""
    if cs2 == 1.0:
        return _exponential(rho, servers, ca2)
    if servers <= EXACT_SERVERS:
        return _matrix_geometric(rho, servers, ca2, cs2)
    # The same (1 - rho) sqrt(c), but not below ANCHOR_FLOOR: towards light traffic the ratio grows
    # without bound for variable service (all 32 servers busy needs the rare long services), and
    # there the wait is negligible anyway; a constant ratio keeps the wait falling as c grows.
    anchor_rho = max(ANCHOR_FLOOR, 1.0 - (1.0 - rho) * math.sqrt(servers / EXACT_SERVERS))
    here = _exponential(rho, servers, ca2)
    exact, base = _node(anchor_rho, EXACT_SERVERS, ca2, cs2), _exponential(anchor_rho, EXACT_SERVERS, ca2)
    if min(here.prob_wait, base.prob_wait, exact.prob_wait) <= 0.0:
        return here  # a wait below what doubles resolve: none
    p = here.prob_wait * exact.prob_wait / base.prob_wait
    cond_mean = here.mean / here.prob_wait * (exact.mean / exact.prob_wait) / (base.mean / base.prob_wait)
    cond_second = (
        here.second_moment
        / here.prob_wait
        * (exact.second_moment / exact.prob_wait)
        / (base.second_moment / base.prob_wait)
    )
    p = min(p, 1.0)
    return WaitMoments(p, p * cond_mean, p * cond_second, frozenset({ANCHORED}))


def _interpolation_weights(cs2: float, servers: int) -> tuple[float, float, float]:
    """Lagrange weights at :data:`INTERPOLATION_NODES` of the parabola in ``t = cs2^p``,
    ``p = 3/4 + 1/(4 servers)`` (module docstring)."""
    power = 0.75 + 0.25 / servers
    t = cs2**power
    t0, t1, t2 = (x**power for x in INTERPOLATION_NODES)
    return (
        (t - t1) * (t - t2) / ((t0 - t1) * (t0 - t2)),
        (t - t0) * (t - t2) / ((t1 - t0) * (t1 - t2)),
        (t - t0) * (t - t1) / ((t2 - t0) * (t2 - t1)),
    )


def _two_moment(rho: float, servers: int, ca2: float, cs2: float) -> WaitMoments:
    if ca2 < ARRIVAL_SCV_FLOOR:
        if ca2 + cs2 < DETERMINISTIC_SCV:
            return NO_WAIT  # D/D/c below saturation
        base = _node(rho, servers, ARRIVAL_SCV_FLOOR, cs2)
        return base.scaled((ca2 + cs2) / (ARRIVAL_SCV_FLOOR + cs2), ARRIVAL_SCALED)
    if cs2 < DETERMINISTIC_SCV:
        return _deterministic(rho, servers, ca2)
    if cs2 < SERVICE_SCV_TWO_PHASE:
        ends = tuple(_node(rho, servers, ca2, x) for x in INTERPOLATION_NODES)
        return WaitMoments.combine(ends, _interpolation_weights(cs2, servers), INTERPOLATED)
    return _phase_type(rho, servers, ca2, cs2)


def _uncached(rho: float, servers: int, ca2: float, cs2: float) -> WaitMoments:
    if rho <= 0.0:
        return NO_WAIT
    return _two_moment(rho, servers, ca2, cs2)


_cached = functools.lru_cache(maxsize=4096)(_uncached)


def _node(rho: float, servers: int, ca2: float, cs2: float) -> WaitMoments:
    """Another point the rules combine: cached, except while noting (placeholders are not kept)."""
    if _NOTING.get() is not None:
        return _uncached(rho, servers, ca2, cs2)
    return _cached(rho, servers, ca2, cs2)


#: ``(rho, c, c_a^2, c_s^2)``: one PH/PH/c queue of the rules.
_Key = tuple[float, int, float, float]


class _Solved:
    """The PH/PH/c solutions by key, the least recently used dropped first (thread-safe)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[_Key, WaitMoments] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: _Key) -> WaitMoments | None:
        with self.lock:
            value = self.items.get(key)
            if value is not None:
                self.items.move_to_end(key)
            return value

    def put(self, key: _Key, value: WaitMoments) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_SOLVED = _Solved(65536)
#: While :func:`wait_moments_many` notes the PH/PH/c queues its elements need: the set they go in.
_NOTING: ContextVar[set[_Key] | None] = ContextVar("_NOTING", default=None)
_NOTED = WaitMoments(math.nan, math.nan, math.nan, frozenset({EXACT_QBD}))
#: Matrix entries of one batch's stacked level matrices, at most (memory: a few copies, 8 bytes each).
_STACK_ENTRIES = 2_000_000


def _fits(rho: float, servers: int, ca2: float, cs2: float) -> tuple[GammaMixture, GammaMixture]:
    arrival, service = two_moment_fit(1.0 / (rho * servers), ca2), two_moment_fit(1.0, cs2)
    assert arrival is not None and service is not None
    return arrival, service


def _as_moments(w: QBDWait) -> WaitMoments:
    return WaitMoments(w.prob_wait, w.mean, w.second_moment, frozenset({EXACT_QBD}))


def _matrix_geometric(rho: float, servers: int, ca2: float, cs2: float) -> WaitMoments:
    """The PH/PH/c solution (solved now, from the cache, or noted for a stack)."""
    key = (rho, servers, ca2, cs2)
    known = _SOLVED.get(key)
    if known is not None:
        return known
    noting = _NOTING.get()
    if noting is not None:
        noting.add(key)
        return _NOTED
    arrival, service = _fits(*key)
    solved = _as_moments(solve_phphc_many([arrival], [service], servers)[0])
    _SOLVED.put(key, solved)
    return solved


def _solve_stacks(keys: set[_Key]) -> None:
    """Solve the noted PH/PH/c queues, those of equal structure as stacks, into the cache."""
    ordered = sorted(keys)
    arrivals = two_moment_fits([1.0 / (r * c) for r, c, _, _ in ordered], [k[2] for k in ordered])
    services = two_moment_fits(np.ones(len(ordered)), [k[3] for k in ordered])
    groups: dict[tuple[int, int, int], list[tuple[_Key, GammaMixture, GammaMixture]]] = {}
    for key, arrival, service in zip(ordered, arrivals, services, strict=True):
        assert arrival is not None and service is not None
        groups.setdefault((key[1], arrival.phases, service.phases), []).append((key, arrival, service))
    for (servers, arrival_phases, _), items in groups.items():
        level = arrival_phases * 2 * (servers + 1)  # states of a level, at most (two service phases)
        step = max(1, _STACK_ENTRIES // level**2)
        for start in range(0, len(items), step):
            chunk = items[start : start + step]
            solved = solve_phphc_many([a for _, a, _ in chunk], [s for _, _, s in chunk], servers)
            for (key, _, _), w in zip(chunk, solved, strict=True):
                _SOLVED.put(key, _as_moments(w))


def _checked(rho: float) -> float:
    if not 0.0 <= rho < 1.0:
        raise ValueError(f"wait_moments needs 0 <= rho < 1, got {rho!r}")
    return float(rho)


def wait_moments(rho: float, servers: int, arrival_scv: float, service_scv: float) -> WaitMoments:
    """Wait moments (units of the mean service time) of the stable G/G/c queue (module docstring)."""
    return _cached(_checked(rho), int(servers), float(arrival_scv), float(service_scv))


def wait_moments_many(
    rho: Sequence[float], servers: Sequence[int], arrival_scv: Sequence[float], service_scv: Sequence[float]
) -> list[WaitMoments]:
    """:func:`wait_moments` of each element, the PH/PH/c queues they need solved in stacks."""
    keys = [
        (_checked(r), int(c), float(a), float(s))
        for r, c, a, s in zip(rho, servers, arrival_scv, service_scv, strict=True)
    ]
    noted: set[_Key] = set()
    token = _NOTING.set(noted)
    try:
        for key in dict.fromkeys(keys):
            _uncached(*key)
    finally:
        _NOTING.reset(token)
    _solve_stacks(noted)
    return [_cached(*key) for key in keys]
