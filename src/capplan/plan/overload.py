"""The plan's overload section: per class, what timeouts and retries do at and past the planned load.

For each sized class the replicas are independent queues of ``workers`` servers (load spread
evenly), each fed ``1/replicas`` of the class's first attempts.  :class:`ClassOverload` holds, from
the retry-amplification fixed point (:class:`capplan.overload.RetryAmplification`):

* goodput, attempts per request, the timeout probability of an attempt and the share of requests
  that fail after their retries, at the planned load;
* the safe maximum first-attempt load (``recovery_load``: below it the fleet recovers from any
  spike) and the load where it falls over by itself (``collapse_load``);
* how long a spike of the SLA's burst rate (or a given one) may last before the fleet stays down
  (:func:`capplan.overload.spike_tolerance`);
* which setting restores recovery: a retry budget or fewer retries (the fixed point), a longer
  timeout (the fluid model), and load shedding by queueing time, a circuit breaker or dropping
  expired requests (simulated through a spike, :func:`capplan.sim.simulate_overload`).

:class:`OverloadCheck` turns the SLA's ``error_rate``, ``timeout_rate`` and ``uptime`` into checks:
requests that time out after their retries (or are shed, or failed fast) are misses and spend the
error budget ``1 - uptime``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import pandas as pd

from capplan.overload import (
    CircuitBreaker,
    ClientPolicy,
    LoadShedding,
    RetryAmplification,
    RetryBudget,
    RetryPolicy,
    spike_tolerance,
)
from capplan.plan.components import AutoscalingCheck
from capplan.plan.evidence import ServiceEvidence
from capplan.plan.overload_settings import OverloadSettings
from capplan.sizing.replicas import ReplicaSizing
from capplan.sla import SLA

__all__ = ["ClassOverload", "Fix", "OverloadCheck", "overload_check", "overload_tables"]

#: The retry budget offered as a fix (SRE book ch. 22: 10% of requests).
BUDGET_RATIO = 0.1
#: Seconds followed after a simulated spike, in timeouts (at least), to see whether it heals.
_AFTER_TIMEOUTS = 40.0
_SIM_SEED = 20
_MIN_SIM_SPIKE = 1.0  # seconds: the shortest spike simulated when the tolerance is shorter


@dataclass(frozen=True)
class Fix:
    """A setting and whether the fleet recovers with it (``method``: how that was found).

    Analytic rows give the recovery load (fleet first attempts per second below which any spike
    heals) and the spike survived (seconds; inf: any length); simulated rows the time from the end
    of the spike until requests succeed again and the share of requests that succeeded from the
    spike's start to the end of the run (nan where it does not apply).
    """

    setting: str
    recovers: bool
    recovery_load: float
    spike_tolerance: float
    recovery_time: float
    success_ratio: float
    method: str


@dataclass(frozen=True)
class ClassOverload:
    """One class's overload numbers; rates are the whole fleet's (all replicas)."""

    op_class: str
    planned_rate: float
    replicas: int
    model: RetryAmplification  # one replica
    good: pd.Series | None  # the good state at the planned load (per replica), None if none
    spike_rate: float | None
    spike_duration: float | None
    spike_tolerance: float
    fixes: tuple[Fix, ...]

    @property
    def recovery_load(self) -> float:
        return self.model.recovery_load * self.replicas

    @property
    def collapse_load(self) -> float:
        return self.model.collapse_load * self.replicas

    @property
    def request_failure(self) -> float:
        """Share of requests failing after their retries at the planned load (1 if no good state)."""
        return 1.0 if self.good is None else float(self.good["request_failure"])

    @property
    def state(self) -> str:
        if self.planned_rate >= self.collapse_load:
            return "falls over (above the collapse load)"
        if self.planned_rate >= self.recovery_load:
            return "vulnerable (a long spike leaves it down)"
        return "stable (recovers from any spike)"

    def row(self) -> dict[str, object]:
        good = self.good
        n = self.replicas
        return {
            "class": self.op_class,
            "planned_rate": self.planned_rate,
            "attempts_per_request": math.inf if good is None else float(good["amplification"]),
            "attempt_timeout_probability": 1.0 if good is None else float(good["timeout_probability"]),
            "request_failure": self.request_failure,
            "goodput": 0.0 if good is None else float(good["goodput"]) * n,
            "recovery_load": self.recovery_load,
            "collapse_load": self.collapse_load,
            "state": self.state,
            "spike_rate": math.nan if self.spike_rate is None else self.spike_rate,
            "spike_tolerance_s": self.spike_tolerance,
        }


@dataclass(frozen=True)
class OverloadCheck:
    """The overload section of a plan: per class results, and the SLA's availability targets."""

    settings: OverloadSettings
    classes: dict[str, ClassOverload]
    targets: dict[str, float]  # uptime (min), error_rate and timeout_rate (max), when the SLA sets them
    dropped: tuple[str, float, float] | None = None  # HPA run: class, requests dropped, requests

    @property
    def assumptions(self) -> list[str]:
        """What the overload section assumes (added to the plan's assumptions)."""
        out = [
            "overload: each replica a queue of its own, fed 1/N of its class's first attempts; "
            "attempts Poisson and independent (mean field), service times by their mean and SCV",
            "overload: the server serves attempts its clients have abandoned unless a setting drops them",
            "overload: one circuit breaker sees every call of its class (a shared client library or sidecar)",
        ]
        if self.dropped is not None:
            out.append(
                f"overload: in the HPA run, requests of {self.dropped[0]} that would wait longer than the "
                "client timeout are dropped (failures; their retries are not modelled there)"
            )
        return out

    def to_frame(self) -> pd.DataFrame:
        """Per class: planned load, attempts, failures, goodput, thresholds, spike tolerance."""
        return pd.DataFrame([c.row() for c in self.classes.values()])

    def fixes(self) -> pd.DataFrame:
        """Per class and setting: does the fleet recover, and how that was found."""
        rows = [{"class": c.op_class, **vars(f)} for c in self.classes.values() for f in c.fixes]
        columns = ["class", *Fix.__dataclass_fields__]
        return pd.DataFrame(rows, columns=columns)

    def sla_checks(self) -> pd.DataFrame:
        """Per class and target: the value, the target, met, error-budget spend, and the source: the
        fixed point at the planned load, or the HPA run over the traffic (requests dropped)."""
        rows = []
        budget = 1.0 - self.targets["uptime"] if "uptime" in self.targets else math.nan
        for c in self.classes.values():
            rows += self._rows(c.op_class, c.request_failure, budget, _AT_PLANNED_LOAD)
        if self.dropped is not None and self.dropped[2] > 0:
            op_class, lost, total = self.dropped
            rows += self._rows(op_class, lost / total, budget, _OVER_THE_TRAFFIC)
        return pd.DataFrame(rows, columns=_CHECK_COLUMNS)

    def _rows(self, label: str, fail: float, budget: float, source: str) -> list[dict[str, object]]:
        values = {"error_rate": fail, "timeout_rate": fail, "uptime": 1.0 - fail}
        rows: list[dict[str, object]] = []
        for name, target in self.targets.items():
            met = values[name] >= target if name == "uptime" else values[name] <= target
            spend = fail / budget if budget > 0 else math.nan
            rows.append({"class": label, "target": name, "value": values[name], "limit": target,
                         "met": met, "error_budget_spend": spend, "source": source})  # fmt: skip
        return rows

    def misses(self) -> list[str]:
        out = []
        checks = self.sla_checks()
        for row in checks[~checks["met"].astype(bool)].to_dict(orient="records"):
            op = "<" if row["target"] == "uptime" else ">"
            out.append(
                f"{row['class']}: {row['target']} {row['value']:.4%} {op} target {row['limit']:.4%} "
                f"{row['source']}"
            )
        for c in self.classes.values():
            if c.planned_rate >= c.collapse_load:
                out.append(
                    f"{c.op_class}: the planned {c.planned_rate:.6g}/s is above the collapse load "
                    f"{c.collapse_load:.6g}/s: timeouts and retries take the fleet down without a spike"
                )
            elif c.spike_duration is not None and c.spike_tolerance < c.spike_duration:
                restore = [f.setting for f in c.fixes if f.recovers]
                out.append(
                    f"{c.op_class}: a spike of {c.spike_rate:.6g}/s for {c.spike_duration:g} s leaves the "
                    f"fleet down (it survives {c.spike_tolerance:.3g} s); recovery is restored by "
                    f"{', '.join(restore) or 'none of the settings tried'}"
                )
        return out

    def totals(self) -> dict[str, object]:
        """JSON-ready: settings, per-class rows, fixes and SLA checks."""
        return {
            "timeout": self.settings.client.timeout,
            "max_retries": self.settings.client.retry.max_retries,
            "classes": self.to_frame().to_dict(orient="records"),
            "fixes": self.fixes().to_dict(orient="records"),
            "sla_checks": self.sla_checks().to_dict(orient="records"),
        }


_AT_PLANNED_LOAD = "at the planned load (timeouts after retries; retry-amplification fixed point)"
_OVER_THE_TRAFFIC = "over the HPA's traffic (requests that would wait longer than the timeout)"
_CHECK_COLUMNS = ["class", "target", "value", "limit", "met", "error_budget_spend", "source"]


def overload_tables(check: OverloadCheck) -> list[tuple[str, pd.DataFrame]]:
    """The report's overload tables (titles and frames, rounded for display); the per-class numbers
    one column per class, so the table stays narrow whatever the number of quantities."""
    c = check.settings.client
    title = (
        f"Overload: timeouts ({c.timeout:g} s unless set per class) and {c.retry.max_retries} retries "
        "at the planned load"
    )
    per_class = check.to_frame().set_index("class").map(_display).T
    per_class = per_class.rename_axis(index="quantity", columns=None)
    fixes = check.fixes()
    out = [(title, per_class)]
    if len(fixes):
        out.append(("Overload: settings that restore recovery", fixes.set_index("class").map(_display)))
    sla = check.sla_checks().set_index("class").map(_display)
    out.append(("Overload: the SLA's availability targets", sla))
    return out


def _seconds(value: float) -> str:
    return f"{value * 1e3:.3g} ms" if value < 1 else f"{value:.3g} s"


def _display(value: object) -> object:
    """Floats to 4 significant digits for the report (inf and nan kept)."""
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.4g}")
    return value


def _targets(sla: SLA) -> dict[str, float]:
    wanted = {"uptime": "min", "error_rate": "max", "timeout_rate": "max"}
    return {a.name: a.value for a in sla.availability_targets if wanted.get(a.name) == a.bound}


def overload_check(
    settings: OverloadSettings,
    sla: SLA,
    rates: Mapping[str, float],
    load: str,
    shares: Mapping[str, float],
    evidence: Mapping[str, ServiceEvidence],
    sized: Mapping[str, ReplicaSizing],
    autoscaling: AutoscalingCheck | None = None,
) -> OverloadCheck:
    """Build the overload section for every sized class (see the module docstring).

    ``rates`` are the levels of the planned throughput target: ``rates[load]`` is planned, and its
    ``burst`` level the default spike.  With an ``autoscaling`` check that simulated the HPA over
    traffic (with the class's client timeout), the requests it dropped count against the SLA's
    targets too.
    """
    fleet_spike = settings.spike_rate if settings.spike_rate is not None else rates.get("burst")
    classes = {}
    for op_class, sizing in sized.items():
        share = shares.get(op_class, 1.0)
        classes[op_class] = _class(
            settings,
            op_class,
            rates[load] * share,
            None if fleet_spike is None else fleet_spike * share,
            evidence[op_class],
            sizing,
        )
    dropped = None
    if autoscaling is not None and autoscaling.result is not None:
        timeline = autoscaling.result.timeline
        total = float((timeline["arrival_rate"] * autoscaling.result.step).sum())
        dropped = (autoscaling.op_class, autoscaling.result.dropped, total)
    return OverloadCheck(settings, classes, _targets(sla), dropped)


def _model(client: ClientPolicy, ev: ServiceEvidence, workers: int) -> RetryAmplification:
    # two moments of the evidence: the fixed point evaluates the queue at hundreds of loads
    return RetryAmplification(client, workers, service_rate=1.0 / ev.mean_s, service_scv=ev.scv)


def _class(
    settings: OverloadSettings,
    op_class: str,
    rate: float,
    spike: float | None,
    ev: ServiceEvidence,
    sizing: ReplicaSizing,
) -> ClassOverload:
    n = sizing.replicas
    client = settings.client_for(op_class)
    model = _model(client, ev, sizing.workers)
    per = rate / n
    states = model.fixed_points(per)
    good = states[states["state"] == "good"]
    tolerance = math.inf if spike is None else spike_tolerance(model, per, spike / n)
    fixes: tuple[Fix, ...] = ()
    if per >= model.recovery_load:
        fixes = tuple(_fixes(settings, client, model, ev, per, spike, tolerance, n))
    return ClassOverload(
        op_class,
        rate,
        n,
        model,
        good.iloc[0] if len(good) else None,
        spike,
        settings.spike_duration,
        tolerance,
        fixes,
    )


def _fixes(
    settings: OverloadSettings,
    client: ClientPolicy,
    model: RetryAmplification,
    ev: ServiceEvidence,
    base: float,
    spike: float | None,
    tolerance: float,
    replicas: int,
) -> list[Fix]:
    """Settings tried on a vulnerable class (one replica's ``base`` load; ``spike`` is the fleet's)."""
    retry = client.retry
    # a spike that tips the fleet: the class's own if it does, else twice the capacity
    tips = spike is not None and math.isfinite(tolerance)
    peak = spike / replicas if tips and spike is not None else 2.0 * model.capacity
    out = []
    for label, policy in (
        (f"retry budget {BUDGET_RATIO:.0%}", replace(retry, budget=RetryBudget(BUDGET_RATIO))),
        *_fewer_retries(model, base),
    ):
        alt = _model(replace(client, retry=policy), ev, model.servers)
        out.append(
            Fix(
                label,
                base < alt.recovery_load,
                alt.recovery_load * replicas,
                spike_tolerance(alt, base, peak),
                math.nan,
                math.nan,
                "fixed point: recovery load c mu / (1 + min(R, budget))",
            )
        )
    longer = _model(replace(client, timeout=2 * client.timeout), ev, model.servers)
    out.append(
        Fix(
            f"timeout {2 * client.timeout:g} s",
            base < longer.recovery_load,
            longer.recovery_load * replicas,
            spike_tolerance(longer, base, peak),
            math.nan,
            math.nan,
            "fluid model: a longer timeout lengthens the spike survived, not the recovery load",
        )
    )
    length = settings.spike_duration if tips and settings.spike_duration else None
    if length is None:
        survived = spike_tolerance(model, base, peak)
        length = max(2.0 * survived, _MIN_SIM_SPIKE) if math.isfinite(survived) else _MIN_SIM_SPIKE
    out.extend(_simulated(settings, client, model, ev, base, peak, length, tips))
    return out


def _fewer_retries(model: RetryAmplification, base: float) -> list[tuple[str, RetryPolicy]]:
    """The most retries with which ``base`` is below the recovery load, if fewer than configured."""
    retry = model.retry
    most = math.ceil(model.capacity / base - 1.0) - 1  # (1 + k) base < c mu
    if most < 0 or most >= retry.max_retries:
        return []
    return [(f"max_retries {most}", replace(retry, max_retries=most))]


def _simulated(
    settings: OverloadSettings,
    client: ClientPolicy,
    model: RetryAmplification,
    ev: ServiceEvidence,
    base: float,
    peak: float,
    length: float,
    own_spike: bool,
) -> list[Fix]:
    """Simulate one replica through a spike of ``length`` s at ``peak``, then the base load for
    ``_AFTER_TIMEOUTS`` timeouts (or 4 spike lengths), with each server-side or breaker setting."""
    from capplan.sim import Load, simulate_overload  # noqa: PLC0415 - only for vulnerable classes

    timeout = client.timeout
    breaker = settings.breaker or CircuitBreaker()
    after = max(_AFTER_TIMEOUTS * timeout, 4.0 * length, 3.0 * breaker.timeout)
    start = 5.0 * timeout
    load = Load.spike(base, peak, start, length, start + length + after)
    # Maurer's 5 ms / 100 ms for millisecond services; scaled up for slower ones
    interval = min(max(0.1, 20 * ev.mean_s), timeout / 2)
    target = min(max(0.005, ev.mean_s), interval / 2)
    options: dict[str, tuple[CircuitBreaker | None, LoadShedding | None]] = {
        f"shedding by queueing time (target {_seconds(target)}, interval {_seconds(interval)})": (
            None,
            LoadShedding(target=target, interval=interval),
        ),
        "circuit breaker" + (" as configured" if settings.breaker else " (capplan's defaults)"): (
            breaker,
            None,
        ),
        "drop expired requests (deadline propagation)": (None, LoadShedding(drop_expired=True)),
    }
    if settings.shedding is not None:
        options = {"shedding as configured": (None, settings.shedding), **options}
    if settings.breaker is not None and settings.shedding is not None:
        options = {"breaker and shedding as configured": (settings.breaker, settings.shedding), **options}
    spike = "the class's spike" if own_spike else "a spike to twice the capacity"
    out = []
    for label, (guard, shedding) in options.items():
        r = simulate_overload(
            load,
            _service(ev),
            model.servers,
            seed=_SIM_SEED,
            client=client,
            breaker=guard,
            shedding=shedding,
            bin_width=max(timeout, length / 20),
        )
        healed = r.recovery_time(start + length)
        success = float(r.summary(start=start)["success_ratio"])
        method = f"simulated: {spike} for {length:.3g} s, then {after:.3g} s; one replica"
        out.append(Fix(label, healed < math.inf, math.nan, math.nan, healed, success, method))
    return out


def _service(ev: ServiceEvidence) -> object:
    """The evidence's distribution, or a gamma with its mean and SCV (a constant for SCV 0)."""
    if ev.distribution is not None:
        return ev.distribution
    if ev.scv == 0:
        return ev.mean_s
    from scipy import stats  # noqa: PLC0415 - heavy, only when simulating

    shape = 1.0 / ev.scv
    return stats.gamma(shape, scale=ev.mean_s / shape)
