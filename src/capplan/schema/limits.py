"""Limits shared by the input schemas and the models that check the same values when built in code:
the Kubernetes HPA API's (``pkg/apis/autoscaling/validation``, also checked by
:func:`capplan.autoscale.manifest.validate_hpa`) and the client's retries.  Light (no pydantic)."""

from __future__ import annotations

__all__ = ["MAX_PERIOD_SECONDS", "MAX_REPLICAS", "MAX_RETRIES", "MAX_WINDOW_SECONDS"]

#: A scaling policy's ``periodSeconds`` is in (0, 1800].
MAX_PERIOD_SECONDS = 1800
#: ``stabilizationWindowSeconds`` is in [0, 3600].
MAX_WINDOW_SECONDS = 3600
#: Replicas of an HPA (Kubernetes' int32; larger is no fleet capplan plans for).
MAX_REPLICAS = 100_000
#: The largest ``max_retries`` of :class:`capplan.overload.policy.RetryPolicy` (attempt counts are
#: stored in one byte).
MAX_RETRIES = 100
