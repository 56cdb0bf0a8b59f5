"""What :func:`capplan.sim.simulate_overload` returns: a timeline per bin and a record per request."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from capplan.errors import ParameterError
from capplan.sim.overload_kernel import BIN_COLUMNS, OK, REFUSED, REJECTED, SLOW, STATUS_NAMES, TIMEOUT

if TYPE_CHECKING:
    from capplan.sim.overload import OverloadSpec

__all__ = ["OverloadResult", "recovery_time", "success_by_bin"]

_C = {name: i for i, name in enumerate(BIN_COLUMNS)}


def success_by_bin(
    first_sent: NDArray[np.float64], succeeded: NDArray[np.bool_], width: float, bins: int
) -> NDArray[np.float64]:
    """Per bin of ``width`` seconds, the share of the requests first sent in it that succeeded
    in the end (1 where none was sent; requests past the last bin count in it)."""
    index = np.minimum((np.asarray(first_sent) / width).astype(np.int64), bins - 1)
    sent = np.bincount(index, minlength=bins).astype(np.float64)
    answered = np.bincount(index, weights=np.asarray(succeeded, dtype=np.float64), minlength=bins)
    return np.divide(answered, sent, out=np.ones(bins), where=sent > 0)


def recovery_time(success: NDArray[np.float64], width: float, after: float, level: float = 0.9) -> float:
    """Seconds after ``after`` until every later bin has at least ``level`` of its requests succeed.

    ``success[i]`` is bin ``i``'s share (bins ``width`` seconds wide from 0, see
    :func:`success_by_bin`); the answer is the start of the first bin of that final good stretch
    minus ``after`` (0 if it began before), ``inf`` when the last bin is still below ``level``.
    """
    if not 0 < level <= 1:
        raise ParameterError(f"level must be in (0, 1], got {level!r}")
    times = np.arange(len(success)) * width
    bad = np.flatnonzero((np.asarray(success) < level) & (times + width > after))
    if bad.size == 0:
        return 0.0
    i = int(bad[-1]) + 1
    if i >= len(success):
        return math.inf
    return max(float(times[i]) - after, 0.0)


def _ratio(num: float, den: float) -> float:
    """num / den, 0 when there is nothing to divide (no requests: no failures either)."""
    return num / den if den > 0 else 0.0


@dataclass(frozen=True, repr=False, eq=False)
class OverloadResult:
    """Records of one overload simulation.

    ``arrivals``, ``status``, ``latency`` and ``attempts`` have one entry per request, in order of
    the first attempt: its send time, its final outcome (codes of
    :data:`capplan.sim.overload_kernel.STATUS_NAMES`), the time from the first send to that outcome,
    and the attempts it made.  ``sums`` holds per-bin counts (:data:`BIN_COLUMNS`), its last row
    everything at or after the end of the load.  ``end_time`` is the time of the last event and
    ``backlog`` the work per server still queued then, seconds.
    """

    spec: OverloadSpec
    arrivals: NDArray[np.float64]
    sums: NDArray[np.float64]
    status: NDArray[np.int8]
    latency: NDArray[np.float64]
    attempts: NDArray[np.int8]
    end_time: float
    backlog: float

    # -- per request ------------------------------------------------------------------------------
    @property
    def succeeded(self) -> NDArray[np.bool_]:
        """Requests answered in the end (a slow answer counts unless the breaker makes it an error)."""
        ok = self.status == OK
        if self.spec.breaker is None or not self.spec.breaker.slow_call_is_error:
            ok |= self.status == SLOW
        return np.asarray(ok)

    def _window(self, start: float, end: float | None) -> NDArray[np.bool_]:
        stop = self.spec.duration if end is None else end
        if not (math.isfinite(start) and start >= 0 and stop > start):
            raise ParameterError(f"window: need 0 <= start < end, got start={start!r}, end={end!r}")
        return np.asarray((self.arrivals >= start) & (self.arrivals < stop))

    def _bins(self, start: float, end: float | None) -> slice:
        width = self.spec.bin_width
        stop = self.spec.duration if end is None else end
        first = math.ceil(start / width - 1e-9)
        last = min(math.floor(stop / width + 1e-9), self.sums.shape[0] - 1)
        return slice(first, max(first, last))

    def summary(self, start: float = 0.0, end: float | None = None) -> pd.Series:
        """Outcomes of the requests first sent in ``[start, end)`` and the server's work then.

        Request shares (``success_ratio``, ``error_rate``, ``timeout_rate``, ``refused_rate``,
        ``rejected_rate``) follow each request to its final outcome; ``attempts_per_request``,
        ``attempt_timeout_probability``, ``goodput`` (answers per second), ``utilization`` and
        ``wasted_share`` (of the server's busy time) come from the time bins inside the window.
        """
        mask = self._window(start, end)
        n = int(mask.sum())
        st = self.status[mask]
        ok = self.succeeded[mask]
        sl = self._bins(start, end)
        col = {name: float(self.sums[sl, i].sum()) for name, i in _C.items()}
        span = (sl.stop - sl.start) * self.spec.bin_width
        lat = self.latency[mask][ok]
        out = {
            "requests": float(n),
            "success_ratio": _ratio(float(ok.sum()), n),
            "error_rate": _ratio(float(n - ok.sum()), n),
            "timeout_rate": _ratio(float((st == TIMEOUT).sum()), n),
            "refused_rate": _ratio(float((st == REFUSED).sum()), n),
            "rejected_rate": _ratio(float((st == REJECTED).sum()), n),
            "attempts_per_request": _ratio(float(self.attempts[mask].sum()), n),
            "attempt_timeout_probability": _ratio(col["timeouts"], col["attempts"] - col["rejected"]),
            "goodput": _ratio(col["succeeded"], span),
            "utilization": _ratio(col["busy"], span * self.spec.servers),
            "wasted_share": _ratio(col["wasted"], col["busy"]),
            "latency_p50": float(np.quantile(lat, 0.5)) if lat.size else math.inf,
            "latency_p99": float(np.quantile(lat, 0.99)) if lat.size else math.inf,
        }
        return pd.Series(out, name=f"[{start:g}, {self.spec.duration if end is None else end:g}) s")

    # -- per bin ----------------------------------------------------------------------------------
    @cached_property
    def timeline(self) -> pd.DataFrame:
        """Per bin: rates per second, the servers' busy share, the share of it wasted, mean wait.

        Columns ``time`` (bin start), ``offered`` (first attempts), ``attempts``, ``retries``,
        ``goodput`` (answers), ``failed`` (requests failed for good), ``success_ratio`` (of the
        requests first sent in the bin, the share that succeed in the end; 1 when none was sent),
        ``timeouts``, ``shed``
        (refused or dropped by the server), ``rejected`` (by the breaker), ``utilization`` (service
        started per server-second; briefly above 1 when long services start together),
        ``wasted_share``, ``mean_wait`` (s, of the attempts that queued; 0 when none did) and
        ``breaker_opens``.
        """
        s = self.sums[:-1]
        width = self.spec.bin_width
        col = {name: s[:, i] for name, i in _C.items()}
        with np.errstate(invalid="ignore", divide="ignore"):
            wasted = np.where(col["busy"] > 0, col["wasted"] / col["busy"], 0.0)
            wait = np.where(col["queued"] > 0, col["wait"] / col["queued"], 0.0)
        shed = col["shed_queue"] + col["shed_delay"] + col["dropped_expired"]
        success = success_by_bin(self.arrivals, self.succeeded, width, s.shape[0])
        return pd.DataFrame(
            {
                "time": np.arange(s.shape[0]) * width,
                "offered": col["requests"] / width,
                "attempts": col["attempts"] / width,
                "retries": col["retries"] / width,
                "goodput": col["succeeded"] / width,
                "failed": col["failed"] / width,
                "success_ratio": success,
                "timeouts": col["timeouts"] / width,
                "shed": shed / width,
                "rejected": col["rejected"] / width,
                "utilization": col["busy"] / (width * self.spec.servers),
                "wasted_share": wasted,
                "mean_wait": wait,
                "breaker_opens": col["breaker_opens"],
            }
        )

    def recovery_time(self, after: float, level: float = 0.9) -> float:
        """Seconds after ``after`` until the requests succeed again, for good.

        The start of the first bin from which every later bin of the load has at least ``level``
        of the requests first sent in it succeed in the end (``success_ratio`` of the timeline);
        ``inf`` when the run ends still below (it has not recovered).
        """
        return recovery_time(self.timeline["success_ratio"].to_numpy(), self.spec.bin_width, after, level)

    def totals(self) -> dict[str, float]:
        """Counts over the whole run (the bins after the load included), and the request shares."""
        col = {name: float(self.sums[:, i].sum()) for name, i in _C.items()}
        n = float(self.status.size)
        counts = {STATUS_NAMES[k]: float((self.status == k).sum()) for k in range(len(STATUS_NAMES))}
        return {
            "requests": n,
            "attempts": col["attempts"],
            "succeeded": float(self.succeeded.sum()),
            **{f"final_{k}": v for k, v in counts.items() if k not in ("ok", "slow")},
            "success_ratio": _ratio(float(self.succeeded.sum()), n),
            "amplification": _ratio(col["attempts"], n),
            "wasted_share": _ratio(col["wasted"], col["busy"]),
            "breaker_opens": col["breaker_opens"],
            "backlog_s": self.backlog,
        }

    def __repr__(self) -> str:
        t = self.totals()
        return (
            f"OverloadResult({self.spec.describe()}; {int(t['requests'])} requests, "
            f"success {t['success_ratio']:.4f}, {t['amplification']:.3f} attempts per request)"
        )

    def _repr_html_(self) -> str:
        return f"<pre>{self!r}</pre>{self.summary().to_frame().to_html()}"
