"""The inside of one replica as a closed network: throughput and residence per class when ``n``
requests hold workers, for every ``n`` from 1 to the number of workers at once.

Approximate mean-value analysis (Schweitzer 1979; Bard 1979), multi-class and FCFS, over these
stations, visited once per step of a class's anatomy:

* the interpreter lock of the request's process (one server), held for each CPU step's lock-held
  part plus its wait for a core;
* the cores (``C`` servers): a CPU step queues once for a core, holding its process's lock, and
  keeps the core for the whole step (on releasing the lock for its lock-free part a thread goes on
  running; it does not queue again), so only lock holders queue there, one per process at most;
* per pool, its connections in the request's process (``m`` servers), held for each ``Hold`` step
  plus its wait for a PgBouncer server connection; PgBouncer's ``L`` server connections;
* the downstream waits (a delay).

Holding one resource while queueing for the next (the lock while waiting for a core, a connection
while waiting for PgBouncer) is the simultaneous-resource-possession case of Jacobson & Lazowska
(1982), "Analyzing queueing networks with simultaneous resource possession", CACM 25(2): the outer
resource's holding time includes the inner resource's wait, solved together by fixed-point
iteration.  An idle thread drawn at random takes each request (as idle threads racing to accept
do), so of the ``n - 1`` others, ``(n - 1)(T - 1)/(P T - 1)`` share one's own process on average.

A visit's wait at ``m`` FCFS servers counts the others there ``K`` as binomials (at most the others
that can be there, each there for its share of the time) and, with ``S`` the visits' service time,
is ``P(K >= m) E[S^2]/(2 E[S] m) + E[(K - m)+] E[S]/m``: the residual service of the one to leave
first, then the queue ahead (for one exponential server this is MVA's ``S E[K]``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy import special

from capplan._validate import FloatArray

__all__ = ["Demands", "NetworkState", "Station", "queue_counts", "solve_network"]


@dataclass(frozen=True)
class Station:
    """Per class: visits per request, the mean and second moment of one visit's service (over
    all the class's visits), and the SCV of a visit's service averaged over its visits (without
    the spread between the visits' means)."""

    visits: FloatArray
    mean: FloatArray
    second: FloatArray
    scv: FloatArray

    def columns(self) -> list[FloatArray]:
        """Per class ``v``, ``v E[S]``, ``v E[S^2]`` and ``v c^2``: the weights whose sums over
        classes, weighted by the classes' throughputs, make the station's :class:`_Flow`."""
        v = self.visits
        return [v, v * self.mean, v * self.second, v * self.scv]


class _Flow(NamedTuple):
    """Throughput-weighted sums over classes at one station, per population (``(rows,)``): visits
    ``sum x v``, work ``sum x v E[S]``, ``sum x v E[S^2]`` and ``sum x v c^2``."""

    visits: FloatArray
    work: FloatArray
    second: FloatArray
    scv: FloatArray

    def held(self, extra: FloatArray) -> _Flow:
        """The same visits each held ``extra`` longer (a wait for an inner resource):
        ``E[(S + w)^2] = E[S^2] + 2 w E[S] + 2 w^2``, the wait taken as exponential."""
        return _Flow(
            self.visits,
            self.work + self.visits * extra,
            self.second + 2 * extra * self.work + 2 * extra**2 * self.visits,
            self.scv,
        )

    def visit_mean(self) -> FloatArray:
        """Mean service of the visits waiting there (by count)."""
        out: FloatArray = np.divide(
            self.work, self.visits, out=np.zeros_like(self.work), where=self.visits > 0
        )
        return out

    def residual(self, servers: int = 1) -> FloatArray:
        """Mean time to the next departure from ``servers`` busy servers, times ``servers``: for
        one server ``E[S^2]/(2 E[S])`` of the service in progress (long visits are likelier to be
        in progress); as servers grow, the departures of many servers come at their mean spacing,
        and the in-progress mix matters less, towards ``E[S](1 + c^2)/2`` with ``E[S]`` and the
        SCV ``c^2`` averaged over visits by count."""
        mixed: FloatArray = np.divide(
            self.second, 2.0 * self.work, out=np.zeros_like(self.work), where=self.work > 0
        )
        if servers == 1:
            return mixed
        scv_avg = np.divide(self.scv, self.visits, out=np.zeros_like(self.visits), where=self.visits > 0)
        spaced = self.visit_mean() * (1.0 + scv_avg) / 2.0
        return np.asarray(spaced + (mixed - spaced) / servers)


@dataclass(frozen=True)
class Demands:
    """The stations of one replica; ``pools``/``bouncers`` one :class:`Station` per pool."""

    lock: Station  # lock-held parts of CPU steps
    free: Station  # lock-free parts
    cpu: Station  # whole CPU steps (a core is held for the whole step)
    pools: tuple[Station, ...]
    delay: FloatArray  # per class, seconds
    processes: int
    threads: int  # per process
    cores: int
    pool_size: tuple[int, ...]
    bouncer: tuple[int, ...]  # 0: no PgBouncer in front of the pool


@dataclass(frozen=True)
class NetworkState:
    """Solution for populations ``n = 1..N`` (axis 0) and classes (axis 1); waits per visit."""

    throughput: FloatArray  # X_k(n)
    residence: FloatArray  # R_k(n)
    lock_wait: FloatArray  # (n,)
    core_wait_lock: FloatArray  # (n,): a lock holder's wait for a core
    core_wait_free: FloatArray  # (n,)
    pool_wait: FloatArray  # (pools, n)
    bouncer_wait: FloatArray  # (pools, n)
    wait_prob: dict[str, FloatArray]  # P(a visit waits), keyed as _waits returns them


@functools.lru_cache(maxsize=32)
def _grid(counts: bytes, width: int) -> tuple[NDArray[Any], ...]:
    """For the rows ``n`` (float64 bytes) and ``k = 0..width-1``: ``ceil(n)`` (a column), ``k``,
    ``ceil(n) - k``, ``log C(ceil(n), k)``, and the masks ``k = 0``, ``k = ceil(n)`` and
    ``k <= ceil(n)``.  The counts stay the same over the fixed-point iterations, so this is
    computed once per solve and station."""
    nn = np.ceil(np.maximum(np.frombuffer(counts, dtype=np.float64), 0.0))[:, None]
    k = np.arange(width, dtype=np.float64)[None, :]
    rest = nn - k
    log_choose = (
        special.gammaln(nn + 1.0) - special.gammaln(k + 1.0) - special.gammaln(np.maximum(rest, 0.0) + 1.0)
    )
    out = (nn, k, rest, log_choose, k == 0, rest == 0, k <= nn)
    for a in out:
        a.flags.writeable = False
    return out


def _binomial(n: FloatArray, mean: FloatArray, width: int) -> tuple[FloatArray, FloatArray]:
    """Rows of the Binomial(ceil(n), mean/ceil(n)) pmf on 0..width-1, and its means."""
    nn, k, rest, log_choose, first, last, support = _grid(
        np.ascontiguousarray(n, dtype=np.float64).tobytes(), width
    )
    p = np.clip(np.divide(mean[:, None], nn, out=np.zeros_like(nn), where=nn > 0), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        # k log(p), 0 where k = 0; (n - k) log(1 - p), 0 where k = n (p = 0 or 1 give 0 log 0)
        heads = np.where(first, 0.0, k * np.log(p))
        tails = np.where(last, 0.0, rest * np.log1p(-p))
        pmf = np.exp(log_choose + heads + tails)
    return np.where(support, pmf, 0.0), np.asarray((nn * p)[:, 0])


def queue_counts(groups: list[tuple[FloatArray, FloatArray]], servers: int) -> tuple[FloatArray, FloatArray]:
    """``(P(K >= m), E[(K - m)+])`` for ``K`` a sum of binomial counts, one per group ``(at most
    n others, mean there)``.

    Only ``P(K = k)`` for ``k < m`` is needed: ``P(K >= m) = 1 - sum_{k<m} P(K = k)`` and
    ``E[(K - m)+] = E[K] - m + sum_{k<m} (m - k) P(K = k)`` (as ``(K - m)+ = K - m + (m - K)+``),
    with ``E[K]`` the sum of the binomials' means.  Those ``m`` terms of the sum's pmf need only
    the first ``m`` terms of each binomial's, so the convolution is truncated at ``m`` (O(m^2) per
    row, instead of a transform over every count up to the number of others)."""
    head: FloatArray | None = None
    mean_total = np.zeros(groups[0][0].size)
    for n, mean in groups:
        pmf, expected = _binomial(n, mean, servers)
        mean_total = mean_total + expected
        head = pmf if head is None else _convolve_head(head, pmf)
    assert head is not None
    below = head.sum(axis=1)
    short = head @ (servers - np.arange(servers, dtype=np.float64))
    return np.clip(1.0 - below, 0.0, 1.0), np.maximum(mean_total - servers + short, 0.0)


def _convolve_head(a: FloatArray, b: FloatArray) -> FloatArray:
    """The first ``m`` terms of the convolution of the rows of ``a`` and ``b`` (``(rows, m)``)."""
    out = a[:, :1] * b
    for i in range(1, a.shape[1]):
        out[:, i:] += a[:, i : i + 1] * b[:, : b.shape[1] - i]
    return out


def _fcfs_wait(
    groups: list[tuple[FloatArray, FloatArray]], servers: int, flow: _Flow
) -> tuple[FloatArray, FloatArray]:
    """A visit's mean wait at ``servers`` FCFS servers (module docstring) for the visits ``flow``
    and the probability that it waits at all."""
    busy, ahead = queue_counts(groups, servers)
    return np.asarray((busy * flow.residual(servers) + ahead * flow.visit_mean()) / servers), busy


class _Iteration:
    """What stays the same over the iterations of one solve: population-wide counts (shared by
    the station updates) and the per-class weights of every station's :class:`_Flow`, so that
    one matrix product per iteration gives every station's sums."""

    def __init__(self, d: Demands, pop: FloatArray) -> None:
        n = pop.sum(axis=1)
        p = float(d.processes)
        self.share = np.divide(1.0, n, out=np.zeros_like(n), where=n > 0)  # one request's share
        self.others = np.maximum(n - 1.0, 0.0)
        # others in one's own process: an idle thread drawn at random took each request, so the
        # n - 1 others fill n - 1 of the P T - 1 other threads, T - 1 of them in one's process
        slots = p * d.threads
        self.in_process = np.maximum(n - 1.0, 0.0) * (d.threads - 1) / max(slots - 1.0, 1.0)
        self.scale = np.divide(self.in_process, self.in_process + 1.0)  # what a request of its process sees
        self.other_holders = np.minimum(p - 1.0, self.others)  # one lock holder per other process
        self.holders = np.minimum(p, self.others)
        self.active = np.maximum(np.minimum(p, n), 1e-300)
        stations = (d.lock, d.free, d.cpu, *d.pools)
        self.weights = np.ascontiguousarray(np.stack([c for st in stations for c in st.columns()]))

    def flows(self, x: FloatArray) -> list[_Flow]:
        """Every station's sums at the throughputs ``x`` (``(rows, classes)``): lock, free, cpu,
        then the pools."""
        sums = self.weights @ x.T
        return [_Flow(*sums[i : i + 4]) for i in range(0, sums.shape[0], 4)]


def solve_network(
    d: Demands,
    n: FloatArray,
    weights: FloatArray,
    *,
    iterations: int = 500,
    tol: float = 1e-7,
    compiled: bool = True,
) -> NetworkState:
    """Schweitzer AMVA at the populations ``n`` (``(rows,)``) with the class mix of an open
    stream: ``n_k`` proportional to ``weights_k R_k`` (Little's law), updated with the waits.

    Each iteration takes every station's new waits from the current ones and moves halfway
    (damping 0.5), until no residence changes by ``tol`` (relative) or after ``iterations``.
    ``compiled`` runs the iteration in :mod:`capplan.layered._network_kernel` (the same
    arithmetic, without NumPy's per-call overhead); False runs this module's NumPy code."""
    rows = n.size
    n_pools = len(d.pools)
    zeros = np.zeros(rows)
    w_lock, w_cl, w_cf = zeros.copy(), zeros.copy(), zeros.copy()
    w_pool, w_b = np.zeros((n_pools, rows)), np.zeros((n_pools, rows))
    resid = _residence(d, w_lock, w_cl, w_cf, w_pool, w_b)
    pop = _mix(n, weights, resid)
    it = _Iteration(d, pop)
    if compiled:
        return _solve_compiled(d, n, weights, it, resid, pop, iterations, tol)
    probs: dict[str, FloatArray] = {}
    for _ in range(iterations):
        new, probs = _waits(d, it, it.flows(pop / resid), w_lock, w_cl, w_cf, w_pool, w_b)
        w_lock, w_cl, w_cf, w_pool, w_b = (
            0.5 * (a + b) for a, b in zip((w_lock, w_cl, w_cf, w_pool, w_b), new, strict=True)
        )
        new_resid = _residence(d, w_lock, w_cl, w_cf, w_pool, w_b)
        change = float(np.max(np.abs(new_resid - resid) / new_resid))
        resid = new_resid
        pop = _mix(n, weights, resid)
        if change < tol:
            break
    resid = _bounded(d, n, pop, resid)
    return NetworkState(pop / resid, resid, w_lock, w_cl, w_cf, w_pool, w_b, probs)


def _solve_compiled(
    d: Demands,
    n: FloatArray,
    weights: FloatArray,
    it: _Iteration,
    resid: FloatArray,
    pop: FloatArray,
    iterations: int,
    tol: float,
) -> NetworkState:
    """:func:`solve_network`'s iteration in the compiled kernel, from the same starting point."""
    from capplan.layered._network_kernel import iterate  # noqa: PLC0415 - numba loads only to solve

    stations = (d.lock, d.free, d.cpu, *d.pools)
    n_pools = len(d.pools)
    width = max(d.cores, *d.pool_size, *d.bouncer, 1)
    sizes = np.array([d.processes, d.cores, int(d.lock.visits.any()), width, *d.pool_size, *d.bouncer])
    per_row = np.stack([it.scale, it.others, it.other_holders, it.in_process, it.active, it.share])
    waits, probs = np.zeros((3 + 2 * n_pools, n.size)), np.zeros((3 + 2 * n_pools, n.size))
    resid, pop = resid.copy(), pop.copy()
    iterate(
        it.weights,
        np.stack([st.visits for st in stations]).astype(np.float64),
        np.stack([st.mean for st in stations]).astype(np.float64),
        np.array(d.delay, dtype=np.float64),  # copies: writable and contiguous, as compiled
        np.array(n, dtype=np.float64),
        np.array(weights, dtype=np.float64),
        resid,
        pop,
        per_row,
        sizes.astype(np.int64),
        waits,
        probs,
        iterations,
        tol,
    )
    resid = _bounded(d, n, pop, resid)
    pools = slice(3, 3 + n_pools)
    bouncers = slice(3 + n_pools, 3 + 2 * n_pools)
    wait_prob = {
        "lock": probs[0],
        "core_lock": probs[1],
        "core_free": probs[2],
        "pool": probs[pools],
        "bouncer": probs[bouncers],
    }
    return NetworkState(
        pop / resid, resid, waits[0], waits[1], waits[2], waits[pools], waits[bouncers], wait_prob
    )


def _bounded(d: Demands, n: FloatArray, pop: FloatArray, resid: FloatArray) -> FloatArray:
    """Residences shortened where their throughput falls below the balanced-job lower bound
    ``n / (D + (n - 1) D_max)`` (Zahorjan, Sevcik, Eager & Galler (1982), "Balanced job bound
    analysis of queueing networks", CACM 25(2)): the approximate waits can overshoot when visits
    of very different lengths share servers, and a replica is never slower than its bottleneck
    serving one request at a time behind all the others."""
    x = pop / resid
    mix = x / x.sum(axis=1, keepdims=True)
    per_server = [d.lock.visits * d.lock.mean / d.processes, d.cpu.visits * d.cpu.mean / d.cores]
    for j, st in enumerate(d.pools):
        per_server.append(st.visits * st.mean / (d.pool_size[j] * d.processes))
        if d.bouncer[j] > 0:
            per_server.append(st.visits * st.mean / d.bouncer[j])
    total = d.cpu.visits * d.cpu.mean + d.delay + sum(st.visits * st.mean for st in d.pools)
    d_max = np.max([mix @ a for a in per_server], axis=0)
    floor = n / (mix @ total + (n - 1.0) * d_max)
    factor = np.minimum(x.sum(axis=1) / floor, 1.0)
    return np.asarray(resid * factor[:, None])


def _mix(n: FloatArray, weights: FloatArray, resid: FloatArray) -> FloatArray:
    share = weights * resid
    return np.asarray(n[:, None] * share / share.sum(axis=1, keepdims=True))


def _residence(
    d: Demands, w_lock: FloatArray, w_cl: FloatArray, w_cf: FloatArray, w_pool: FloatArray, w_b: FloatArray
) -> FloatArray:
    out = d.lock.visits * (d.lock.mean + (w_cl + w_lock)[:, None])
    out = out + d.free.visits * (d.free.mean + w_cf[:, None]) + d.delay
    for j, st in enumerate(d.pools):
        out = out + st.visits * (st.mean + (w_b[j] + w_pool[j])[:, None])
    return np.maximum(out, 1e-300)


def _waits(
    d: Demands, it: _Iteration, flows: list[_Flow], w_lock: FloatArray, w_cl: FloatArray, w_cf: FloatArray,
    w_pool: FloatArray, w_b: FloatArray,
) -> tuple[tuple[FloatArray, ...], dict[str, FloatArray]]:  # fmt: skip
    """New waits per visit at every station from the stations' sums at the current throughputs
    (``flows``: :meth:`_Iteration.flows`) and the current waits, and the probability that a visit
    waits there at all (keys ``lock``, ``core_lock``, ``core_free``, ``pool``, ``bouncer``)."""
    p = float(d.processes)
    lk, fr, cpu, pools = flows[0], flows[1], flows[2], flows[3:]
    # the lock (one server per process): held for the lock-held part and its wait for a core
    hold = lk.held(w_cl)
    busy = hold.work / p
    queued = lk.visits * w_lock / p
    new_lock = it.scale * (busy * hold.residual() + queued * hold.visit_mean())
    probs: dict[str, FloatArray] = {"lock": np.minimum(it.scale * busy, 1.0)}
    # cores: a CPU step waits for a core once (holding the lock, if it takes it) and keeps the
    # core for the whole step, lock-free part included; so the queue for cores holds only lock
    # holders, at most one per other process, or, with no lock to take, anyone
    holder, free_each = hold.work / it.active, fr.held(w_cf).work * it.share
    zero = np.zeros_like(w_cl)
    if d.lock.visits.any():
        new_cl, probs["core_lock"] = _fcfs_wait(
            [(it.other_holders, it.other_holders * holder), (it.others, it.others * free_each)], d.cores, cpu
        )
        new_cf, probs["core_free"] = zero, zero
    else:
        new_cf, probs["core_free"] = _fcfs_wait([(it.others, it.others * free_each)], d.cores, cpu)
        new_cl, probs["core_lock"] = zero, zero
    new_pool, new_b = np.zeros_like(w_pool), np.zeros_like(w_b)
    probs["pool"], probs["bouncer"] = np.zeros_like(w_pool), np.zeros_like(w_b)
    for j, st in enumerate(pools):
        held = st.held(w_b[j])
        seen = it.in_process * held.held(w_pool[j]).work * it.share
        new_pool[j], probs["pool"][j] = _fcfs_wait([(it.in_process, seen)], d.pool_size[j], held)
        if d.bouncer[j] > 0:
            there_b = held.work * it.share
            new_b[j], probs["bouncer"][j] = _fcfs_wait([(it.others, it.others * there_b)], d.bouncer[j], st)
    return (new_lock, new_cl, new_cf, new_pool, new_b), probs
