"""What a simulation returns: per-customer records or streaming statistics, and their summary."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from capplan.errors import ParameterError
from capplan.sim.kernel import BLOCKED, RENEGED, SERVED, SUMS_COLUMNS
from capplan.sim.spec import QueueSpec

__all__ = ["HISTOGRAM_DECADES", "HISTOGRAM_RESOLUTION", "SUMMARY_QUANTILES", "SimulationResult"]

#: Quantiles reported by :meth:`SimulationResult.summary`.
SUMMARY_QUANTILES = (0.5, 0.95, 0.99, 0.999)
#: Streaming histograms span this many decades, centred on the mean service time ...
HISTOGRAM_DECADES = 14
#: ... with bins this wide, relative (0.1%): quantiles are exact to within one bin.
HISTOGRAM_RESOLUTION = 1e-3

_COL = {name: i for i, name in enumerate(SUMS_COLUMNS)}


def _hist_quantiles(
    counts: NDArray[np.int64], zeros: float, ps: tuple[float, ...], log_lo: float
) -> NDArray[np.float64]:
    """Quantiles of a distribution given as ``zeros`` values at 0 plus a log-spaced histogram."""
    total = zeros + float(counts.sum())
    out = np.full(len(ps), math.nan)
    if total <= 0:
        return out
    cum = np.cumsum(counts, dtype=np.float64)
    log_width = math.log1p(HISTOGRAM_RESOLUTION)
    for i, p in enumerate(ps):
        need = p * total - zeros
        if need <= 0:
            out[i] = 0.0
            continue
        j = min(int(np.searchsorted(cum, need)), counts.size - 1)
        before = cum[j - 1] if j > 0 else 0.0
        frac = (need - before) / counts[j] if counts[j] > 0 else 0.0
        out[i] = math.exp(log_lo + (j + frac) * log_width)
    return out


@dataclass(frozen=True, repr=False, eq=False)
class SimulationResult:
    """Records of one simulation run (after the warm-up), and batch-means summaries.

    ``waits`` and ``responses`` hold the customers who were served, in arrival order; ``status``
    (raw mode) has one entry per measured arrival: served, blocked or reneged.
    """

    spec: QueueSpec
    sums: NDArray[np.float64]
    waits_all: NDArray[np.float64] | None
    responses_all: NDArray[np.float64] | None
    status: NDArray[np.int8] | None
    wait_hist: NDArray[np.int64] | None
    response_hist: NDArray[np.int64] | None
    log_lo: float
    arrival_times_all: NDArray[np.float64] | None

    def __init__(
        self,
        *,
        spec: QueueSpec,
        sums: NDArray[np.float64],
        waits: NDArray[np.float64] | None,
        responses: NDArray[np.float64] | None,
        status: NDArray[np.int8] | None,
        wait_hist: NDArray[np.int64] | None,
        response_hist: NDArray[np.int64] | None,
        log_lo: float,
        arrival_times: NDArray[np.float64] | None = None,
    ) -> None:
        for name, value in (
            ("spec", spec), ("sums", sums), ("waits_all", waits), ("responses_all", responses),
            ("status", status), ("wait_hist", wait_hist), ("response_hist", response_hist),
            ("log_lo", log_lo), ("arrival_times_all", arrival_times),
        ):  # fmt: skip
            object.__setattr__(self, name, value)

    # -- records -------------------------------------------------------------------------------
    @property
    def keep(self) -> str:
        """``"raw"`` (per-customer records) or ``"stats"`` (streaming statistics only)."""
        return "raw" if self.status is not None else "stats"

    def _raw(self, what: str) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int8]]:
        if self.waits_all is None or self.responses_all is None or self.status is None:
            raise ParameterError(f"{what} needs per-customer records; this run used keep='stats'")
        return self.waits_all, self.responses_all, self.status

    @property
    def served(self) -> NDArray[np.bool_]:
        """Mask over measured arrivals: True for customers who were served."""
        mask: NDArray[np.bool_] = self._raw("served")[2] == SERVED
        return mask

    @property
    def blocked(self) -> NDArray[np.bool_]:
        """Mask over measured arrivals: True for arrivals turned away by a full system."""
        mask: NDArray[np.bool_] = self._raw("blocked")[2] == BLOCKED
        return mask

    @property
    def reneged(self) -> NDArray[np.bool_]:
        """Mask over measured arrivals: True for customers who gave up waiting."""
        mask: NDArray[np.bool_] = self._raw("reneged")[2] == RENEGED
        return mask

    @property
    def waits(self) -> NDArray[np.float64]:
        """Waiting times (s) of the served customers, in arrival order."""
        w, _, st = self._raw("waits")
        out: NDArray[np.float64] = w[st == SERVED]
        return out

    @property
    def arrival_times(self) -> NDArray[np.float64]:
        """Arrival times (s) of the served customers, aligned with :attr:`waits` and :attr:`responses`.

        Needs ``record_arrivals=True``.
        """
        _, _, st = self._raw("arrival_times")
        if self.arrival_times_all is None:
            raise ParameterError("arrival times were not recorded; pass record_arrivals=True")
        out: NDArray[np.float64] = self.arrival_times_all[st == SERVED]
        return out

    @property
    def responses(self) -> NDArray[np.float64]:
        """Response times (wait + service, s) of the served customers, in arrival order."""
        _, r, st = self._raw("responses")
        out: NDArray[np.float64] = r[st == SERVED]
        return out

    # -- counts --------------------------------------------------------------------------------
    def _total(self, column: str) -> float:
        return float(self.sums[:, _COL[column]].sum())

    @property
    def n_measured(self) -> int:
        """Arrivals after the warm-up."""
        return int(self._total("arrivals"))

    @property
    def n_served(self) -> int:
        return int(self._total("served"))

    @property
    def n_blocked(self) -> int:
        return int(self._total("blocked"))

    @property
    def n_reneged(self) -> int:
        return int(self._total("reneged"))

    def __repr__(self) -> str:
        return (
            f"SimulationResult({self.spec.describe()}; customers={self.spec.customers}, "
            f"warmup={self.spec.warmup}, keep={self.keep!r})"
        )

    # -- summary -------------------------------------------------------------------------------
    def _estimates(
        self, quantiles: tuple[float, ...] = SUMMARY_QUANTILES
    ) -> tuple[dict[str, float], dict[str, NDArray[np.float64]], dict[str, str]]:
        """Pooled estimates and per-batch estimates of every reported metric, and their units."""
        s = self.sums
        col = {name: s[:, i] for name, i in _COL.items()}
        served = col["served"]
        with np.errstate(invalid="ignore", divide="ignore"):
            span_b = col["last_arrival"] - col["first_arrival"]
            batch: dict[str, NDArray[np.float64]] = {
                "wait_mean": col["sum_wait"] / served,
                "response_mean": col["sum_response"] / served,
                "prob_wait": col["waited"] / served,
                "utilization": col["busy_time"] / (self.spec.servers * span_b),
                "throughput": served / span_b,
                "blocked_fraction": col["blocked"] / col["arrivals"],
                "reneged_fraction": col["reneged"] / col["arrivals"],
            }
        n = float(served.sum())
        valid = col["arrivals"] > 0
        span = float(col["last_arrival"][valid][-1] - col["first_arrival"][valid][0])
        pooled = {
            "wait_mean": float(col["sum_wait"].sum()) / n if n else math.nan,
            "response_mean": float(col["sum_response"].sum()) / n if n else math.nan,
            "prob_wait": float(col["waited"].sum()) / n if n else math.nan,
            "utilization": float(col["busy_time"].sum()) / (self.spec.servers * span)
            if span > 0
            else math.nan,
            "throughput": n / span if span > 0 else math.nan,
            "blocked_fraction": self.n_blocked / self.n_measured,
            "reneged_fraction": self.n_reneged / self.n_measured,
        }
        units = {
            "wait_mean": "s", "response_mean": "s", "prob_wait": "fraction", "utilization": "fraction",
            "throughput": "1/s", "blocked_fraction": "fraction", "reneged_fraction": "fraction",
        }  # fmt: skip
        for kind in ("wait", "response"):
            pooled_q, batch_q = self._quantiles(kind, quantiles)
            for i, q in enumerate(quantiles):
                name = f"{kind}_p{q * 100:g}"
                pooled[name] = float(pooled_q[i])
                batch[name] = batch_q[:, i]
                units[name] = "s"
        return pooled, batch, units

    def _quantiles(self, kind: str, ps: tuple[float, ...]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        n_batches = self.sums.shape[0]
        per_batch = np.full((n_batches, len(ps)), math.nan)
        if self.keep == "raw":
            w, r, st = self._raw("summary")
            values = w if kind == "wait" else r
            ok = st == SERVED
            pooled = np.quantile(values[ok], ps) if ok.any() else np.full(len(ps), math.nan)
            size = -(-values.size // n_batches)
            for b in range(n_batches):
                sl = slice(b * size, (b + 1) * size)
                sel = values[sl][ok[sl]]
                if sel.size:
                    per_batch[b] = np.quantile(sel, ps)
            return np.asarray(pooled, dtype=np.float64), per_batch
        hist = self.wait_hist if kind == "wait" else self.response_hist
        assert hist is not None
        served = self.sums[:, _COL["served"]]
        binned = hist.sum(axis=1).astype(np.float64)
        zeros = served - binned  # waits (or responses) of exactly zero are not binned
        pooled = _hist_quantiles(hist.sum(axis=0), float(zeros.sum()), ps, self.log_lo)
        for b in range(n_batches):
            per_batch[b] = _hist_quantiles(hist[b], float(zeros[b]), ps, self.log_lo)
        return pooled, per_batch

    def summary(self, confidence: float = 0.95, quantiles: Sequence[float] = ()) -> pd.DataFrame:
        """Means, quantiles, utilization and throughput with batch-means confidence intervals.

        Quantiles are p50, p95, p99 and p99.9 of the wait and the response, and any ``quantiles``
        asked for besides (levels in (0, 1)).

        The measured customers are split into consecutive batches (default 20); each metric's
        interval is ``estimate +- t_{B-1} * sd(batch estimates) / sqrt(B)`` (Law, *Simulation
        Modeling and Analysis* 5th ed., sec. 9.5.3).  Columns: ``estimate, ci_low, ci_high, unit``.
        Batch means assume a stationary process, so for a time-varying arrival rate or a
        :class:`~capplan.sim.Slowdown` the interval columns are NaN: replicate whole runs with
        different seeds (or slowdown offsets) instead.
        """
        if not 0 < confidence < 1:
            raise ParameterError(f"confidence must lie in (0, 1), got {confidence!r}")
        extra = [float(q) for q in quantiles]
        if any(not 0 < q < 1 for q in extra):
            raise ParameterError(f"quantiles must lie in (0, 1), got {list(quantiles)!r}")
        from scipy import stats  # noqa: PLC0415 - slow to import; only the intervals need it

        levels = tuple(sorted({*SUMMARY_QUANTILES, *extra}))
        pooled, batch, units = self._estimates(levels)
        stationary = self.spec.rate_function is None and self.spec.slowdown is None
        order = [f"wait_p{q * 100:g}" for q in levels]
        order = ["wait_mean", *order, "response_mean", *(o.replace("wait", "response") for o in order)]
        order += ["prob_wait", "utilization", "throughput", "blocked_fraction", "reneged_fraction"]
        rows = []
        for name in order:
            est = pooled[name]
            xs = batch[name][np.isfinite(batch[name])]
            if xs.size >= 2 and math.isfinite(est) and stationary:
                half = float(
                    stats.t.ppf(0.5 + confidence / 2, xs.size - 1) * xs.std(ddof=1) / math.sqrt(xs.size)
                )
            else:
                half = math.nan
            # Every metric is non-negative and fractions are at most 1: clip the symmetric interval.
            low = max(est - half, 0.0)
            high = min(est + half, 1.0) if units[name] == "fraction" else est + half
            rows.append((name, est, low, high, units[name]))
        frame = pd.DataFrame(rows, columns=["metric", "estimate", "ci_low", "ci_high", "unit"]).set_index(
            "metric"
        )
        frame.attrs["confidence"] = confidence
        frame.attrs["customers"] = self.n_measured
        frame.attrs["stationary"] = stationary
        return frame
