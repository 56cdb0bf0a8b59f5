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

import numpy as np
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

    def residual(self, rate: FloatArray, servers: int = 1) -> FloatArray:
        """Mean time to the next departure from ``servers`` busy servers, times ``servers``, for
        per-class throughputs ``rate``: for one server ``E[S^2]/(2 E[S])`` of the service in
        progress (long visits are likelier to be in progress); as servers grow, the departures of
        many servers come at their mean spacing, and the in-progress mix matters less, towards
        ``E[S](1 + c^2)/2`` with ``E[S]`` and the SCV ``c^2`` averaged over visits by count."""
        work = (rate * self.visits * self.mean).sum(axis=1)
        mixed: FloatArray = np.divide(
            (rate * self.visits * self.second).sum(axis=1),
            2.0 * work,
            out=np.zeros_like(work),
            where=work > 0,
        )
        if servers == 1:
            return mixed
        count = rate * self.visits
        total = count.sum(axis=1)
        scv_avg = np.divide((count * self.scv).sum(axis=1), total, out=np.zeros_like(total), where=total > 0)
        spaced = self.visit_mean(rate) * (1.0 + scv_avg) / 2.0
        return np.asarray(spaced + (mixed - spaced) / servers)

    def visit_mean(self, rate: FloatArray) -> FloatArray:
        """Mean service of the visits waiting there (by count)."""
        count = (rate * self.visits).sum(axis=1)
        work = (rate * self.visits * self.mean).sum(axis=1)
        out: FloatArray = np.divide(work, count, out=np.zeros_like(work), where=count > 0)
        return out


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
def _log_choose(counts: bytes, width: int) -> FloatArray:
    """``log C(n, k)`` for the rows ``n`` (float64 bytes) and ``k = 0..width-1``; the counts stay
    the same over the fixed-point iterations, so this is computed once per solve."""
    nn = np.frombuffer(counts, dtype=np.float64)[:, None]
    k = np.arange(width, dtype=np.float64)[None, :]
    rest = np.maximum(nn - k, 0.0)
    out = special.gammaln(nn + 1.0) - special.gammaln(k + 1.0) - special.gammaln(rest + 1.0)
    out.flags.writeable = False
    return np.asarray(out)


def _binomial(n: FloatArray, mean: FloatArray, width: int) -> FloatArray:
    """Rows of the Binomial(ceil(n), mean/ceil(n)) pmf on 0..width-1."""
    nn = np.ceil(np.maximum(n, 0.0))[:, None]
    p = np.clip(np.divide(mean[:, None], nn, out=np.zeros_like(nn), where=nn > 0), 0.0, 1.0)
    k = np.arange(width, dtype=np.float64)[None, :]
    rest = nn - k
    with np.errstate(divide="ignore", invalid="ignore"):
        # xlogy(k, p) is k log(p), and 0 where k = 0 (p not NaN); likewise xlog1py: the logs are
        # taken once per row by the same functions and multiplied out, which gives the same numbers
        log_p = special.xlogy(1.0, p)
        log_q = special.xlog1py(1.0, -p)
        known = ~np.isnan(p)
        heads = np.where((k == 0) & known, 0.0, k * log_p)
        tails = np.where((rest == 0) & known, 0.0, rest * log_q)
        log_pmf = _log_choose(nn.tobytes(), width) + heads + tails
    return np.where(k <= nn, np.exp(log_pmf), 0.0)


def queue_counts(groups: list[tuple[FloatArray, FloatArray]], servers: int) -> tuple[FloatArray, FloatArray]:
    """``(P(K >= m), E[(K - m)+])`` for ``K`` a sum of binomial counts, one per group ``(at most
    n others, mean there)``."""
    widths = [int(np.ceil(np.max(n, initial=0.0))) + 1 for n, _ in groups]
    size = 1 << int(np.ceil(np.log2(sum(widths) + 1)))
    spectrum = np.ones((groups[0][0].size, size // 2 + 1), dtype=complex)
    for (n, mean), width in zip(groups, widths, strict=True):
        spectrum *= np.fft.rfft(_binomial(n, mean, width), size, axis=1)
    pmf = np.clip(np.fft.irfft(spectrum, size, axis=1), 0.0, None)
    k = np.arange(size)
    return np.asarray(pmf[:, servers:].sum(axis=1)), np.asarray(pmf @ np.maximum(k - servers, 0.0))


def _fcfs_wait(
    groups: list[tuple[FloatArray, FloatArray]], servers: int, residual: FloatArray, visit_mean: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """A visit's mean wait at ``servers`` FCFS servers (module docstring) and the probability
    that it waits at all."""
    busy, ahead = queue_counts(groups, servers)
    return np.asarray((busy * residual + ahead * visit_mean) / servers), busy


class _Iteration:
    """Population-wide counts of one iteration (shared by the station updates)."""

    def __init__(self, d: Demands, pop: FloatArray) -> None:
        n = pop.sum(axis=1)
        p = float(d.processes)
        self.share = np.divide(1.0, n, out=np.zeros_like(n), where=n > 0)  # one request's share
        self.others = np.maximum(n - 1.0, 0.0)
        # others in one's own process: an idle thread drawn at random took each request, so the
        # n - 1 others fill n - 1 of the P T - 1 other threads, T - 1 of them in one's process
        slots = p * d.threads
        self.in_process = np.maximum(n - 1.0, 0.0) * (d.threads - 1) / max(slots - 1.0, 1.0)
        self.other_holders = np.minimum(p - 1.0, self.others)  # one lock holder per other process
        self.holders = np.minimum(p, self.others)
        self.active = np.maximum(np.minimum(p, n), 1e-300)


def solve_network(
    d: Demands, n: FloatArray, weights: FloatArray, *, iterations: int = 500, tol: float = 1e-7
) -> NetworkState:
    """Schweitzer AMVA at the populations ``n`` (``(rows,)``) with the class mix of an open
    stream: ``n_k`` proportional to ``weights_k R_k`` (Little's law), updated with the waits."""
    rows = n.size
    n_pools = len(d.pools)
    zeros = np.zeros(rows)
    w_lock, w_cl, w_cf = zeros.copy(), zeros.copy(), zeros.copy()
    w_pool, w_b = np.zeros((n_pools, rows)), np.zeros((n_pools, rows))
    resid = _residence(d, w_lock, w_cl, w_cf, w_pool, w_b)
    pop = _mix(n, weights, resid)
    it = _Iteration(d, pop)
    probs: dict[str, FloatArray] = {}
    for _ in range(iterations):
        new, probs = _waits(d, it, pop / resid, w_lock, w_cl, w_cf, w_pool, w_b)
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
    d: Demands, it: _Iteration, x: FloatArray, w_lock: FloatArray, w_cl: FloatArray, w_cf: FloatArray,
    w_pool: FloatArray, w_b: FloatArray,
) -> tuple[tuple[FloatArray, ...], dict[str, FloatArray]]:  # fmt: skip
    """New waits per visit at every station from the throughputs ``x`` and the current waits, and
    the probability that a visit waits there at all (keys ``lock``, ``core_lock``, ``core_free``,
    ``pool``, ``bouncer``)."""
    p = float(d.processes)
    lk, fr = d.lock, d.free
    # the lock (one server per process): held for the lock-held part and its wait for a core
    hold = Station(
        lk.visits,
        lk.mean + w_cl[:, None],
        lk.second + 2 * lk.mean * w_cl[:, None] + 2 * w_cl[:, None] ** 2,
        lk.scv,
    )
    busy = (x * hold.visits * hold.mean).sum(axis=1) / p
    queued = (x * lk.visits).sum(axis=1) * w_lock / p
    scale = np.divide(it.in_process, it.in_process + 1.0)  # what a request of its process sees
    new_lock = scale * (busy * hold.residual(x) + queued * hold.visit_mean(x))
    probs: dict[str, FloatArray] = {"lock": np.minimum(scale * busy, 1.0)}
    # cores: a CPU step waits for a core once (holding the lock, if it takes it) and keeps the
    # core for the whole step, lock-free part included; so the queue for cores holds only lock
    # holders, at most one per other process, or, with no lock to take, anyone
    at_l = (x * lk.visits).sum(axis=1) * w_cl + (x * lk.visits * lk.mean).sum(axis=1)
    at_f = (x * fr.visits).sum(axis=1) * w_cf + (x * fr.visits * fr.mean).sum(axis=1)
    holder, free_each = at_l / it.active, at_f * it.share
    res, vm = d.cpu.residual(x, d.cores), d.cpu.visit_mean(x)
    zero = np.zeros_like(w_cl)
    if lk.visits.any():
        new_cl, probs["core_lock"] = _fcfs_wait(
            [(it.other_holders, it.other_holders * holder), (it.others, it.others * free_each)],
            d.cores,
            res,
            vm,
        )
        new_cf, probs["core_free"] = zero, zero
    else:
        new_cf, probs["core_free"] = _fcfs_wait([(it.others, it.others * free_each)], d.cores, res, vm)
        new_cl, probs["core_lock"] = zero, zero
    new_pool, new_b = np.zeros_like(w_pool), np.zeros_like(w_b)
    probs["pool"], probs["bouncer"] = np.zeros_like(w_pool), np.zeros_like(w_b)
    for j, st in enumerate(d.pools):
        held = Station(
            st.visits,
            st.mean + w_b[j][:, None],
            st.second + 2 * st.mean * w_b[j][:, None] + 2 * w_b[j][:, None] ** 2,
            st.scv,
        )
        there = (x * st.visits).sum(axis=1) * (w_b[j] + w_pool[j]) + (x * st.visits * st.mean).sum(axis=1)
        seen = it.in_process * there * it.share
        new_pool[j], probs["pool"][j] = _fcfs_wait(
            [(it.in_process, seen)], d.pool_size[j], held.residual(x, d.pool_size[j]), held.visit_mean(x)
        )
        if d.bouncer[j] > 0:
            there_b = (x * st.visits).sum(axis=1) * w_b[j] + (x * st.visits * st.mean).sum(axis=1)
            new_b[j], probs["bouncer"][j] = _fcfs_wait(
                [(it.others, it.others * there_b * it.share)],
                d.bouncer[j],
                st.residual(x, d.bouncer[j]),
                st.visit_mean(x),
            )
    return (new_lock, new_cl, new_cf, new_pool, new_b), probs
