"""Queueing networks: exact and approximate MVA for closed networks, bounds, and open (Jackson) networks.

Closed networks (a fixed population of ``N`` users who think for ``Z`` seconds between requests)
are solved by Mean Value Analysis (Reiser & Lavenberg 1980): with ``D_k`` the service demand of a
user at station ``k`` (visits x service time per visit),

    R_k(n) = D_k (1 + Q_k(n - 1))       (queueing station)
    R_k(n) = D_k                        (delay station)
    X(n)   = n / (Z + sum_k R_k(n)),     Q_k(n) = X(n) R_k(n),

exact for product-form networks (Lazowska, Zahorjan, Graham & Sevcik, *Quantitative System
Performance* (1984), ch. 6).  Schweitzer's approximation replaces ``Q_k(n - 1)`` by
``(n - 1)/n Q_k(n)`` and iterates at the one population asked for (ch. 6.4.2), for populations too
large for the exact recursion.  A station with ``c`` servers is represented by Seidmann's
approximation: a queueing station of demand ``D/c`` followed by a delay of ``D (c - 1)/c``
(Seidmann, Schweitzer & Shalev-Oren 1987) — stated in the result's ``method``.

Open networks of M/M/c stations (Jackson 1963) decompose: station ``k`` sees Poisson traffic
``lambda V_k`` and behaves as an independent M/M/c queue (:class:`capplan.queueing.MMc`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from capplan._validate import FloatArray, integer_count, nonnegative, positive
from capplan.errors import ParameterError
from capplan.queueing import MMc

__all__ = ["MVAResult", "NetworkBounds", "OpenNetworkResult", "bounds", "mva", "open_network"]


def _stations(
    demands: ArrayLike, servers: ArrayLike | None, delay: ArrayLike | None, names: list[str] | None
) -> tuple[FloatArray, FloatArray, np.ndarray, list[str]]:
    d = nonnegative("demands", demands)
    if d.ndim != 1 or d.size == 0:
        raise ParameterError(f"demands must be a non-empty 1-d sequence, got shape {d.shape}")
    c = np.ones_like(d) if servers is None else integer_count("servers", np.broadcast_to(servers, d.shape))
    is_delay = (
        np.zeros(d.shape, dtype=bool) if delay is None else np.broadcast_to(np.asarray(delay, bool), d.shape)
    )
    labels = [f"station {i}" for i in range(d.size)] if names is None else list(names)
    if len(labels) != d.size:
        raise ParameterError(f"names has {len(labels)} entries for {d.size} stations")
    return d, np.asarray(c, dtype=np.float64), np.asarray(is_delay), labels


@dataclass(frozen=True)
class MVAResult:
    """Solution of a closed network at one population (and, for exact MVA, every smaller one).

    Attributes
    ----------
    population, think_time : the model's N and Z.
    throughput : X(N), requests per second.
    response_time : R(N) = N/X - Z, seconds (think time excluded).
    stations : DataFrame with ``station, servers, demand_s, utilization, queue_length, residence_s``.
    by_population : DataFrame with ``population, throughput, response_time_s`` for n = 1..N (exact),
        or the single population solved (Schweitzer).
    method : ``"exact MVA"`` or ``"Schweitzer approximate MVA"``, plus the multi-server treatment.
    """

    population: int
    think_time: float
    throughput: float
    response_time: float
    stations: pd.DataFrame
    by_population: pd.DataFrame
    method: str

    def __repr__(self) -> str:
        return (
            f"MVAResult(N={self.population}, Z={self.think_time:g} s, X={self.throughput:.6g}/s, "
            f"R={self.response_time:.6g} s, method={self.method!r})"
        )


def _expand(d: FloatArray, c: FloatArray, is_delay: np.ndarray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Seidmann: queueing demand D/c plus a delay D(c-1)/c per multi-server station."""
    queue_d = np.where(is_delay, 0.0, d / c)
    delay_d = np.where(is_delay, d, d * (c - 1) / c)
    return queue_d, delay_d, c


def mva(
    demands: ArrayLike,
    population: int,
    think_time: float = 0.0,
    *,
    servers: ArrayLike | None = None,
    delay: ArrayLike | None = None,
    visits: ArrayLike | None = None,
    names: list[str] | None = None,
    method: str = "exact",
    tol: float = 1e-10,
    max_iter: int = 100_000,
) -> MVAResult:
    """Mean Value Analysis of a closed, single-class product-form network.

    Parameters
    ----------
    demands : array_like
        Service demand per user request at each station, seconds (visits x service time).
    population : int
        Number of users N >= 1.
    think_time : float
        Z, seconds between a response and the user's next request (a delay station).
    servers : array_like of int, optional
        Servers per station (multi-server stations by Seidmann's approximation).
    delay : array_like of bool, optional
        Stations without queueing (infinite servers).
    visits : array_like, optional
        Visits per request to each station; ``demands`` are then service times per visit and the
        demand is ``visits * demands`` (the forced-flow law).
    names : list of str, optional
        Station labels for the tables.
    method : {"exact", "schweitzer"}
        Exact recursion over n = 1..N (O(N K)), or Schweitzer's fixed point at N.

    Returns
    -------
    MVAResult
    """
    if visits is not None:
        per_visit = nonnegative("demands", demands)
        demands = positive("visits", np.broadcast_to(visits, per_visit.shape)) * per_visit
    d, c, is_delay, labels = _stations(demands, servers, delay, names)
    n_users = int(integer_count("population", population))
    z = float(nonnegative("think_time", think_time))
    if method not in ("exact", "schweitzer"):
        raise ParameterError(f"method must be 'exact' or 'schweitzer', got {method!r}")
    queue_d, delay_d, _ = _expand(d, c, is_delay)
    multi = bool((c[~is_delay] > 1).any())
    total_delay = z + float(delay_d.sum())
    if method == "exact":
        q = np.zeros_like(d)
        rows = []
        for n in range(1, n_users + 1):
            r_q = queue_d * (1.0 + q)
            x = n / (total_delay + float(r_q.sum()))
            q = x * r_q
            rows.append((n, x, n / x - z))
        label = "exact MVA"
    else:
        q = np.full(d.shape, n_users / max(int((~is_delay).sum()), 1)) * (~is_delay)
        for _ in range(max_iter):
            r_q = queue_d * (1.0 + (n_users - 1) / n_users * q)
            x = n_users / (total_delay + float(r_q.sum()))
            q_new = x * r_q
            if np.max(np.abs(q_new - q)) <= tol * max(1.0, float(q_new.max())):
                q = q_new
                break
            q = q_new
        else:  # pragma: no cover - the fixed point converges for any valid input
            raise ArithmeticError("Schweitzer iteration did not converge")
        rows = [(n_users, x, n_users / x - z)]
        label = "Schweitzer approximate MVA"
    if multi:
        label += "; multi-server stations by Seidmann's approximation"
    residence = np.where(is_delay, d, r_q + delay_d)  # R_k(N), from the last step of the recursion
    stations = pd.DataFrame(
        {
            "station": labels,
            "servers": np.where(is_delay, np.inf, c),
            "demand_s": d,
            "utilization": np.where(is_delay, np.nan, x * d / c),
            "queue_length": x * residence,
            "residence_s": residence,
        }
    )
    by_pop = pd.DataFrame(rows, columns=["population", "throughput", "response_time_s"])
    return MVAResult(n_users, z, float(x), float(n_users / x - z), stations, by_pop, label)


@dataclass(frozen=True)
class NetworkBounds:
    """Asymptotic bounds of a closed network (Lazowska et al. 1984, ch. 5)."""

    total_demand: float
    max_demand: float
    think_time: float
    saturation_population: float  # N* = (D + Z) / D_max

    def throughput(self, population: ArrayLike) -> FloatArray:
        """Upper bound on X(N): min(N / (D + Z), 1 / D_max)."""
        n = np.asarray(population, dtype=np.float64)
        return np.asarray(np.minimum(n / (self.total_demand + self.think_time), 1.0 / self.max_demand))

    def response_time(self, population: ArrayLike) -> FloatArray:
        """Lower bound on R(N): max(D, N D_max - Z)."""
        n = np.asarray(population, dtype=np.float64)
        return np.asarray(np.maximum(self.total_demand, n * self.max_demand - self.think_time))


def bounds(demands: ArrayLike, think_time: float = 0.0) -> NetworkBounds:
    """Asymptotic (bottleneck) bounds: ``X(N) <= min(N/(D+Z), 1/D_max)``, ``R(N) >= max(D, N D_max - Z)``."""
    d = positive("demands", demands)
    z = float(nonnegative("think_time", think_time))
    total, top = float(d.sum()), float(d.max())
    return NetworkBounds(total, top, z, (total + z) / top)


@dataclass(frozen=True)
class OpenNetworkResult:
    """Per-station and end-to-end results of an open network."""

    arrival_rate: float
    stations: pd.DataFrame
    response_time: float
    bottleneck: str
    max_arrival_rate: float

    def __repr__(self) -> str:
        return (
            f"OpenNetworkResult(lambda={self.arrival_rate:g}/s, R={self.response_time:.6g} s, "
            f"bottleneck={self.bottleneck!r}, max_arrival_rate={self.max_arrival_rate:.6g}/s)"
        )


def open_network(
    arrival_rate: float,
    demands: ArrayLike,
    servers: ArrayLike = 1,
    *,
    visits: ArrayLike | None = None,
    names: list[str] | None = None,
) -> OpenNetworkResult:
    """Open (Jackson) network of M/M/c stations.

    Parameters
    ----------
    arrival_rate : float
        External arrivals per second.
    demands : array_like
        Service demand per request at each station (seconds); with ``visits`` given, the service
        time per visit instead.
    servers : array_like of int
        Servers per station.
    visits : array_like, optional
        Visits per request to each station (default 1).

    Returns
    -------
    OpenNetworkResult
        ``stations`` has ``station, servers, visits, service_s, utilization, queue_length,
        residence_s``; residence times are per request (visits x response per visit) and inf at
        a saturated station, whose name is the ``bottleneck``.
    """
    lam = float(nonnegative("arrival_rate", arrival_rate))
    s_or_d = positive("demands", demands)
    if s_or_d.ndim != 1:
        raise ParameterError(f"demands must be a 1-d sequence, got shape {s_or_d.shape}")
    # Without visits each request visits each station once: service per visit = demand.
    v = np.ones_like(s_or_d) if visits is None else positive("visits", np.broadcast_to(visits, s_or_d.shape))
    service = s_or_d
    demand = v * service
    c = integer_count("servers", np.broadcast_to(servers, s_or_d.shape))
    labels = [f"station {i}" for i in range(s_or_d.size)] if names is None else list(names)
    if len(labels) != s_or_d.size:
        raise ParameterError(f"names has {len(labels)} entries for {s_or_d.size} stations")
    model = MMc(lam * v, 1.0 / service, c)
    residence = v * np.asarray(model.mean_response)
    stations = pd.DataFrame(
        {
            "station": labels,
            "servers": c,
            "visits": v,
            "service_s": service,
            "utilization": lam * demand / c,
            "queue_length": lam * residence,
            "residence_s": residence,
        }
    )
    util_per_rate = demand / c
    k = int(np.argmax(util_per_rate))
    return OpenNetworkResult(lam, stations, float(residence.sum()), labels[k], float(1.0 / util_per_rate[k]))
