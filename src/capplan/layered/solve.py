"""Analytic solution of a :class:`~capplan.layered.model.ServiceModel`.

Hierarchical decomposition (Chandy, Herzog & Woo (1975), "Parametric analysis of queuing networks",
IBM J. Res. Dev. 19(1); the method of layers of Rolia & Sevcik (1995), IEEE TSE 21(8), uses the
same split): requests holding workers form a closed network inside the replica
(:mod:`capplan.layered._network`), solved for every population ``n`` up to the number of workers;
its throughput ``X(n)`` makes the workers a flow-equivalent server, and the queue for a worker is
the birth-death chain with arrival rate ``lambda`` and service rate ``X(min(n, M))``.  An arrival
that finds ``n`` requests in the replica works alongside ``min(n + 1, M)`` of them; per class,

* the wait for a worker is an atom at 0 and, beyond ``M``, exponential with rate
  ``X(M) - lambda`` (exact for the flow-equivalent server), its mean scaled by the two-moment
  factor of the arrivals and the time inside (:func:`_variability`);
* the time inside is the network's residence at that population, whose variance adds the steps'
  own variances, the queueing waits' (each an atom at 0 and an exponential), and the spread over
  populations, and whose third cumulant adds the steps' and the waits'; it enters the response
  time as a shift (its constant steps, and more where it is more skewed than a two-moment fit)
  plus a two-moment phase-type fit (:mod:`capplan.queueing.phasetype`) matching its variance and
  third cumulant (:func:`_inside_fit`), convolved with the wait (:mod:`capplan.queueing._sojourn`).

This is an approximation; its error against :func:`capplan.layered.simulate.simulate` over a grid of
layouts is in ``docs/accuracy.md``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pandas as pd

from capplan._validate import FloatArray
from capplan.layered._network import Demands, NetworkState, Station, solve_network
from capplan.layered.model import Cpu, Hold, ServiceModel, Step
from capplan.layered.result import QUANTILES, LayeredResult, layer_names
from capplan.queueing._sojourn import WaitLaw, response_quantile, response_survival, wait_quantile
from capplan.queueing.phasetype import scv_with_skewness, third_cumulant
from capplan.queueing.service import TwoMomentService

__all__ = ["METHOD", "ResponseLaw", "layer_loads", "offered_utilization", "solve", "solve_for_targets"]

METHOD = (
    "approx: flow-equivalent server for the workers over MVA of the lock, cores, pools and "
    "PgBouncer by population (arrival theorem), two-moment factors on the waits (simultaneous "
    "possession by surrogate holding times)"
)


def _station(
    steps: tuple[tuple[Step, ...], ...], pick: Callable[[Step], tuple[float, float] | None]
) -> Station:
    """Per class the visits, mean and second moment of the visits ``pick`` maps a step to
    (``(mean, scv)`` of that visit's service, or None where the step does not visit)."""
    visits, means, seconds = [], [], []
    for cls_steps in steps:
        found = [v for v in (pick(s) for s in cls_steps) if v is not None]
        visits.append(float(len(found)))
        means.append(float(np.mean([m for m, _ in found])) if found else 0.0)
        seconds.append(float(np.mean([m * m * (1 + c) for m, c in found])) if found else 0.0)
    return Station(*(_frozen(a) for a in (visits, means, seconds, [0.0] * len(visits))))


def _frozen(values: list[float]) -> FloatArray:
    out = np.array(values, dtype=np.float64)
    out.flags.writeable = False  # shared by every model with the same steps (_stations)
    return out


@functools.lru_cache(maxsize=64)
def _stations(
    steps: tuple[tuple[Step, ...], ...], share: float, pools: tuple[str, ...]
) -> tuple[Station, Station, Station, tuple[Station, ...]]:
    """The lock, lock-free, cpu and pool stations, which depend only on the classes' steps, the
    lock-held share of CPU work and the pools' names (not on the rates or the layout), so the
    sizing search's models share them.  A pool's ``to_lock`` counts its holds that a CPU step
    taking the lock follows: their connection goes back only once the thread has the lock."""

    def part(fraction: float) -> Callable[[Step], tuple[float, float] | None]:
        return lambda s: (s.mean * fraction, s.scv) if isinstance(s, Cpu) and fraction > 0 else None

    def holds(name: str) -> Callable[[Step], tuple[float, float] | None]:
        return lambda s: (s.mean, s.scv) if isinstance(s, Hold) and s.pool == name else None

    def to_lock(name: str) -> FloatArray:  # per class: holds of the pool a locked CPU step follows
        def kept(a: Step, b: Step) -> bool:
            return isinstance(a, Hold) and a.pool == name and isinstance(b, Cpu) and share > 0

        return _frozen([float(sum(kept(a, b) for a, b in pairwise(c))) for c in steps])

    return (
        _station(steps, part(share)),
        _station(steps, part(1.0 - share)),
        _station(steps, part(1.0)),
        tuple(dataclasses.replace(_station(steps, holds(name)), to_lock=to_lock(name)) for name in pools),
    )


def demands(model: ServiceModel) -> Demands:
    lock, free, cpu, pools = _stations(
        tuple(c.steps for c in model.classes), model.lock_share, tuple(model.pools)
    )
    return Demands(
        lock=lock,
        free=free,
        cpu=cpu,
        pools=pools,
        delay=np.array([c.waits for c in model.classes]),
        processes=model.workers.processes,
        threads=model.workers.threads,
        cores=model.cores,
        pool_size=tuple(p.size for p in model.pools.values()),
        bouncer=tuple(p.server_limit or 0 for p in model.pools.values()),
        between=_between(tuple(c.steps for c in model.classes)),
    )


@functools.lru_cache(maxsize=64)
def _between(steps: tuple[tuple[Step, ...], ...]) -> FloatArray:
    """Per class, the mean time of the steps between two consecutive CPU steps (0 with fewer than
    two): how long a request is away from the lock before it comes back."""
    out = []
    for cls_steps in steps:
        at = [i for i, s in enumerate(cls_steps) if isinstance(s, Cpu)]
        gaps = [sum(s.mean for s in cls_steps[a + 1 : b]) for a, b in pairwise(at)]
        out.append(float(np.mean(gaps)) if gaps else 0.0)
    return _frozen(out)


def _network(model: ServiceModel, d: Demands) -> NetworkState:
    """The network at n = 1..M with the arrivals' class mix."""
    rates = np.array([c.rate for c in model.classes], dtype=np.float64)
    weights = rates if rates.sum() > 0 else np.ones(rates.size)
    return solve_network(_serialized(d), np.arange(1, model.workers.slots + 1, dtype=np.float64), weights)


def _serialized(d: Demands) -> Demands:
    """``d`` as the network sees it.  On one core a CPU step's lock-free part overlaps nothing:
    the thread keeps the only core, and whoever takes the lock meanwhile waits for that core.  So
    the lock and the core serialize whole steps, and the network holds the lock for the whole
    step (the layer table still reports the lock-held part as the lock's work).  Splitting the
    step there under-predicted the grid's one-core, one-process replicas by 20-40% at p95."""
    if d.cores != 1 or not d.lock.visits.any():
        return d
    zero = np.zeros_like(d.free.visits)
    return dataclasses.replace(d, lock=d.cpu, free=Station(zero, zero, zero, zero))


def _birth_death(lam: float, capacity: FloatArray) -> tuple[FloatArray, float, float]:
    """``P(n)`` for n = 0..M-1, ``P(n >= M)``, and ``E[(n - M)+]``; capacity[i] = X(i + 1)."""
    m = capacity.size
    with np.errstate(divide="ignore"):
        log_terms = np.concatenate([[0.0], np.cumsum(np.log(lam) - np.log(capacity))])  # n = 0..M
    r = lam / capacity[-1]
    if r >= 1.0:
        return np.zeros(m), 1.0, math.inf
    # n >= M: geometric with ratio r from the term of n = M
    log_tail = log_terms[m] - math.log1p(-r)
    top = max(log_terms.max(), log_tail)
    weights = np.exp(log_terms[:m] - top)
    tail = math.exp(log_tail - top)
    total = weights.sum() + tail
    waiting = math.exp(log_terms[m] - top) * r / (1.0 - r) ** 2 / total
    return weights / total, tail / total, waiting


def _moments(model: ServiceModel, d: Demands, net: NetworkState) -> tuple[FloatArray, FloatArray]:
    """Variance and third cumulant of the time inside per population and class: the steps' own
    plus each visit's queueing wait, zero with probability ``1 - p`` and else exponential with
    mean ``a = w / p`` (``w`` its mean, ``p`` the probability that the visit waits), so of variance
    ``2 w a - w^2`` and third cumulant ``6 w a (a - w) + 2 w^3``: the same law the waits table
    reports.  A lock visit waits for the lock and then for a core; its ``p`` is the larger of the
    two."""
    own_var, own_k3 = _step_moments(tuple(c.steps for c in model.classes))
    prob = net.wait_prob

    def law(wait: FloatArray, p: FloatArray) -> tuple[FloatArray, FloatArray]:
        a = np.divide(wait, p, out=np.zeros_like(wait), where=p > 0)
        var = np.where(p > 0, wait * (2.0 * a - wait), 0.0)
        k3 = np.where(p > 0, 6.0 * wait * a * (a - wait) + 2.0 * wait**3, 0.0)
        return var[:, None], k3[:, None]

    visits = [
        (d.lock.visits, law(net.lock_wait + net.core_wait_lock, np.maximum(prob["lock"], prob["core_lock"]))),
        (d.free.visits, law(net.core_wait_free, prob["core_free"])),
    ]
    for j, st in enumerate(d.pools):
        pool_p = np.maximum(prob["pool"][j], prob["bouncer"][j])
        visits.append((st.visits, law(net.pool_wait[j] + net.bouncer_wait[j], pool_p)))
    var = own_var + sum(v * m[0] for v, m in visits)
    k3 = own_k3 + sum(v * m[1] for v, m in visits)
    return np.asarray(var), np.asarray(k3)


@functools.lru_cache(maxsize=64)
def _step_moments(steps: tuple[tuple[Step, ...], ...]) -> tuple[FloatArray, FloatArray]:
    """Per class, the variance and third cumulant of its steps' own times (the fits the simulation
    draws from, :func:`~capplan.queueing.phasetype.third_cumulant`)."""
    var = [sum(s.scv * s.mean**2 for s in c) for c in steps]
    timed = [[s for s in c if s.mean > 0] for c in steps]
    k3 = [float(third_cumulant([s.mean for s in c], [s.scv for s in c]).sum()) for c in timed]
    return _frozen(var), _frozen(k3)


@dataclass(frozen=True)
class ResponseLaw:
    """Per class (one row each), the response time as the solve describes it: the wait for a
    worker (``worker``), then the time inside, a shift ``fixed`` plus a two-moment fit ``rest``
    of the remainder (module docstring, :func:`_inside_fit`)."""

    worker: WaitLaw
    rest: TwoMomentService
    fixed: FloatArray

    def survival(self, t: FloatArray) -> FloatArray:
        """``P(T > t)``, ``t`` of shape ``(classes, k)``: one evaluation, where a quantile is a root
        search; ``q_p <= t`` exactly when ``P(T > t) <= 1 - p``."""
        return response_survival(np.asarray(t) - self.fixed[:, None], self.worker, self.rest)

    def quantile(self, p: FloatArray) -> FloatArray:
        """Quantiles ``p`` (shape ``(1, k)`` or ``(classes, k)``) per class, seconds."""
        return response_quantile(p, self.worker, self.rest, rtol=1e-9) + self.fixed[:, None]


@dataclass(frozen=True)
class _Solved:
    """The pieces of a solve that its tables are built from."""

    demands: Demands
    net: NetworkState
    weights: FloatArray  # P(an arrival works alongside n others), n = 1..M
    busy: float  # mean busy workers
    queue_wait: float  # mean wait for a worker over all requests
    response_mean: FloatArray
    law: ResponseLaw


def _solved(model: ServiceModel) -> _Solved:
    d = demands(model)
    lam = model.arrival_rate
    net = _network(model, d)
    capacity = net.throughput.sum(axis=1)
    m = model.workers.slots
    below, waiting_p, queue = _birth_death(lam, capacity) if lam > 0 else (np.eye(1, m)[0], 0.0, 0.0)
    # an arrival finding n < M works alongside n + 1; finding n >= M, alongside M
    weights = below.copy()
    weights[-1] += waiting_p
    inside = weights @ net.residence
    spread = weights @ net.residence**2 - inside**2
    var, k3 = _moments(model, d, net)
    inside_var = weights @ var + np.maximum(spread, 0.0)
    # the populations' own third cumulants, averaged: their spread adds variance but no skew (with
    # it, docs/accuracy.md's grid over-predicted the p99 by more than 15% in 48 classes at the
    # busiest layer's 0.7-0.9 instead of 38; the mixture's tail is heavier than the simulation's)
    inside_k3 = weights @ k3
    unstable = not math.isfinite(queue)
    fcfs = queue / lam * _variability(model, net.residence[-1], var[-1]) if lam > 0 else 0.0
    worker_wait = _worker_waits(model, fcfs, capacity[-1])
    with np.errstate(divide="ignore", invalid="ignore"):  # column vectors: one row per class
        worker_law = WaitLaw.exponential(
            np.full((worker_wait.size, 1), 1.0 if unstable else waiting_p),
            np.where(np.isfinite(worker_wait), waiting_p / worker_wait, 0.0)[:, None],
        )
    fixed, rest, scv = _inside_fit(model, inside, inside_var, inside_k3)
    shape = TwoMomentService(rest[:, None], scv[:, None])
    busy = float(below @ np.arange(m) + waiting_p * m) if not unstable else float(m)
    return _Solved(
        d,
        net,
        weights,
        busy,
        queue / lam if lam > 0 else 0.0,
        worker_wait + inside,
        ResponseLaw(worker_law, shape, fixed),
    )


def solve(model: ServiceModel, *, waits: bool = True) -> LayeredResult:
    """Per class response times, per class and layer waits, per layer utilizations (module
    docstring); with ``waits=False`` the result's ``waits`` table is left out (None), for callers
    that read only the response times and utilizations."""
    s = _solved(model)
    qs = s.law.quantile(np.array(QUANTILES)[None, :])
    classes = pd.DataFrame(
        {"rate": [c.rate for c in model.classes], "response_mean": s.response_mean}
        | {f"response_p{q * 100:g}": qs[:, i] for i, q in enumerate(QUANTILES)},
        index=[c.name for c in model.classes],
    )
    table = _wait_table(model, s.demands, s.net, s.weights, s.law.worker) if waits else None
    return _result(model, s, classes, table)


def solve_for_targets(model: ServiceModel) -> tuple[LayeredResult, ResponseLaw]:
    """The solve without its quantiles and waits table (its ``classes`` has the rate and the mean
    response only), and the response law to check quantile targets against: one survival
    evaluation per target instead of a root search per quantile (the sizing search's verdicts)."""
    s = _solved(model)
    classes = pd.DataFrame(
        {"rate": [c.rate for c in model.classes], "response_mean": s.response_mean},
        index=[c.name for c in model.classes],
    )
    return _result(model, s, classes, None), s.law


def _result(
    model: ServiceModel, s: _Solved, classes: pd.DataFrame, table: pd.DataFrame | None
) -> LayeredResult:
    layers = _layer_frame(_layer_rows(model, s.demands, s.busy, s.net, s.weights))
    layers.loc["workers", "wait_mean"] = s.queue_wait
    return LayeredResult(classes, layers, METHOD, _memory(model, s.busy), waits=table)


def _inside_fit(
    model: ServiceModel, inside: FloatArray, var: FloatArray, k3: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per class, the time inside (mean ``inside``, variance ``var``, third cumulant ``k3``) as a
    shift plus a two-moment fit: ``(shift, fit mean, fit SCV)``.

    The shift is at least the class's constant steps (SCV 0), short of its whole time: a constant
    is a shift, and a sum of a constant and skewed steps is not the shape of a two-moment fit to
    the whole.  Where the rest is more skewed than the fit to its mean and variance (a sum of an
    Erlang-like step and a hyperexponential one; a two-moment fit of SCV 0.7 is an Erlang mixture
    of skewness 1.5 where the sum's may be 4), the shift grows until the fit's skewness at the
    remaining mean is the rest's: three moments matched (the shifted fit keeps the variance and
    the third cumulant, and a smaller mean raises the fit's SCV and with it its skewness).
    """
    constant = np.array([sum(s.mean for s in c.steps if s.scv == 0.0) for c in model.classes])
    shift = np.minimum(constant, 0.999 * inside)
    rest = inside - shift
    with np.errstate(divide="ignore", invalid="ignore"):
        scv = var / rest**2
        skew = k3 / var**1.5
        fitted = third_cumulant(1.0, scv) / scv**1.5  # the fit's skewness at the rest's SCV
        more = (var > 0) & (rest > 0) & np.isfinite(skew) & (skew > np.nan_to_num(fitted, nan=np.inf))
    if not more.any():
        return np.asarray(shift), np.asarray(rest), np.asarray(scv)
    matched = scv.copy()
    matched[more] = np.maximum(scv_with_skewness(skew[more]), scv[more])
    fit_mean = rest.copy()
    fit_mean[more] = np.sqrt(var[more] / matched[more])
    return np.asarray(inside - fit_mean), np.asarray(fit_mean), np.asarray(matched)


def _variability(model: ServiceModel, full: FloatArray, full_var: FloatArray) -> float:
    """The two-moment factor ``(c_a^2 + c_s^2) / 2`` on the worker queue's wait (Allen 1990,
    "Probability, Statistics, and Queueing Theory", 2nd ed., §6.4; for Poisson arrivals Lee &
    Longton's M/G/c): the flow-equivalent server's birth-death chain is the queue of exponential
    times inside, so the wait beyond it scales with ``c_a^2`` of the merged arrivals
    (rate-weighted, as Whitt's QNA superposes streams) and ``c_s^2`` of the time inside at full
    population (mean ``full`` and variance ``full_var`` per class, mixed over classes)."""
    share = np.array([c.rate for c in model.classes])
    share = share / share.sum()
    ca2 = float(share @ np.array([c.arrival_scv for c in model.classes]))
    mean = float(share @ full)
    cs2 = max(float(share @ (full_var + full**2)) / mean**2 - 1.0, 0.0)
    return (ca2 + cs2) / 2.0


def _worker_waits(model: ServiceModel, fcfs: float, capacity: float) -> FloatArray:
    """Mean wait for a worker per class: the FCFS mean, or with priorities the non-preemptive
    priority formula (Cobham 1954) over the flow-equivalent server's capacity ``X(M)``, whose
    rate-weighted mean is the FCFS mean (work conservation)."""
    rates = np.array([c.rate for c in model.classes])
    prio = np.array([c.priority for c in model.classes])
    load = rates / capacity
    above = np.array([load[prio > p].sum() for p in prio])  # strictly higher priority
    upto = above + np.array([load[prio == p].sum() for p in prio])
    if not math.isfinite(fcfs) or upto.max() >= 1.0:
        return np.full(rates.size, math.inf)
    base = fcfs * (1.0 - load.sum())
    return np.asarray(base / ((1.0 - above) * (1.0 - upto)))


def _wait_table(
    model: ServiceModel, d: Demands, net: NetworkState, weights: FloatArray, worker: WaitLaw
) -> pd.DataFrame:
    """Per class and layer: the mean and quantiles of the time spent queueing for the layer, all
    visits together (``worker``: the worker-queue law, one row per class).  Inside the replica, a
    class's ``v`` visits to a layer whose visits wait with probability ``p`` and mean ``w`` wait at
    all with probability ``1 - (1 - p)^v``, and then exponentially with mean ``v w`` over that."""

    def avg(a: FloatArray) -> float:  # over the populations an arrival finds
        return float(weights @ a)

    prob = net.wait_prob
    parts: list[list[tuple[FloatArray, float, float]]] = [
        [(d.lock.visits, avg(net.lock_wait), avg(prob["lock"]))],
        [
            (d.lock.visits, avg(net.core_wait_lock), avg(prob["core_lock"])),
            (d.free.visits, avg(net.core_wait_free), avg(prob["core_free"])),
        ],
    ]
    for j, pool in enumerate(model.pools.values()):
        parts.append([(d.pools[j].visits, avg(net.pool_wait[j]), avg(prob["pool"][j]))])
        if pool.server_limit:
            parts.append([(d.pools[j].visits, avg(net.bouncer_wait[j]), avg(prob["bouncer"][j]))])
    mean = np.array([sum(v * w for v, w, _ in layer) for layer in parts]).T  # (classes, layers)
    none = np.array([np.prod([(1.0 - p) ** v for v, _, p in layer], axis=0) for layer in parts]).T
    at_all = np.clip(1.0 - none, 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = WaitLaw.exponential(at_all[..., None], np.where(mean > 0, at_all / mean, 1.0)[..., None])
    levels = np.array(QUANTILES)
    quant = np.concatenate(
        [wait_quantile(levels[None, :], worker)[:, None, :], wait_quantile(levels[None, None, :], inner)],
        axis=1,
    )
    means = np.concatenate([worker.mean, mean], axis=1)
    index = pd.MultiIndex.from_product(
        [[c.name for c in model.classes], layer_names(model)], names=["class", "layer"]
    )
    frame = pd.DataFrame({"mean": means.ravel()}, index=index)
    for i, q in enumerate(QUANTILES):
        frame[f"p{q * 100:g}"] = quant[..., i].ravel()
    return frame


def _memory(model: ServiceModel, busy: float) -> float | None:
    mem = model.memory
    if mem is None:
        return None
    return mem.base + mem.per_worker * model.workers.slots + mem.per_request * busy


def layer_loads(
    model: ServiceModel,
    *,
    busy_workers: float | None = None,
    state: NetworkState | None = None,
    weights: FloatArray | None = None,
) -> pd.DataFrame:
    """Utilization of each layer (busy servers over servers) and the mean wait per request for it.

    Without a solved ``state`` the waits are NaN and holding times are bare (the offered load: a
    lock held while waiting for a core, or a connection while waiting for PgBouncer, is busier).
    """
    return _layer_frame(_layer_rows(model, demands(model), busy_workers, state, weights))


def _layer_frame(rows: dict[str, dict[str, float]]) -> pd.DataFrame:
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "layer"
    return frame


def _finite(x: float) -> float:
    return x if math.isfinite(x) else 0.0


def offered_utilization(model: ServiceModel) -> dict[str, float]:
    """Per layer, the utilization of :func:`layer_loads` without a solve (the offered load; NaN
    for the workers), without building its table."""
    rows = _layer_rows(model, demands(model), None, None, None)
    return {layer: row["utilization"] for layer, row in rows.items()}


def _layer_rows(
    model: ServiceModel,
    d: Demands,
    busy_workers: float | None,
    state: NetworkState | None,
    weights: FloatArray | None,
) -> dict[str, dict[str, float]]:
    """:func:`layer_loads`'s rows, for the demands ``d`` of ``model``."""
    rates = np.array([c.rate for c in model.classes])
    lam = float(rates.sum())
    p = model.workers.processes

    def avg(a: FloatArray) -> float:
        return float(weights @ a) if state is not None and weights is not None else math.nan

    def per_request(visits: FloatArray, wait: float) -> float:
        return float(rates @ visits) * wait / lam if lam > 0 else math.nan

    w_cl = avg(state.core_wait_lock) if state is not None else 0.0
    lock_work = float(rates @ (d.lock.visits * (d.lock.mean + (w_cl if math.isfinite(w_cl) else 0.0))))
    cpu = float(rates @ (d.lock.visits * d.lock.mean + d.free.visits * d.free.mean))
    rows: dict[str, dict[str, float]] = {
        "workers": {
            "servers": model.workers.slots,
            "utilization": math.nan if busy_workers is None else busy_workers / model.workers.slots,
            "wait_mean": math.nan,
        },
        "event loop" if model.event_loop else "interpreter lock": {
            "servers": p,
            "utilization": lock_work / p,
            "wait_mean": per_request(d.lock.visits, avg(state.lock_wait)) if state is not None else math.nan,
        },
        "cores": {
            "servers": model.cores,
            "utilization": cpu / model.cores,
            "wait_mean": (
                per_request(d.lock.visits, w_cl) + per_request(d.free.visits, avg(state.core_wait_free))
                if state is not None
                else math.nan
            ),
        },
    }
    for j, (name, pool) in enumerate(model.pools.items()):
        st = d.pools[j]
        w_b = avg(state.bouncer_wait[j]) if state is not None else 0.0
        w_l = avg(state.lock_wait) if state is not None else 0.0  # connections kept for the lock
        held = float(rates @ (st.visits * st.mean))
        extra = float(rates @ st.visits) * _finite(w_b) + float(rates @ st.to_lock) * _finite(w_l)
        rows[f"pool {name}"] = {
            "servers": pool.size * p,
            "utilization": (held + extra) / (pool.size * p),
            "wait_mean": per_request(st.visits, avg(state.pool_wait[j])) if state is not None else math.nan,
        }
        if pool.server_limit:
            rows[f"pgbouncer {name}"] = {
                "servers": pool.server_limit,
                "utilization": held / pool.server_limit,
                "wait_mean": per_request(st.visits, w_b) if state is not None else math.nan,
            }
    return rows
