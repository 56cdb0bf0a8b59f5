"""Analytic solution of a :class:`~capplan.layered.model.ServiceModel`.

Hierarchical decomposition (Chandy, Herzog & Woo (1975), "Parametric analysis of queuing networks",
IBM J. Res. Dev. 19(1); the method of layers of Rolia & Sevcik (1995), IEEE TSE 21(8), uses the
same split): requests holding workers form a closed network inside the replica
(:mod:`capplan.layered._network`), solved for every population ``n`` up to the number of workers;
its throughput ``X(n)`` makes the workers a flow-equivalent server, and the queue for a worker is
the birth-death chain with arrival rate ``lambda`` and service rate ``X(min(n, M))``.  An arrival
that finds ``n`` requests in the replica works alongside ``min(n + 1, M)`` of them; per class,

* the wait for a worker is an atom at 0 and, beyond ``M``, exponential with rate
  ``X(M) - lambda`` (exact for the flow-equivalent server);
* the time inside is the network's residence at that population, whose variance adds the steps'
  own (stretched) variances, the queueing waits taken as exponential, and the spread over
  populations; it enters the response time as a two-moment phase-type fit
  (:mod:`capplan.queueing.phasetype`), convolved with the wait (:mod:`capplan.queueing._sojourn`).

This is an approximation; its error against :func:`capplan.layered.simulate.simulate` over a grid of
layouts is in ``docs/accuracy.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from capplan._validate import FloatArray
from capplan.layered._network import Demands, NetworkState, Station, solve_network
from capplan.layered.model import Cpu, Hold, ServiceModel, Step
from capplan.layered.result import QUANTILES, LayeredResult
from capplan.queueing._sojourn import WaitLaw, response_quantile
from capplan.queueing.service import TwoMomentService

__all__ = ["METHOD", "layer_loads", "solve"]

METHOD = (
    "approx: flow-equivalent server for the workers over approximate MVA of the lock, cores, pools "
    "and PgBouncer (simultaneous possession by surrogate holding times)"
)


def _station(model: ServiceModel, pick: Callable[[Step], tuple[float, float] | None]) -> Station:
    """Per class visits, mean and second moment of the visits ``pick`` maps a step to
    (``(mean, scv)`` of that visit's service, or None where the step does not visit)."""
    visits, means, seconds = [], [], []
    for cls in model.classes:
        found = [v for v in (pick(s) for s in cls.steps) if v is not None]
        visits.append(float(len(found)))
        means.append(float(np.mean([m for m, _ in found])) if found else 0.0)
        seconds.append(float(np.mean([m * m * (1 + c) for m, c in found])) if found else 0.0)
    return Station(np.array(visits), np.array(means), np.array(seconds))


def demands(model: ServiceModel) -> Demands:
    share = model.lock_share

    def part(fraction: float) -> Callable[[Step], tuple[float, float] | None]:
        return lambda s: (s.mean * fraction, s.scv) if isinstance(s, Cpu) and fraction > 0 else None

    def holds(name: str) -> Callable[[Step], tuple[float, float] | None]:
        return lambda s: (s.mean, s.scv) if isinstance(s, Hold) and s.pool == name else None

    return Demands(
        lock=_station(model, part(share)),
        free=_station(model, part(1.0 - share)),
        pools=tuple(_station(model, holds(name)) for name in model.pools),
        delay=np.array([c.waits for c in model.classes]),
        processes=model.workers.processes,
        cores=model.cores,
        pool_size=tuple(p.size for p in model.pools.values()),
        bouncer=tuple(p.server_limit or 0 for p in model.pools.values()),
    )


def _network(model: ServiceModel, d: Demands) -> NetworkState:
    """The network at n = 1..M, class mix by Little (``n_k`` proportional to ``lambda_k R_k``)."""
    rates = np.array([c.rate for c in model.classes], dtype=np.float64)
    weights = rates if rates.sum() > 0 else np.ones(rates.size)
    n = np.arange(1, model.workers.slots + 1, dtype=np.float64)
    resid = np.broadcast_to(_bare(d), (n.size, rates.size))
    state = None
    for _ in range(30):
        mix = weights * resid
        mix = mix / mix.sum(axis=1, keepdims=True)
        state = solve_network(d, n[:, None] * mix)
        if np.allclose(state.residence, resid, rtol=1e-9):
            break
        resid = state.residence
    assert state is not None
    return state


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


def _bare(d: Demands) -> FloatArray:
    """Residence per class with no queueing anywhere."""
    work = d.lock.visits * d.lock.mean + d.free.visits * d.free.mean + d.delay
    return np.asarray(work + sum(st.visits * st.mean for st in d.pools))


def _variance(model: ServiceModel, d: Demands, net: NetworkState) -> FloatArray:
    """Variance of the time inside per population and class: the steps' own variances plus each
    visit's queueing wait taken as exponential (its mean squared)."""
    own = np.array([sum(s.scv * s.mean**2 for s in c.steps) for c in model.classes])
    waits = d.lock.visits * ((net.lock_wait + net.core_wait_lock) ** 2)[:, None]
    waits = waits + d.free.visits * (net.core_wait_free**2)[:, None]
    for j, st in enumerate(d.pools):
        waits = waits + st.visits * ((net.pool_wait[j] + net.bouncer_wait[j]) ** 2)[:, None]
    return np.asarray(own + waits)


def solve(model: ServiceModel) -> LayeredResult:
    """Per class response times and per layer utilizations (module docstring)."""
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
    inside_var = weights @ _variance(model, d, net) + np.maximum(spread, 0.0)
    unstable = not math.isfinite(queue)
    wait_rate = max(capacity[-1] - lam, 0.0)
    rows = {}
    for k, cls in enumerate(model.classes):
        row: dict[str, float] = {"rate": cls.rate}
        if unstable:
            row.update({"response_mean": math.inf, **{f"response_p{q * 100:g}": math.inf for q in QUANTILES}})
            row["worker_wait_mean"] = math.inf
        else:
            wait_mean = queue / lam if lam > 0 else 0.0
            law = WaitLaw.exponential(waiting_p, wait_rate)
            shape = TwoMomentService(inside[k], inside_var[k] / inside[k] ** 2)
            qs = response_quantile(np.array(QUANTILES), law, shape)
            row["response_mean"] = wait_mean + float(inside[k])
            row.update({f"response_p{q * 100:g}": float(v) for q, v in zip(QUANTILES, qs, strict=True)})
            row["worker_wait_mean"] = wait_mean
        rows[cls.name] = row
    busy = float(below @ np.arange(m) + waiting_p * m) if not unstable else float(m)
    layers = layer_loads(model, busy_workers=busy, state=net, weights=weights)
    return LayeredResult(pd.DataFrame.from_dict(rows, orient="index"), layers, METHOD, _memory(model, busy))


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
    rates = np.array([c.rate for c in model.classes])
    lam = float(rates.sum())
    d = demands(model)
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
        held = float(rates @ (st.visits * st.mean))
        rows[f"pool {name}"] = {
            "servers": pool.size * p,
            "utilization": (held + float(rates @ st.visits) * (w_b if math.isfinite(w_b) else 0.0))
            / (pool.size * p),
            "wait_mean": per_request(st.visits, avg(state.pool_wait[j])) if state is not None else math.nan,
        }
        if pool.server_limit:
            rows[f"pgbouncer {name}"] = {
                "servers": pool.server_limit,
                "utilization": held / pool.server_limit,
                "wait_mean": per_request(st.visits, w_b) if state is not None else math.nan,
            }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "layer"
    return frame
