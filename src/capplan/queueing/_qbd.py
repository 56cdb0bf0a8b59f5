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

Cost grows as ``(phases x c)^3``: the caller keeps ``c`` and the phase counts small.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from capplan._validate import FloatArray
from capplan.queueing.phasetype import GammaMixture

__all__ = ["QBDWait", "solve_phphc"]


@dataclass(frozen=True)
class QBDWait:
    """``P(W > 0)``, ``E[W]`` and ``E[W^2]`` of the PH/PH/c queue (seconds)."""

    prob_wait: float
    mean: float
    second_moment: float


@dataclass(frozen=True)
class _Service:
    """Service PH with at most two phases, padded to two: start probabilities, phase-change rates
    ``s12``, ``s21`` and completion rates ``s1``, ``s2``."""

    beta: FloatArray
    s12: float
    s21: float
    s1: float
    s2: float
    phases: int

    @classmethod
    def of(cls, dist: GammaMixture) -> _Service:
        alpha, gen = dist.phase_type()
        if alpha.size > 2:
            raise ValueError("PH/PH/c: service must have at most two phases")
        exits = -gen.sum(axis=1)
        if alpha.size == 1:
            return cls(np.array([1.0, 0.0]), 0.0, 0.0, float(exits[0]), 0.0, 1)
        return cls(alpha, float(gen[0, 1]), float(gen[1, 0]), float(exits[0]), float(exits[1]), 2)

    def configs(self, busy: int) -> int:
        """Number of phase configurations of ``busy`` servers."""
        return busy + 1 if self.phases == 2 else 1

    def start(self, busy: int) -> FloatArray:
        """One more server starts: configurations of ``busy`` -> of ``busy + 1``."""
        if self.phases == 1:
            return np.ones((1, 1))
        out = np.zeros((busy + 1, busy + 2))
        k = np.arange(busy + 1)
        out[k, k + 1] = self.beta[0]
        out[k, k] += self.beta[1]
        return out

    def moves(self, busy: int) -> FloatArray:
        """Phase changes among ``busy`` servers (off-diagonal rates)."""
        if self.phases == 1:
            return np.zeros((1, 1))
        k = np.arange(busy + 1)
        out = np.zeros((busy + 1, busy + 1))
        out[k[1:], k[1:] - 1] = k[1:] * self.s12
        out[k[:-1], k[:-1] + 1] = (busy - k[:-1]) * self.s21
        return out

    def completions(self, busy: int, restart: bool) -> FloatArray:
        """A service completes: configurations of ``busy`` -> ``busy - 1`` (or, with ``restart``,
        the next waiting customer starts and ``busy`` stays)."""
        if self.phases == 1:
            return np.array([[busy * self.s1]])
        k = np.arange(busy + 1)
        r1, r2 = k * self.s1, (busy - k) * self.s2
        if not restart:
            out = np.zeros((busy + 1, busy))
            out[k[1:], k[1:] - 1] = r1[1:]
            out[k[:-1], k[:-1]] += r2[:-1]
            return out
        out = np.zeros((busy + 1, busy + 1))
        out[k, k] += r1 * self.beta[0] + r2 * self.beta[1]
        out[k[1:], k[1:] - 1] += r1[1:] * self.beta[1]
        out[k[:-1], k[:-1] + 1] += r2[:-1] * self.beta[0]
        return out


class _Levels:
    """The blocks of the level-dependent QBD: up (arrival), local, down (completion)."""

    def __init__(self, arrival: GammaMixture, service: GammaMixture, servers: int) -> None:
        self.alpha, self.gen = arrival.phase_type()
        self.exits = -self.gen.sum(axis=1)
        self.service = _Service.of(service)
        self.c = servers

    def up(self, n: int) -> FloatArray:
        svc = self.service.start(n) if n < self.c else np.eye(self.service.configs(self.c))
        return np.asarray(np.kron(np.outer(self.exits, self.alpha), svc), dtype=np.float64)

    def down(self, n: int) -> FloatArray:
        busy = min(n, self.c)
        blocks = np.kron(np.eye(self.alpha.size), self.service.completions(busy, restart=n > self.c))
        return np.asarray(blocks, dtype=np.float64)

    def local(self, n: int) -> FloatArray:
        busy = min(n, self.c)
        size = self.service.configs(busy)
        off = np.kron(self.gen - np.diag(np.diag(self.gen)), np.eye(size))
        off += np.kron(np.eye(self.alpha.size), self.service.moves(busy))
        out = self.up(n).sum(axis=1) + off.sum(axis=1)
        if n > 0:
            out = out + self.down(n).sum(axis=1)
        return np.asarray(off - np.diag(out), dtype=np.float64)


def _rate_matrix(a0: FloatArray, a1: FloatArray, a2: FloatArray) -> FloatArray:
    """Minimal nonnegative R of ``A0 + R A1 + R^2 A2 = 0``, via G by logarithmic reduction."""
    size = a0.shape[0]
    eye = np.eye(size)
    up = np.linalg.solve(-a1, a0)
    down = np.linalg.solve(-a1, a2)
    g = down.copy()
    t = up.copy()
    for _ in range(64):
        u = up @ down + down @ up
        up, down = np.linalg.solve(eye - u, up @ up), np.linalg.solve(eye - u, down @ down)
        g = g + t @ down
        t = t @ up
        if np.abs(t).max() < 1e-16 or np.abs(1.0 - g.sum(axis=1)).max() < 1e-15:
            break
    return np.asarray(np.linalg.solve((-a1 - a0 @ g).T, a0.T).T)


def _censored(levels: _Levels, n: int, local: FloatArray) -> FloatArray:
    """``local`` with its diagonal recomputed as minus the rates out of level ``n`` in the chain
    censored on levels ``<= n`` (down and to other states of the level), so that no cancellation
    builds up level after level (Grassmann, Taksar & Heyman (1985), Oper. Res. 33(5))."""
    out = local.copy()
    np.fill_diagonal(out, 0.0)
    leaving = out.sum(axis=1) + (levels.down(n).sum(axis=1) if n > 0 else 0.0)
    np.fill_diagonal(out, -leaving)
    return out


def _boundary(levels: _Levels, r: FloatArray) -> list[FloatArray]:
    """Stationary vectors of levels 0..c (unnormalised) by linear level reduction."""
    c = levels.c
    rn: list[FloatArray] = [np.empty(0)] * c
    below = _censored(levels, c, levels.local(c) + r @ levels.down(c + 1))
    for n in range(c - 1, -1, -1):
        rn[n] = np.asarray(np.linalg.solve(-below.T, levels.up(n).T).T, dtype=np.float64)
        below = _censored(levels, n, levels.local(n) + rn[n] @ levels.down(n + 1))
    # pi_0 below = 0 with one equation replaced by pi_0 1 = 1.
    system = below.T.copy()
    system[-1, :] = 1.0
    rhs = np.zeros(system.shape[0])
    rhs[-1] = 1.0
    pis: list[FloatArray] = [np.asarray(np.linalg.solve(system, rhs), dtype=np.float64)]
    for n in range(c):
        pis.append(pis[-1] @ rn[n])
    return pis


def _smith(r: FloatArray, q: FloatArray, m: FloatArray) -> FloatArray:
    """``Y = sum_j R^j Q M^j`` (Stein equation ``Y = Q + R Y M``) by Smith's doubling; needs
    ``R^j`` to decay faster than ``M^j`` grows."""
    y = q.copy()
    a, b = r.copy(), m.copy()
    for _ in range(64):
        step = a @ y @ b
        y = y + step
        if np.abs(step).max() <= 1e-17 * np.abs(y).max():
            break
        a, b = a @ a, b @ b
    return y


def _second_moment(levels: _Levels, pi_c: FloatArray, r: FloatArray, lam: float) -> float:
    """``E[W^2]`` by the event-stream recursion of the module docstring."""
    c, svc = levels.c, levels.service
    size = svc.configs(c)
    d0 = svc.moves(c)
    d1 = svc.completions(c, restart=True)
    d0 = d0 - np.diag(d0.sum(axis=1) + d1.sum(axis=1))
    n = np.linalg.inv(-d0)
    p = n @ d1
    one = np.ones(size)
    n1, n2 = n @ one, 2.0 * n @ (n @ one)
    # z_j = (a_j, b_j, 1) = M z_{j-1}; E[W^2; W > 0] = sum_m x_m b_{m+1}.
    m = np.zeros((2 * size + 1, 2 * size + 1))
    m[:size, :size] = p
    m[:size, -1] = n1
    m[size:-1, :size] = 2.0 * n @ p
    m[size:-1, size:-1] = p
    m[size:-1, -1] = n2
    m[-1, -1] = 1.0
    arrivals = np.kron(levels.exits[:, None], np.eye(size)) / lam  # states -> configurations
    pick_b = np.zeros((size, 2 * size + 1))
    pick_b[:, size:-1] = np.eye(size)
    y = _smith(r, arrivals @ pick_b @ m, m)
    z0 = np.zeros(2 * size + 1)
    z0[-1] = 1.0
    return float(pi_c @ y @ z0)


def solve_phphc(arrival: GammaMixture, service: GammaMixture, servers: int) -> QBDWait:
    """Exact wait moments of the stable PH/PH/c queue with these inter-arrival and service times.

    The service time must have at most two phases (SCV >= 1/2); utilization must be below 1.
    """
    lam = 1.0 / arrival.mean
    levels = _Levels(arrival, service, servers)
    c = servers
    r = _rate_matrix(levels.up(c), levels.local(c), levels.down(c + 1))
    pis = _boundary(levels, r)
    size = r.shape[0]
    tail = np.linalg.solve((np.eye(size) - r).T, pis[c])  # pi_c (I - R)^-1
    total = sum(float(p.sum()) for p in pis[:-1]) + float(tail.sum())
    pi_c = pis[c] / total
    tail = tail / total
    configs = levels.service.configs(c)
    arrival_weight = np.kron(levels.exits, np.ones(configs)) / lam
    prob_wait = float(tail @ arrival_weight)
    queue = np.linalg.solve((np.eye(size) - r).T, tail @ r)  # pi_c R (I - R)^-2
    mean = float(queue.sum()) / lam
    return QBDWait(min(prob_wait, 1.0), mean, _second_moment(levels, pi_c, r, lam))
