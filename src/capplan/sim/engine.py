"""Drive the kernel over chunks: draw what numpy must draw, thin time-varying arrivals, show progress."""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from capplan.errors import ParameterError
from capplan.sim import distributions as d
from capplan.sim.kernel import SUMS_COLUMNS, KernelState, run_chunk
from capplan.sim.result import HISTOGRAM_DECADES, HISTOGRAM_RESOLUTION, SimulationResult
from capplan.sim.slowdown import Slowdown
from capplan.sim.spec import QueueSpec, RateFunction, make_spec

__all__ = ["simulate_queue"]

_NO_PATIENCE = (d.CONSTANT, np.array([math.inf, 0.0, 0.0]), np.empty(0))
_EMPTY_F = np.empty(0)
_EMPTY_I8 = np.empty(0, dtype=np.int8)
_EMPTY_HIST = np.zeros((1, 0), dtype=np.int64)
_NO_SLOWDOWN = (np.zeros(1), _EMPTY_F)


def _sampler_args(sampler: d.Sampler, rng: np.random.Generator, n: int, name: str) -> tuple[int, Any, Any]:
    if not sampler.drawn_in_chunks:
        return sampler.kind, sampler.params, sampler.values
    values = np.ascontiguousarray(sampler.source.rvs(size=n, random_state=rng), dtype=np.float64)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        raise ParameterError(f"{name} distribution drew an invalid time {float(values[bad][0])!r}")
    return d.ARRAY, sampler.params, values


def _thinned_times(
    rate: RateFunction, rate_max: float, start: float, n: int, rng: np.random.Generator
) -> NDArray[np.float64]:
    """The next ``n`` arrival times after ``start`` of a Poisson process with rate ``rate(t)``.

    Lewis & Shedler (1979) thinning: candidates at rate ``rate_max``, each kept with probability
    ``rate(t)/rate_max``.  Restarting from the last kept time is exact (memorylessness).
    """
    out: list[NDArray[np.float64]] = []
    got = 0
    t = start
    empty_blocks = 0
    while got < n:
        block = max(1024, 2 * (n - got))
        cand = t + np.cumsum(rng.standard_exponential(block) / rate_max)
        lam = np.asarray(rate(cand), dtype=np.float64)
        if lam.shape != cand.shape:
            raise ParameterError(f"arrival_rate(t) must return one rate per time, got shape {lam.shape}")
        bad = ~np.isfinite(lam) | (lam < 0)
        if bad.any():
            raise ParameterError(
                f"arrival_rate(t) returned {float(lam[bad][0])!r} at t={float(cand[bad][0]):.6g}"
            )
        if (lam > rate_max * (1 + 1e-12)).any():
            i = int(np.argmax(lam))
            raise ParameterError(
                f"arrival_rate_max={rate_max:g} is below arrival_rate(t)={float(lam[i]):g} "
                f"at t={float(cand[i]):.6g}"
            )
        kept = cand[rng.random(block) * rate_max < lam]
        t = float(cand[-1])
        if kept.size:
            empty_blocks = 0
            out.append(kept)
            got += kept.size
        else:
            empty_blocks += 1
            if empty_blocks > 10_000:
                raise ParameterError("arrival_rate(t) stays at ~0: no arrivals in 10 million candidate times")
    return np.concatenate(out)[:n]


def simulate_queue(
    arrival_rate: float | RateFunction | None = None,
    service: Any = None,
    servers: int = 1,
    customers: int | None = None,
    *,
    seed: int | np.random.Generator,
    arrivals: Any = None,
    arrival_rate_max: float | None = None,
    capacity: int | None = None,
    patience: Any = None,
    slowdown: Slowdown | None = None,
    warmup: int | float | None = None,
    batches: int = 20,
    keep: Literal["raw", "stats"] = "raw",
    chunk_size: int = 1_000_000,
    progress: bool = False,
    record_arrivals: bool = False,
) -> SimulationResult:
    """Simulate a FCFS G/G/c queue (optionally G/G/c/K with abandonment) customer by customer.

    Parameters
    ----------
    arrival_rate : float or callable, optional
        Poisson arrivals at this rate (per second), or a vectorised function ``rate(t)`` of time in
        seconds for a non-homogeneous Poisson process (thinning; needs ``arrival_rate_max``).
    service : float, array_like or distribution
        Service times in seconds: a constant, samples (resampled with replacement), a SciPy frozen
        distribution with non-negative support, or :func:`hyperexponential`.
    servers : int
        Number of servers c >= 1.
    customers : int
        Arrivals to simulate, warm-up included (defaults to the length of an arrivals trace).
    seed : int or numpy.random.Generator
        The only source of randomness: the same seed gives the same numbers.
    arrivals : distribution or array_like, optional
        Instead of ``arrival_rate``: a distribution of inter-arrival times, or a trace of them used
        in order.
    capacity : int, optional
        Maximum number in the system (K >= c); arrivals finding K present are blocked.
    patience : float, array_like or distribution, optional
        A waiting customer abandons after this long (a client-side timeout).
    slowdown : Slowdown, optional
        The servers' speed over time: a service starting at ``t`` lasts ``slowdown(t)`` times its
        drawn length (a machine whose CPU cost moves in phases; see
        :func:`capplan.sim.split_trace` to estimate one from a server's record of its requests).
    warmup : int or float, optional
        Arrivals discarded before measuring: a count, or a fraction in [0, 1); default 10%.
    batches : int
        Batches for batch-means confidence intervals (default 20).
    keep : {"raw", "stats"}
        ``"raw"`` returns every customer's wait and response (16 bytes per customer); ``"stats"``
        keeps only streaming sums and log-spaced histograms (0.1% resolution), in bounded memory.
    chunk_size : int
        Customers per kernel call; bounds the memory of drawn inputs.
    progress : bool
        Show a progress bar (tqdm).  Off by default.
    record_arrivals : bool
        Also keep each measured customer's arrival time (8 more bytes per customer, raw mode), for
        statistics per time window under a time-varying load.

    Returns
    -------
    SimulationResult

    Notes
    -----
    The kernel is compiled with numba; exponential, gamma/Erlang, lognormal, Weibull, uniform,
    hyperexponential, constant and empirical times are drawn inside it.  Other SciPy distributions
    are drawn with their own ``rvs`` in chunks, which is slower.
    """
    spec = make_spec(
        arrival_rate=arrival_rate,
        arrivals=arrivals,
        arrival_rate_max=arrival_rate_max,
        service=service,
        servers=servers,
        customers=customers,
        capacity=capacity,
        patience=patience,
        slowdown=slowdown,
        warmup=warmup,
    )
    if keep not in ("raw", "stats"):
        raise ParameterError(f"keep must be 'raw' or 'stats', got {keep!r}")
    n_batches = int(batches)
    measured = spec.customers - spec.warmup
    if not 2 <= n_batches <= measured:
        raise ParameterError(
            f"batches must be between 2 and the {measured} measured customers, got {batches!r}"
        )
    chunk = max(1, int(chunk_size))
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if record_arrivals and keep != "raw":
        raise ParameterError("record_arrivals needs keep='raw'")
    return _run(spec, rng, n_batches, keep, chunk, progress, record_arrivals)


def _run(
    spec: QueueSpec,
    rng: np.random.Generator,
    n_batches: int,
    keep: str,
    chunk: int,
    progress: bool,
    record_arrivals: bool,
) -> SimulationResult:
    measured = spec.customers - spec.warmup
    batch_size = -(-measured // n_batches)
    state = KernelState(spec.servers, spec.capacity or 0)
    sums = np.zeros((n_batches, len(SUMS_COLUMNS)))
    if keep == "raw":
        times = np.empty(measured) if record_arrivals else _EMPTY_F
        raw = (np.empty(measured), np.empty(measured), np.empty(measured, dtype=np.int8), times)
        hist = (0.0, 0.0, _EMPTY_HIST, _EMPTY_HIST)
        log_lo = 0.0
    else:
        raw = (_EMPTY_F, _EMPTY_F, _EMPTY_I8, _EMPTY_F)
        scale = spec.service.mean if spec.service.mean > 0 else 1.0
        log_lo = math.log(scale) - HISTOGRAM_DECADES / 2 * math.log(10)
        nbins = math.ceil(HISTOGRAM_DECADES * math.log(10) / math.log1p(HISTOGRAM_RESOLUTION))
        hist = (
            log_lo,
            1.0 / math.log1p(HISTOGRAM_RESOLUTION),
            np.zeros((n_batches, nbins), dtype=np.int64),
            np.zeros((n_batches, nbins), dtype=np.int64),
        )
    done = 0
    with tqdm(total=spec.customers, disable=not progress, unit="customer", unit_scale=True) as bar:
        while done < spec.customers:
            n = min(chunk, spec.customers - done)
            if spec.rate_function is not None:
                times = _thinned_times(spec.rate_function, spec.rate_max, float(state.clock[0]), n, rng)
                arrival: tuple[int, Any, Any] = (d.TIMES, spec.arrivals.params, times)
            elif spec.arrivals.kind == d.ARRAY and not spec.arrivals.drawn_in_chunks:
                arrival = (d.ARRAY, spec.arrivals.params, spec.arrivals.values[done : done + n])
            else:
                arrival = _sampler_args(spec.arrivals, rng, n, "arrivals")
            service = _sampler_args(spec.service, rng, n, "service")
            patience = (
                _NO_PATIENCE if spec.patience is None else _sampler_args(spec.patience, rng, n, "patience")
            )
            slow = _NO_SLOWDOWN if spec.slowdown is None else (spec.slowdown.edges, spec.slowdown.factors)
            run_chunk(
                rng, n, arrival, service, patience, slow,
                state.free, state.system, state.size, state.clock,
                spec.capacity or 0, done, spec.warmup, batch_size, raw, hist, sums,
            )  # fmt: skip
            done += n
            bar.update(n)
    return SimulationResult(
        spec=spec,
        sums=sums,
        waits=raw[0] if keep == "raw" else None,
        responses=raw[1] if keep == "raw" else None,
        status=raw[2] if keep == "raw" else None,
        arrival_times=raw[3] if keep == "raw" and record_arrivals else None,
        wait_hist=None if keep == "raw" else hist[2],
        response_hist=None if keep == "raw" else hist[3],
        log_lo=log_lo,
    )
