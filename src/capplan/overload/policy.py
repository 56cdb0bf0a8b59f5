"""What clients and servers do when a service is slow: timeouts, retries, breakers, shedding.

Small frozen dataclasses shared by the simulator (:func:`capplan.sim.simulate_overload`), the
analytic retry-amplification model (:class:`capplan.overload.RetryAmplification`) and the plan,
so one description of a client's behaviour drives all three.  Each validates itself and raises
:class:`~capplan.errors.ParameterError` naming the field and the value.

* :class:`ClientPolicy` -- a timeout per attempt and a :class:`RetryPolicy` (at most
  ``max_retries`` retries, spaced by a :class:`Backoff`, optionally limited by a
  :class:`RetryBudget`).
* :class:`CircuitBreaker` -- the seed's adaptive breaker (closed / open / half-open; consecutive
  failures and slow calls; an error rate over a window of calls).
* :class:`LoadShedding` -- what the server drops: arrivals that find a long queue, requests that
  waited too long (a CoDel-like rule), requests whose client has already given up.

References
----------
M. Brooker, "Exponential Backoff And Jitter", AWS Architecture Blog, 2015 (full and equal jitter).
B. Beyer et al., *Site Reliability Engineering*, O'Reilly 2016, ch. 22 "Addressing Cascading
Failures" (retry budgets, per-request retry limits, deadline propagation).
M. T. Nygard, *Release It!*, Pragmatic Bookshelf 2007 (the circuit breaker).
B. Maurer, "Fail at Scale", ACM Queue 13(8), 2015 (controlled delay for server queues).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
from numpy.typing import ArrayLike

from capplan.errors import ParameterError
from capplan.schema.limits import MAX_RETRIES

__all__ = [
    "JITTER",
    "Backoff",
    "CircuitBreaker",
    "ClientPolicy",
    "Jitter",
    "LoadShedding",
    "RetryBudget",
    "RetryPolicy",
]

Jitter = Literal["none", "full", "equal"]
#: Jitter kinds of :class:`Backoff`: none (the nominal delay), full (uniform on [0, d]), equal
#: (d/2 plus uniform on [0, d/2]); Brooker (2015).
JITTER: tuple[str, ...] = get_args(Jitter)


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ParameterError(f"{name} must be a number, got {value!r}")
    x = float(value)
    if math.isnan(x):
        raise ParameterError(f"{name} must not be NaN")
    return x


def _positive(name: str, value: Any, *, allow_inf: bool = False) -> float:
    x = _number(name, value)
    if not (x > 0 and (allow_inf or math.isfinite(x))):
        what = "positive" if allow_inf else "positive and finite"
        raise ParameterError(f"{name} must be {what}, got {value!r}")
    return x


def _nonnegative(name: str, value: Any, *, allow_inf: bool = False) -> float:
    x = _number(name, value)
    if not (x >= 0 and (allow_inf or math.isfinite(x))):
        what = "non-negative" if allow_inf else "non-negative and finite"
        raise ParameterError(f"{name} must be {what}, got {value!r}")
    return x


def _integer(name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    x = _number(name, value)
    if not (math.isfinite(x) and x == int(x) and x >= minimum and (maximum is None or x <= maximum)):
        upper = "" if maximum is None else f" and <= {maximum}"
        raise ParameterError(f"{name} must be an integer >= {minimum}{upper}, got {value!r}")
    return int(x)


def _fraction(name: str, value: Any) -> float:
    x = _number(name, value)
    if not 0 <= x <= 1:
        raise ParameterError(f"{name} must be a fraction in [0, 1], got {value!r}")
    return x


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class Backoff:
    """The wait before each retry: ``min(cap, base * multiplier**(k - 1))`` before retry ``k``.

    ``multiplier == 1`` is a fixed backoff, ``> 1`` exponential.  ``jitter`` randomises each
    delay ``d``: ``"full"`` draws it uniformly on ``[0, d]``, ``"equal"`` on ``[d/2, d]``
    (Brooker 2015); ``"none"`` keeps ``d``.
    """

    base: float = 0.0
    multiplier: float = 1.0
    cap: float = math.inf
    jitter: Jitter = "none"

    def __post_init__(self) -> None:
        _set(self, "base", _nonnegative("backoff.base", self.base))
        mult = _number("backoff.multiplier", self.multiplier)
        if not (math.isfinite(mult) and mult >= 1):
            raise ParameterError(f"backoff.multiplier must be >= 1 (1 is a fixed backoff), got {mult!r}")
        _set(self, "multiplier", mult)
        _set(self, "cap", _nonnegative("backoff.cap", self.cap, allow_inf=True))
        if self.jitter not in JITTER:
            raise ParameterError(f"backoff.jitter must be one of {', '.join(JITTER)}, got {self.jitter!r}")

    @classmethod
    def fixed(cls, delay: float, jitter: Jitter = "none") -> Backoff:
        """The same delay before every retry."""
        return cls(delay, 1.0, math.inf, jitter)

    @classmethod
    def exponential(
        cls, base: float, multiplier: float = 2.0, cap: float = math.inf, jitter: Jitter = "full"
    ) -> Backoff:
        """``base``, ``base * multiplier``, ... up to ``cap``, with full jitter by default."""
        return cls(base, multiplier, cap, jitter)

    def delay(self, retry: ArrayLike) -> Any:
        """The nominal delay (no jitter) before retry number ``retry`` (1, 2, ...), seconds."""
        k = np.asarray(retry, dtype=np.float64)
        with np.errstate(over="ignore"):
            d = np.minimum(self.cap, self.base * self.multiplier ** np.maximum(k - 1.0, 0.0))
        return float(d) if d.ndim == 0 else d

    def mean_delay(self, retry: ArrayLike) -> Any:
        """The mean delay before retry number ``retry``, jitter included, seconds."""
        share = {"none": 1.0, "full": 0.5, "equal": 0.75}[self.jitter]
        return share * self.delay(retry)


@dataclass(frozen=True)
class RetryBudget:
    """At most ``ratio`` retries per first attempt, over time (a token bucket).

    Every first attempt adds ``ratio`` tokens (up to ``burst``); every retry takes one, and a
    failed attempt is not retried when less than one token is left.  Over a long run retries are
    at most ``ratio`` times the requests plus ``burst`` (SRE book, ch. 22: "implement a per-client
    retry budget ... 10% of requests").
    """

    ratio: float = 0.1
    burst: float = 10.0

    def __post_init__(self) -> None:
        _set(self, "ratio", _nonnegative("retry_budget.ratio", self.ratio))
        burst = _number("retry_budget.burst", self.burst)
        if not (math.isfinite(burst) and burst >= 1):
            raise ParameterError(f"retry_budget.burst must be >= 1 token, got {self.burst!r}")
        _set(self, "burst", burst)


@dataclass(frozen=True)
class RetryPolicy:
    """Retry a failed attempt (timed out or refused) up to ``max_retries`` times."""

    max_retries: int = 0
    backoff: Backoff = field(default_factory=Backoff)
    budget: RetryBudget | None = None

    def __post_init__(self) -> None:
        _set(self, "max_retries", _integer("max_retries", self.max_retries, 0, MAX_RETRIES))
        if not isinstance(self.backoff, Backoff):
            raise ParameterError(f"backoff must be a capplan Backoff, got {type(self.backoff).__name__}")
        if self.budget is not None and not isinstance(self.budget, RetryBudget):
            raise ParameterError(f"budget must be a RetryBudget or None, got {type(self.budget).__name__}")

    @property
    def retry_limit(self) -> float:
        """Most retries per request on average: ``max_retries``, or the budget's ratio if lower."""
        cap = math.inf if self.budget is None else self.budget.ratio
        return float(min(self.max_retries, cap))

    def retries_per_request(self, p: ArrayLike) -> Any:
        """Mean retries per request when each attempt fails independently with probability ``p``.

        ``sum_{k=1}^{R} p^k`` for ``R = max_retries``, capped by the budget's ratio.
        """
        pp = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
        k = np.arange(1, self.max_retries + 1, dtype=np.float64)
        wanted = (pp[..., None] ** k).sum(axis=-1) if k.size else np.zeros_like(pp)
        out = np.minimum(wanted, self.retry_limit)
        return float(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class ClientPolicy:
    """A client's behaviour: give up on an attempt after ``timeout`` seconds, then retry.

    ``timeout = inf`` waits for ever (no timeouts, so no retries after timeouts; refused attempts
    are still retried).
    """

    timeout: float = math.inf
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        _set(self, "timeout", _positive("timeout", self.timeout, allow_inf=True))
        if not isinstance(self.retry, RetryPolicy):
            raise ParameterError(f"retry must be a capplan RetryPolicy, got {type(self.retry).__name__}")


@dataclass(frozen=True)
class CircuitBreaker:
    """The seed's adaptive circuit breaker (``AdaptiveCircuitBreaker`` in Go), one per client.

    Closed: calls pass.  It opens after ``failure_threshold`` consecutive failures (a slow call,
    longer than ``response_time_threshold``, counts as one), or when more than
    ``error_rate_threshold`` of the last ``window`` calls failed.  Open: calls fail at once
    without reaching the server, until ``timeout`` seconds have passed since the last failure;
    the next call then finds it half-open.  Half-open: calls pass; a failure opens it again,
    ``success_threshold`` consecutive successes close it.

    Field names mirror the seed's ``Config`` (``FailureThreshold``, ``SuccessThreshold``,
    ``Timeout``, ``ResponseTimeThreshold``, ``ErrorRateThreshold``).  Where the seed's code
    leaves a choice open capplan takes a stated one: the seed computes the error rate over every
    call since start-up, and checks it before counting a success, so after a burst of failures
    each half-open success would open it again and it would never close; capplan uses the last
    ``window`` calls (the seed keeps that many response times), judged once the window is full,
    and starts a new window at every change of state (as resilience4j does).  A slow call is
    delivered to the caller unless
    ``slow_call_is_error`` (the seed returns ``ErrSlowResponse``).  Defaults follow
    sony/gobreaker (open after 5 consecutive failures, 60 s open) and resilience4j (50% error
    rate over 100 calls); the seed sets no values.
    """

    failure_threshold: int = 5
    success_threshold: int = 1
    timeout: float = 60.0
    response_time_threshold: float = math.inf
    error_rate_threshold: float = 0.5
    window: int = 100
    slow_call_is_error: bool = False

    def __post_init__(self) -> None:
        _set(self, "failure_threshold", _integer("breaker.failure_threshold", self.failure_threshold, 1))
        _set(self, "success_threshold", _integer("breaker.success_threshold", self.success_threshold, 1))
        _set(self, "timeout", _positive("breaker.timeout", self.timeout))
        _set(
            self,
            "response_time_threshold",
            _positive("breaker.response_time_threshold", self.response_time_threshold, allow_inf=True),
        )
        _set(
            self, "error_rate_threshold", _fraction("breaker.error_rate_threshold", self.error_rate_threshold)
        )
        _set(self, "window", _integer("breaker.window", self.window, 1))
        if not isinstance(self.slow_call_is_error, bool):
            raise ParameterError(
                f"breaker.slow_call_is_error must be true or false, got {self.slow_call_is_error!r}"
            )


@dataclass(frozen=True)
class LoadShedding:
    """What the server refuses or drops so that it does not serve work nobody waits for.

    ``max_queue``: an arriving attempt that would have to wait behind this many others is
    refused at once (0: nobody waits).
    ``target``/``interval``: a CoDel-like rule on queueing time (Maurer 2015, after Nichols &
    Jacobson's CoDel): when the queue has not been empty for the last ``interval`` seconds, an
    attempt that waited more than ``target`` is dropped when it reaches the head (refused, so
    the client learns at once); otherwise the limit is ``interval``.
    ``drop_expired``: drop at the head an attempt whose client has already timed out (deadline
    propagation), instead of serving it for nobody.
    """

    max_queue: int | None = None
    target: float | None = None
    interval: float = 0.1
    drop_expired: bool = False

    def __post_init__(self) -> None:
        if self.max_queue is not None:
            _set(self, "max_queue", _integer("shedding.max_queue", self.max_queue, 0))
        if self.target is not None:
            _set(self, "target", _positive("shedding.target", self.target))
        _set(self, "interval", _positive("shedding.interval", self.interval))
        if self.target is not None and self.target > self.interval:
            raise ParameterError(
                f"shedding.target ({self.target:g} s) must not exceed shedding.interval ({self.interval:g} s)"
            )
        if not isinstance(self.drop_expired, bool):
            raise ParameterError(f"shedding.drop_expired must be true or false, got {self.drop_expired!r}")
