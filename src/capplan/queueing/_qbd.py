"""The PH/PH/c queue solved exactly by the matrix-geometric method.

State: the number in system ``n``, the phase of the inter-arrival time in progress, and how many
busy servers are in each service phase (service with at most two phases, so ``k`` servers in phase
1 of ``min(n, c)`` busy).  This is a level-dependent quasi-birth-death process, homogeneous from
level ``c`` on, so ``pi_{c+m} = pi_c R^m`` with ``R`` the minimal solution of
``A0 + R A1 + R^2 A2 = 0`` (Neuts, *Matrix-Geometric Solutions in Stochastic Models* (1981),
ch. 3), found through ``G`` by logarithmic reduction (Latouche & Ramaswami, *Introduction to
Matrix Analytic Methods in Stochastic Modeling* (1999), sec. 8.4); the levels below ``c`` by
linear level reduction (ibid., sec. 10.2) with GTH-style diagonals.  Arrivals see the queue as
the arrival-phase exit rates weight it, so

* ``P(W > 0) = pi_c (I - R)^-1 (t (x) 1) / lambda`` and ``E[W] = E[L_q] / lambda`` (Little);
* ``E[W^2]``: an arrival that finds ``m`` waiting and service phases ``k`` waits for ``m + 1``
  service completions of the ``c`` busy servers, a Markovian event stream with generator parts
  ``D0`` (phase changes) and ``D1`` (a completion and the next customer's start).  With
  ``N = (-D0)^-1`` and ``P = N D1``, the first two moments of the time to the ``j``-th event obey
  ``a_j = N 1 + P a_{j-1}``, ``b_j = 2 N^2 1 + 2 N P a_{j-1} + P b_{j-1}``; the sum over ``m`` of
  ``pi_c R^m`` against them is a Stein equation, solved by Smith's doubling.

Cost grows as ``(phases x c)^3``: the caller keeps ``c`` and the phase counts small.  Every
function works on a stack of queues with the same server count and phase counts (a leading axis
on every array), so that many queues cost one pass of numpy's batched linear algebra
(:func:`solve_phphc_many`); one queue is a stack of one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from capplan._validate import FloatArray
from capplan.queueing.phasetype import GammaMixture

__all__ = ["QBDWait", "solve_phphc", "solve_phphc_many"]


@dataclass(frozen=True)
class QBDWait:
    """``P(W > 0)``, ``E[W]`` and ``E[W^2]`` of the PH/PH/c queue (seconds)."""

    prob_wait: float
    mean: float
    second_moment: float


def _kron(a: FloatArray, b: FloatArray) -> FloatArray:
    """Kronecker products of two stacks of matrices, pair by pair (``a`` may be one matrix)."""
    k = b.shape[0]
    a = np.broadcast_to(a, (k, *a.shape[-2:]))
    (p, q), (r, s) = a.shape[1:], b.shape[1:]
    return (a[:, :, None, :, None] * b[:, None, :, None, :]).reshape(k, p * r, q * s)


def _diag(v: FloatArray) -> FloatArray:
    """A stack of diagonal matrices from a stack of vectors."""
    out = np.zeros((*v.shape, v.shape[-1]))
    i = np.arange(v.shape[-1])
    out[:, i, i] = v
    return out


def _without_diag(a: FloatArray) -> FloatArray:
    out = a.copy()
    i = np.arange(a.shape[-1])
    out[:, i, i] = 0.0
    return out


def _t(a: NDArray[np.floating[Any]]) -> FloatArray:
    """Each matrix of a stack transposed."""
    return np.asarray(np.swapaxes(a, -1, -2), dtype=np.float64)


def _solve_vec(a: FloatArray, b: FloatArray) -> FloatArray:
    """``x`` with ``a x = b`` for stacks of matrices ``a`` and vectors ``b``."""
    return np.asarray(np.linalg.solve(a, b[..., None])[..., 0], dtype=np.float64)


def _phase_types(dists: Sequence[GammaMixture], what: str) -> tuple[FloatArray, FloatArray]:
    """Stacked ``(alpha, T)`` of distributions whose PH representations have one order."""
    reps = [d.phase_type() for d in dists]
    if len({a.size for a, _ in reps}) != 1:
        raise ValueError(f"PH/PH/c: every {what} in a stack needs the same number of phases")
    return np.stack([a for a, _ in reps]), np.stack([g for _, g in reps])


@dataclass(frozen=True)
class _Service:
    """A stack of service PHs with at most two phases, padded to two: start probabilities,
    phase-change rates ``s12``, ``s21`` and completion rates ``s1``, ``s2`` (one row each)."""

    beta: FloatArray
    s12: FloatArray
    s21: FloatArray
    s1: FloatArray
    s2: FloatArray
    phases: int

    @classmethod
    def of(cls, dists: Sequence[GammaMixture]) -> _Service:
        alpha, gen = _phase_types(dists, "service time")
        if alpha.shape[1] > 2:
            raise ValueError("PH/PH/c: service must have at most two phases")
        exits = -gen.sum(axis=2)
        if alpha.shape[1] == 1:
            zero = np.zeros(len(dists))
            beta = np.column_stack([np.ones(len(dists)), zero])
            return cls(beta, zero, zero, exits[:, 0], zero, 1)
        return cls(alpha, gen[:, 0, 1], gen[:, 1, 0], exits[:, 0], exits[:, 1], 2)

    def configs(self, busy: int) -> int:
        """Number of phase configurations of ``busy`` servers."""
        return busy + 1 if self.phases == 2 else 1

    def start(self, busy: int) -> FloatArray:
        """One more server starts: configurations of ``busy`` -> of ``busy + 1``."""
        n = self.beta.shape[0]
        if self.phases == 1:
            return np.ones((n, 1, 1))
        out = np.zeros((n, busy + 1, busy + 2))
        k = np.arange(busy + 1)
        out[:, k, k + 1] = self.beta[:, :1]
        out[:, k, k] += self.beta[:, 1:]
        return out

    def moves(self, busy: int) -> FloatArray:
        """Phase changes among ``busy`` servers (off-diagonal rates)."""
        n = self.beta.shape[0]
        if self.phases == 1:
            return np.zeros((n, 1, 1))
        k = np.arange(busy + 1)
        out = np.zeros((n, busy + 1, busy + 1))
        out[:, k[1:], k[1:] - 1] = k[1:] * self.s12[:, None]
        out[:, k[:-1], k[:-1] + 1] = (busy - k[:-1]) * self.s21[:, None]
        return out

    def completions(self, busy: int, restart: bool) -> FloatArray:
        """A service completes: configurations of ``busy`` -> ``busy - 1`` (or, with ``restart``,
        the next waiting customer starts and ``busy`` stays)."""
        n = self.beta.shape[0]
        if self.phases == 1:
            return (busy * self.s1).reshape(n, 1, 1)
        k = np.arange(busy + 1)
        r1, r2 = k * self.s1[:, None], (busy - k) * self.s2[:, None]
        if not restart:
            out = np.zeros((n, busy + 1, busy))
            out[:, k[1:], k[1:] - 1] = r1[:, 1:]
            out[:, k[:-1], k[:-1]] += r2[:, :-1]
            return out
        b1, b2 = self.beta[:, :1], self.beta[:, 1:]
        out = np.zeros((n, busy + 1, busy + 1))
        out[:, k, k] += r1 * b1 + r2 * b2
        out[:, k[1:], k[1:] - 1] += r1[:, 1:] * b2
        out[:, k[:-1], k[:-1] + 1] += r2[:, :-1] * b1
        return out


class _Levels:
    """The blocks of the level-dependent QBD: up (arrival), local, down (completion)."""

    def __init__(
        self, arrivals: Sequence[GammaMixture], services: Sequence[GammaMixture], servers: int
    ) -> None:
        self.alpha, self.gen = _phase_types(arrivals, "inter-arrival time")
        self.exits = -self.gen.sum(axis=2)
        self.service = _Service.of(services)
        self.c = servers

    def up(self, n: int) -> FloatArray:
        svc = self.service.start(n) if n < self.c else np.eye(self.service.configs(self.c))[None]
        arrive = self.exits[:, :, None] * self.alpha[:, None, :]
        return _kron(arrive, np.broadcast_to(svc, (arrive.shape[0], *svc.shape[1:])))

    def down(self, n: int) -> FloatArray:
        busy = min(n, self.c)
        return _kron(np.eye(self.alpha.shape[1]), self.service.completions(busy, restart=n > self.c))

    def local(self, n: int) -> FloatArray:
        busy = min(n, self.c)
        size = self.service.configs(busy)
        k = self.alpha.shape[0]
        off = _kron(_without_diag(self.gen), np.broadcast_to(np.eye(size), (k, size, size)))
        off += _kron(np.eye(self.alpha.shape[1]), self.service.moves(busy))
        out = self.up(n).sum(axis=2) + off.sum(axis=2)
        if n > 0:
            out = out + self.down(n).sum(axis=2)
        return off - _diag(out)


def _rate_matrix(a0: FloatArray, a1: FloatArray, a2: FloatArray) -> FloatArray:
    """Minimal nonnegative R of ``A0 + R A1 + R^2 A2 = 0``, via G by logarithmic reduction (each
    queue of the stack iterates until its own test passes)."""
    eye = np.eye(a0.shape[1])
    up = np.linalg.solve(-a1, a0)
    down = np.linalg.solve(-a1, a2)
    g = down.copy()
    t = up.copy()
    live = np.arange(a0.shape[0])
    for _ in range(64):
        u_, d_, t_ = up[live], down[live], t[live]
        u = u_ @ d_ + d_ @ u_
        up[live], down[live] = np.linalg.solve(eye - u, u_ @ u_), np.linalg.solve(eye - u, d_ @ d_)
        g[live] = g[live] + t_ @ down[live]
        t[live] = t_ @ up[live]
        done = (np.abs(t[live]).max(axis=(1, 2)) < 1e-16) | (
            np.abs(1.0 - g[live].sum(axis=2)).max(axis=1) < 1e-15
        )
        live = live[~done]
        if live.size == 0:
            break
    return _t(np.linalg.solve(_t(-a1 - a0 @ g), _t(a0)))


def _censored(levels: _Levels, n: int, local: FloatArray) -> FloatArray:
    """``local`` with its diagonal recomputed as minus the rates out of level ``n`` in the chain
    censored on levels ``<= n`` (down and to other states of the level), so that no cancellation
    builds up level after level (Grassmann, Taksar & Heyman (1985), Oper. Res. 33(5))."""
    out = _without_diag(local)
    leaving = out.sum(axis=2) + (levels.down(n).sum(axis=2) if n > 0 else 0.0)
    return out - _diag(leaving)


def _boundary(levels: _Levels, r: FloatArray) -> list[FloatArray]:
    """Stationary vectors of levels 0..c (unnormalised) by linear level reduction."""
    c = levels.c
    rn: list[FloatArray] = [np.empty(0)] * c
    below = _censored(levels, c, levels.local(c) + r @ levels.down(c + 1))
    for n in range(c - 1, -1, -1):
        rn[n] = _t(np.linalg.solve(_t(-below), _t(levels.up(n))))
        below = _censored(levels, n, levels.local(n) + rn[n] @ levels.down(n + 1))
    # pi_0 below = 0 with one equation replaced by pi_0 1 = 1.
    system = _t(below).copy()
    system[:, -1, :] = 1.0
    rhs = np.zeros(system.shape[:2])
    rhs[:, -1] = 1.0
    pis: list[FloatArray] = [_solve_vec(system, rhs)]
    for n in range(c):
        pis.append(np.einsum("ki,kij->kj", pis[-1], rn[n]))
    return pis


def _smith(r: FloatArray, q: FloatArray, m: FloatArray) -> FloatArray:
    """``Y = sum_j R^j Q M^j`` (Stein equation ``Y = Q + R Y M``) by Smith's doubling, each queue
    until its own step is negligible; needs ``R^j`` to decay faster than ``M^j`` grows."""
    y = q.copy()
    a, b = r.copy(), m.copy()
    live = np.arange(r.shape[0])
    for _ in range(64):
        step = a[live] @ y[live] @ b[live]
        y[live] = y[live] + step
        done = np.abs(step).max(axis=(1, 2)) <= 1e-17 * np.abs(y[live]).max(axis=(1, 2))
        live = live[~done]
        if live.size == 0:
            break
        a[live], b[live] = a[live] @ a[live], b[live] @ b[live]
    return y


def _second_moment(levels: _Levels, pi_c: FloatArray, r: FloatArray, lam: FloatArray) -> FloatArray:
    """``E[W^2]`` by the event-stream recursion of the module docstring."""
    c, svc = levels.c, levels.service
    size = svc.configs(c)
    k = pi_c.shape[0]
    d1 = svc.completions(c, restart=True)
    d0 = svc.moves(c)
    d0 = d0 - _diag(d0.sum(axis=2) + d1.sum(axis=2))
    n = np.linalg.inv(-d0)
    p = n @ d1
    n1 = n.sum(axis=2)
    n2 = 2.0 * np.einsum("kij,kj->ki", n, n1)
    # z_j = (a_j, b_j, 1) = M z_{j-1}; E[W^2; W > 0] = sum_m x_m b_{m+1}.
    m = np.zeros((k, 2 * size + 1, 2 * size + 1))
    m[:, :size, :size] = p
    m[:, :size, -1] = n1
    m[:, size:-1, :size] = 2.0 * n @ p
    m[:, size:-1, size:-1] = p
    m[:, size:-1, -1] = n2
    m[:, -1, -1] = 1.0
    eye = np.broadcast_to(np.eye(size), (k, size, size))
    arrivals = _kron(levels.exits[:, :, None], eye) / lam[:, None, None]  # states -> configurations
    pick_b = np.zeros((size, 2 * size + 1))
    pick_b[:, size:-1] = np.eye(size)
    y = _smith(r, arrivals @ pick_b @ m, m)
    return np.asarray(np.einsum("ki,ki->k", pi_c, y[:, :, -1]))


def solve_phphc_many(
    arrivals: Sequence[GammaMixture], services: Sequence[GammaMixture], servers: int
) -> list[QBDWait]:
    """Exact wait moments of stable PH/PH/c queues, pair by pair, solved as one stack.

    Every inter-arrival time needs the same number of phases, and so does every service time
    (at most two: SCV >= 1/2); every utilization must be below 1.
    """
    if len(arrivals) != len(services) or not arrivals:
        raise ValueError("solve_phphc_many needs as many service as inter-arrival times, at least one")
    lam = np.array([1.0 / a.mean for a in arrivals])
    levels = _Levels(arrivals, services, servers)
    c = servers
    r = _rate_matrix(levels.up(c), levels.local(c), levels.down(c + 1))
    pis = _boundary(levels, r)
    eye = np.eye(r.shape[1])
    tail = _solve_vec(_t(eye - r), pis[c])  # pi_c (I - R)^-1
    total = sum(p.sum(axis=1) for p in pis[:-1]) + tail.sum(axis=1)
    pi_c = pis[c] / total[:, None]
    tail = tail / total[:, None]
    arrival_weight = np.repeat(levels.exits, levels.service.configs(c), axis=1) / lam[:, None]
    prob_wait = (tail * arrival_weight).sum(axis=1)
    queue = _solve_vec(_t(eye - r), np.einsum("ki,kij->kj", tail, r))  # pi_c R (I - R)^-2
    mean = queue.sum(axis=1) / lam
    second = _second_moment(levels, pi_c, r, lam)
    rows = zip(prob_wait.tolist(), mean.tolist(), second.tolist(), strict=True)
    return [QBDWait(min(p, 1.0), w, s) for p, w, s in rows]


def solve_phphc(arrival: GammaMixture, service: GammaMixture, servers: int) -> QBDWait:
    """Exact wait moments of the stable PH/PH/c queue with these inter-arrival and service times.

    The service time must have at most two phases (SCV >= 1/2); utilization must be below 1.
    """
    return solve_phphc_many([arrival], [service], servers)[0]
