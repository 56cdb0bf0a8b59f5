"""The inside of one replica as a closed network: throughput and residence per class when ``n``
requests hold workers, for every ``n`` from 1 to the number of workers at once.

Mean-value analysis over these stations, visited once per step of a class's anatomy:

* the interpreter lock of the request's process (one server), held for each CPU step's lock-held
  part plus its wait for a core;
* the cores (``C`` servers): a CPU step queues once for a core, holding its process's lock, and
  keeps the core for the whole step (on releasing the lock for its lock-free part a thread goes on
  running; it does not queue again), so only lock holders queue there, one per process at most;
* per pool, its connections in the request's process (``m`` servers), held for each ``Hold`` step
  plus its wait for a PgBouncer server connection, and, where a CPU step that takes the lock
  follows the hold, plus its wait for the lock (the driver's code that gives the connection back
  runs under the lock); PgBouncer's ``L`` server connections, whose clients are the requests
  holding a pool connection (at most ``P m``);
* the downstream waits (a delay).

The populations are solved in order, each from the one before: a request arriving when ``n - 1``
others are inside sees them as the network holds ``n - 1`` requests (the arrival theorem of
Reiser & Lavenberg (1980), "Mean-value analysis of closed multichain queuing networks", JACM 27(2),
which makes this exact MVA for one class of exponential visits at single servers; several classes
are held in the open stream's mix, ``n_k`` proportional to ``rate_k R_k`` by Little's law).  An
idle thread drawn at random takes each request (as idle threads racing to accept do), so of the
``n - 1`` others, ``(n - 1)(T - 1)/(P T - 1)`` share one's own process on average.

The recursion takes every visit as exponential with its station's mean visit (by count): a visit's
wait at ``m`` FCFS servers, with ``K`` the others there counted as binomials (at most the others
that can be there, each there for its share of the time), is ``(P(K >= m) + E[(K - m)+]) E[S]/m``.
That gives the throughputs ``X(n)``.  The waits reported, and the residences built from them, are
then scaled per station by the two-moment factor ``(1 + c_s^2)/2`` of its visits' SCV ``c_s^2``
(over all classes' visits by count, so the spread between classes counts): exact for one server
with Poisson arrivals (Pollaczek-Khinchine), and Lee & Longton's (1959) approximation for many.
The lock's factor is corrected for the visits that come back to it (:func:`_returning`): during a
long hold fewer of them arrive than a Poisson stream would bring.

Holding one resource while queueing for the next (the lock while waiting for a core, a connection
while waiting for PgBouncer) is the simultaneous-resource-possession case of Jacobson & Lazowska
(1982), "Analyzing queueing networks with simultaneous resource possession", CACM 25(2): the outer
resource's holding time includes the inner resource's wait (taken as exponential for its SCV).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy import special

from capplan._validate import FloatArray
from capplan.queueing.phasetype import parts_laplace, two_moment_parts

__all__ = ["Demands", "NetworkState", "Station", "queue_counts", "solve_network"]


@dataclass(frozen=True)
class Station:
    """Per class: visits per request, the mean and second moment of one visit's service (over
    all the class's visits), and of a pool's visits those a CPU step taking the lock follows
    (their connection is kept until the thread has the lock again; 0 elsewhere)."""

    visits: FloatArray
    mean: FloatArray
    second: FloatArray
    to_lock: FloatArray

    def columns(self) -> list[FloatArray]:
        """Per class ``v``, ``v E[S]``, ``v E[S^2]`` and the visits followed by the lock: the
        weights whose sums over classes, weighted by the classes' throughputs, make the
        station's :class:`_Flow`."""
        v = self.visits
        return [v, v * self.mean, v * self.second, self.to_lock]


class _Flow(NamedTuple):
    """Throughput-weighted sums over classes at one station, per population (``(rows,)``): visits
    ``sum x v``, work ``sum x v E[S]``, ``sum x v E[S^2]`` and the visits a locked CPU step
    follows."""

    visits: FloatArray
    work: FloatArray
    second: FloatArray
    to_lock: FloatArray

    def held(self, extra: FloatArray) -> _Flow:
        """The same visits each held ``extra`` longer (a wait for an inner resource):
        ``E[(S + w)^2] = E[S^2] + 2 w E[S] + 2 w^2``, the wait taken as exponential."""
        return _Flow(
            self.visits,
            self.work + self.visits * extra,
            self.second + 2 * extra * self.work + 2 * extra**2 * self.visits,
            self.to_lock,
        )

    def kept(self, bouncer: FloatArray, lock: FloatArray) -> _Flow:
        """A pool's visits as their connections are held: for their wait for a PgBouncer server
        connection, and those a locked CPU step follows for their wait for the lock too."""
        share = np.divide(self.to_lock, self.visits, out=np.zeros_like(self.work), where=self.visits > 0)
        return self.held(bouncer + share * lock)

    def visit_mean(self) -> FloatArray:
        """Mean service of the visits (by count)."""
        out: FloatArray = np.divide(
            self.work, self.visits, out=np.zeros_like(self.work), where=self.visits > 0
        )
        return out

    def scv(self) -> FloatArray:
        """The visits' SCV (by count; 0 where the mean is 0, never below 0)."""
        mean = self.visit_mean()
        second = np.divide(self.second, self.visits, out=np.zeros_like(self.work), where=self.visits > 0)
        return np.maximum(np.divide(second, mean**2, out=np.ones_like(mean), where=mean > 0) - 1.0, 0.0)

    def factor(self) -> FloatArray:
        """The two-moment factor ``(1 + c^2)/2`` of the visits' SCV ``c^2`` (by count)."""
        return np.asarray((1.0 + self.scv()) / 2.0)


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
    # per class, the mean time of the steps between two CPU steps (None: not known, no correction)
    between: FloatArray | None = None


@dataclass(frozen=True)
class NetworkState:
    """Solution for populations ``n = 1..N`` (axis 0) and classes (axis 1); waits per visit,
    scaled by their stations' two-moment factors, and the residences built from them; the
    throughputs are the exponential recursion's (module docstring)."""

    throughput: FloatArray  # X_k(n)
    residence: FloatArray  # R_k(n)
    lock_wait: FloatArray  # (n,)
    core_wait_lock: FloatArray  # (n,): a lock holder's wait for a core
    core_wait_free: FloatArray  # (n,)
    pool_wait: FloatArray  # (pools, n)
    bouncer_wait: FloatArray  # (pools, n)
    wait_prob: dict[str, FloatArray]  # P(a visit waits), keyed as _row_waits returns them


@functools.lru_cache(maxsize=32)
def _grid(counts: bytes, width: int) -> tuple[NDArray[Any], ...]:
    """For the rows ``n`` (float64 bytes) and ``k = 0..width-1``: ``ceil(n)`` (a column), ``k``,
    ``ceil(n) - k``, ``log C(ceil(n), k)``, and the masks ``k = 0``, ``k = ceil(n)`` and
    ``k <= ceil(n)``."""
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
    """A visit's mean wait at ``servers`` FCFS servers for exponential visits of the mean of
    ``flow`` (module docstring), and the probability that it waits at all."""
    busy, ahead = queue_counts(groups, servers)
    return np.asarray((busy + ahead) * flow.visit_mean() / servers), busy


class _Counts:
    """Per population ``n`` (rows): the ``n - 1`` others an arrival finds, the other processes
    that can hold their lock, the others in its own process, and ``1/(n - 1)`` (one other's share
    of the previous population's sums); with the per-class
    weights of every station's :class:`_Flow` (one matrix product gives every station's sums)."""

    def __init__(self, d: Demands, n: FloatArray) -> None:
        p = float(d.processes)
        self.others = np.maximum(n - 1.0, 0.0)
        # an idle thread drawn at random took each request, so the n - 1 others fill n - 1 of the
        # P T - 1 other threads, T - 1 of them in one's process
        self.in_process = self.others * (d.threads - 1) / max(p * d.threads - 1.0, 1.0)
        self.other_holders = np.minimum(p - 1.0, self.others)
        self.per = np.divide(1.0, self.others, out=np.zeros_like(n), where=self.others > 0)
        self.own_pmf = _own_counts(d.processes, d.threads, self.others)
        # PgBouncer's clients are requests holding a pool connection: at most P m - 1 others
        self.clients = [np.minimum(self.others, max(d.processes * m - 1.0, 0.0)) for m in d.pool_size]
        stations = (d.lock, d.free, d.cpu, *d.pools)
        self.weights = np.ascontiguousarray(np.stack([c for st in stations for c in st.columns()]))

    def stacked(self) -> FloatArray:
        """The counts as rows: others, other_holders, in_process, per, then per pool the others
        that can be PgBouncer's clients."""
        return np.stack([self.others, self.other_holders, self.in_process, self.per, *self.clients])

    def flows(self, x: FloatArray) -> list[_Flow]:
        """Every station's sums at the throughputs ``x`` (``(rows, classes)``): lock, free, cpu,
        then the pools."""
        sums = self.weights @ x.T
        return [_Flow(*sums[i : i + 4]) for i in range(0, sums.shape[0], 4)]


def _own_counts(processes: int, threads: int, others: FloatArray) -> FloatArray:
    """Per population (rows), the hypergeometric pmf of the others in one's own process on
    ``0..T-1``: the ``n - 1`` others fill ``n - 1`` of the ``P T - 1`` other threads at random,
    ``T - 1`` of them in one's process."""
    t = threads
    k = np.arange(t, dtype=np.float64)[None, :]
    m = np.ceil(others)[:, None]
    rest = m - k
    ok = (rest >= 0) & (rest <= (processes - 1) * t)

    def log_choose(a: FloatArray | float, b: FloatArray) -> FloatArray:
        return np.asarray(special.gammaln(a + 1.0) - special.gammaln(b + 1.0) - special.gammaln(a - b + 1.0))

    with np.errstate(invalid="ignore"):
        log_p = log_choose(t - 1.0, k) + log_choose((processes - 1.0) * t, np.where(ok, rest, 0.0))
        log_p = log_p - log_choose(processes * t - 1.0, m)
    return np.asarray(np.where(ok, np.exp(np.where(ok, log_p, 0.0)), 0.0))


def _process_lock(pmf: FloatArray, demand: FloatArray, think: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Expected others at one's own process's lock (queued or holding it) and the probability
    that it is held, for the own-process counts' pmf ``pmf`` (``(rows, T)``): exact MVA of the
    process alone (its lock, with ``demand`` per request, and the rest of a request's time
    ``think`` as a delay) at each count ``k < T``."""
    queue, held = np.zeros(pmf.shape), np.zeros(pmf.shape)
    for k in range(1, pmf.shape[1]):
        at_lock = demand * (1.0 + queue[:, k - 1])
        x = k / np.maximum(at_lock + think, 1e-300)
        queue[:, k], held[:, k] = x * at_lock, x * demand
    return (pmf * queue).sum(axis=1), np.minimum((pmf * held).sum(axis=1), 1.0)


def solve_network(d: Demands, n: FloatArray, weights: FloatArray, *, compiled: bool = True) -> NetworkState:
    """The network at the populations ``n = 1, 2, ..., N`` (``(rows,)``, in order) with the class
    mix of an open stream: ``n_k`` proportional to ``weights_k R_k`` (Little's law).

    ``compiled`` runs the recursion in :mod:`capplan.layered._network_kernel` (the same
    arithmetic, without NumPy's per-call overhead); False runs this module's NumPy code."""
    counts = _Counts(d, n)
    if compiled:
        waits, probs, resid, pop = _recurse_compiled(d, counts, n, weights)
    else:
        waits, probs, resid, pop = _recurse(d, counts, n, weights)
    x = pop / _bounded(d, n, pop, resid)
    flows = counts.flows(x)
    returning = _returning(d, flows[0].held(waits[1]), x)
    factors = _factors(d, flows, waits)
    factors[0] *= returning
    scaled = waits * factors
    k = len(d.pools)
    wait_prob = {
        "lock": np.minimum(probs[0] * returning, 1.0),
        "core_lock": probs[1],
        "core_free": probs[2],
        "pool": probs[3 : 3 + k],
        "bouncer": probs[3 + k :],
    }
    pools, bouncers = scaled[3 : 3 + k], scaled[3 + k :]
    return NetworkState(x, _residence(d, scaled), scaled[0], scaled[1], scaled[2], pools, bouncers, wait_prob)


def _recurse(
    d: Demands, counts: _Counts, n: FloatArray, weights: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Waits and waiting probabilities per station (rows: lock, core for a lock holder, core
    lock-free, the pools, the PgBouncers) and population, residences and populations per class:
    each population from the one before (the empty network before the first)."""
    rows, k = n.size, 3 + 2 * len(d.pools)
    waits, probs = np.zeros((k, rows)), np.zeros((k, rows))
    resid, pop = np.zeros((rows, weights.size)), np.zeros((rows, weights.size))
    x_prev, w_prev = np.zeros((1, weights.size)), np.zeros((k, 1))
    table = counts.stacked()
    for r in range(rows):
        row, pmf = table[:, r : r + 1], counts.own_pmf[r : r + 1]
        waits[:, r : r + 1], probs[:, r : r + 1] = _row_waits(
            d, row, pmf, counts.flows(x_prev), x_prev.sum(axis=1), w_prev
        )
        resid[r : r + 1] = _residence(d, waits[:, r : r + 1])
        pop[r : r + 1] = _mix(n[r : r + 1], weights, resid[r : r + 1])
        x_prev, w_prev = pop[r : r + 1] / resid[r : r + 1], waits[:, r : r + 1]
    return waits, probs, resid, pop


def _recurse_compiled(
    d: Demands, counts: _Counts, n: FloatArray, weights: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """:func:`_recurse` in the compiled kernel."""
    from capplan.layered._network_kernel import recurse  # noqa: PLC0415 - numba loads only to solve

    stations = (d.lock, d.free, d.cpu, *d.pools)
    width = max(d.cores, *d.pool_size, *d.bouncer, 1)
    sizes = np.array([d.processes, d.cores, int(d.lock.visits.any()), width, *d.pool_size, *d.bouncer])
    k = 3 + 2 * len(d.pools)
    waits, probs = np.zeros((k, n.size)), np.zeros((k, n.size))
    resid, pop = np.zeros((n.size, weights.size)), np.zeros((n.size, weights.size))
    recurse(
        counts.weights,
        np.stack([st.visits for st in stations]).astype(np.float64),
        np.stack([st.mean for st in stations]).astype(np.float64),
        np.array(d.delay, dtype=np.float64),  # copies: writable and contiguous, as compiled
        np.array(n, dtype=np.float64),
        np.array(weights, dtype=np.float64),
        counts.stacked(),
        counts.own_pmf if d.processes > 1 else np.ones((n.size, 1)),
        sizes.astype(np.int64),
        waits,
        probs,
        resid,
        pop,
    )
    return waits, probs, resid, pop


def _row_waits(
    d: Demands, row: FloatArray, pmf: FloatArray, prev: list[_Flow], x_total: FloatArray, w: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """One population's waits per visit and probabilities of waiting (stacked as in
    :func:`_recurse`), from the previous population's station sums ``prev``, total throughput
    ``x_total`` and waits ``w``; ``row``: the population's :meth:`_Counts.stacked` column,
    ``pmf``: its own-process counts' pmf."""
    others, other_holders, in_process, per, *clients = row
    lk, fr, cpu, pools = prev[0], prev[1], prev[2], prev[3:]
    n_pools = len(pools)
    new, probs = np.zeros_like(w), np.zeros_like(w)
    # the lock (one server per process): held for the lock-held part and its wait for a core
    hold = lk.held(w[1])
    own = in_process * per
    seen, probs[0] = _lock_seen(d, pmf, hold, lk.visits * w[0], x_total, others, own)
    new[0] = seen * hold.visit_mean()
    # cores: a CPU step waits for a core once (holding the lock, if it takes it) and keeps the
    # core for the whole step, lock-free part included; so the queue for cores holds only lock
    # holders, at most one per other process, or, with no lock to take, anyone
    free_each = fr.held(w[2]).work * per
    if d.lock.visits.any():
        # the locks held before: all but those of one's own process (one's own lock is one's own)
        holding = np.minimum(hold.work * (1.0 - own), other_holders)
        groups = [(other_holders, holding), (others, others * free_each)]
        new[1], probs[1] = _fcfs_wait(groups, d.cores, cpu)
    else:
        new[2], probs[2] = _fcfs_wait([(others, others * free_each)], d.cores, cpu)
    for j, st in enumerate(pools):
        held = st.kept(w[3 + n_pools + j], w[0])
        seen = in_process * held.held(w[3 + j]).work * per
        new[3 + j], probs[3 + j] = _fcfs_wait([(in_process, seen)], d.pool_size[j], held)
        if d.bouncer[j] > 0:  # server connections go back when the hold ends
            there = np.minimum(others * st.held(w[3 + n_pools + j]).work * per, clients[j])
            new[3 + n_pools + j], probs[3 + n_pools + j] = _fcfs_wait([(clients[j], there)], d.bouncer[j], st)
    return new, probs


def _lock_seen(
    d: Demands, pmf: FloatArray, hold: _Flow, queued: FloatArray, x_total: FloatArray, others: FloatArray,
    own: FloatArray,
) -> tuple[FloatArray, FloatArray]:  # fmt: skip
    """Others at one's own lock (holding it or queued) and the probability that it is held, from
    the previous population's lock sums ``hold`` (visits held for their core wait), its queue
    ``queued`` and total throughput ``x_total``.  With one process the process is the replica:
    the previous population's lock, all of it.  With several, a process with ``k`` others is
    solved alone (:func:`_process_lock`) with the previous population's per-request lock demand
    and the rest of its residence as a delay, over the hypergeometric ``k``: the others are
    not each at one's lock for the replica-wide share, since a crowded process queues more than
    its share (``own``: the share of the others in one's process, for the single process)."""
    if d.processes == 1:
        return own * (hold.work + queued), np.minimum(own * hold.work, 1.0)
    safe = np.maximum(x_total, 1e-300)
    demand = hold.work / safe
    think = np.maximum((others - queued) / safe - demand, 0.0)
    return _process_lock(pmf, demand, think)


def _factors(d: Demands, flows: list[_Flow], waits: FloatArray) -> FloatArray:
    """Per station (stacked as in :func:`_recurse`) and population, the two-moment factor of the
    visits waiting there: the lock's held for their wait for a core, a pool's for PgBouncer."""
    n_pools = len(d.pools)
    lk, cpu, pools = flows[0], flows[2], flows[3:]
    out = np.ones_like(waits)
    out[0] = lk.held(waits[1]).factor()
    out[1] = out[2] = cpu.factor()
    for j, st in enumerate(pools):
        out[3 + j] = st.kept(waits[3 + n_pools + j], waits[0]).factor()
        out[3 + n_pools + j] = st.factor()
    return out


def _returning(d: Demands, lock: _Flow, x: FloatArray) -> FloatArray:
    """Per population, the factor on the lock's waits for the visits that come back to it.

    A request comes back for the lock after the steps between two CPU steps (a gap ``G_k`` of mean
    ``g_k`` for class ``k``; taken as exponential).  Pollaczek-Khinchine's residual term
    ``lam E[S^2]/2`` counts arrivals evenly over a hold ``S``; but visits that come back from the
    lock's own queue stop coming during a long hold (none left it since it began), their rate
    falling as ``P(G_k > t)``.  That cuts their part of the term by
    ``E[((S - G_k)^+)^2] / E[S^2]``, with
    ``E[((S - G)^+)^2] = E[S^2] - 2 g E[S] + 2 g^2 (1 - L_S(1/g))`` (``L_S``: the Laplace transform
    of the holds' two-moment fit).  With exponential holds the recursion is exact and the
    coming-back visits change nothing, so the factor is the cut for the fitted holds over the cut
    for exponential ones of the same mean: 1 for exponential holds, below 1 for more variable
    ones, above 1 for less variable ones.  Against the simulation (one process, two 5 ms holds a
    request around a wait; tests/test_layered_serialized.py): SCV 4 with 20 ms between, the lock's
    wait 48.5 -> 41.0 ms, simulated 38.0 ms; constant holds 5 ms apart, 20.0 -> 23.1 ms, simulated
    26.4 ms."""
    ones = np.ones(x.shape[0])
    again = np.maximum(d.lock.visits - 1.0, 0.0)
    if d.between is None or not again.any():
        return ones
    gap = np.asarray(d.between + d.free.mean)[None, :]
    mean = lock.visit_mean()[:, None]
    scv = lock.scv()[:, None]
    second = mean**2 * (1.0 + scv)
    parts = two_moment_parts(np.maximum(mean, 1e-300), scv)
    with np.errstate(divide="ignore", invalid="ignore"):
        fitted = second - 2.0 * gap * mean + 2.0 * gap**2 * (1.0 - parts_laplace(parts, 1.0 / gap))
        fitted = np.where(gap > 0, fitted, second)
    visits = x @ d.lock.visits
    # per row and class: the share of the lock's visits that come back
    share = x * again / np.maximum(visits, 1e-300)[:, None]
    zero = np.zeros_like(fitted)
    cut_fit = 1.0 - (share * np.divide(fitted, second, out=zero.copy(), where=second > 0)).sum(axis=1)
    cut_exp = 1.0 - (share * np.divide(mean, mean + gap, out=zero.copy(), where=gap > 0)).sum(axis=1)
    return np.asarray(np.where(cut_exp > 0, cut_fit / np.maximum(cut_exp, 1e-300), 1.0))


def _bounded(d: Demands, n: FloatArray, pop: FloatArray, resid: FloatArray) -> FloatArray:
    """Residences shortened where their throughput falls below the balanced-job lower bound
    ``n / (D + (n - 1) D_max)`` (Zahorjan, Sevcik, Eager & Galler (1982), "Balanced job bound
    analysis of queueing networks", CACM 25(2)): a replica is never slower than its bottleneck
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


def _residence(d: Demands, waits: FloatArray) -> FloatArray:
    """Per population and class, the time inside from the stacked waits per visit."""
    n_pools = len(d.pools)
    out = d.lock.visits * (d.lock.mean + (waits[1] + waits[0])[:, None])
    out = out + d.free.visits * (d.free.mean + waits[2][:, None]) + d.delay
    for j, st in enumerate(d.pools):
        out = out + st.visits * (st.mean + (waits[3 + n_pools + j] + waits[3 + j])[:, None])
    return np.asarray(np.maximum(out, 1e-300))
