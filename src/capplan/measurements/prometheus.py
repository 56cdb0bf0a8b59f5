"""Prometheus HTTP API client: instant and range queries as tidy DataFrames.

Queries go to ``/api/v1/query`` and ``/api/v1/query_range`` (Prometheus documentation, "HTTP
API", sections "Instant queries", "Range queries" and "Expression query result formats").  Every
result - an instant vector, a range vector (matrix), or a scalar - becomes one tidy DataFrame with
one row per sample: ``metric`` (the ``__name__`` label, empty when the expression dropped it), one
column per label, ``timestamp`` (Unix seconds, float) and ``value`` (float; Prometheus sends
``"NaN"``, ``"+Inf"`` as strings).  Values keep the metric's unit, which by Prometheus naming
convention is already SI (``_seconds``, ``_bytes``, ``_total`` counters).

Failures raise :class:`PrometheusError` naming the server and the query: connection refused, no
answer within ``timeout`` seconds, an HTTP error with Prometheus's own ``errorType``/``error``
(e.g. ``bad_data: parse error``), a body that is not JSON, or a JSON answer of the wrong shape.
"""

from __future__ import annotations

import json
import math
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

import pandas as pd

from capplan._strict import ascii_float, finite_json_number, load_json
from capplan.measurements._common import MeasurementError

__all__ = ["PrometheusClient", "PrometheusError", "frame_from_response", "query", "query_range"]


class PrometheusError(MeasurementError):
    """A Prometheus query failed: unreachable, timed out, rejected, or answered something malformed."""


def _sample(where: str, pair: Any) -> tuple[float, float]:
    if not (isinstance(pair, list) and len(pair) == 2):
        raise PrometheusError(f'{where}: expected a [timestamp, "value"] pair, got {pair!r}')
    stamp, value = pair
    number = ascii_float(value) if isinstance(value, str) else None
    if isinstance(stamp, bool) or not isinstance(stamp, int | float) or number is None:
        raise PrometheusError(f'{where}: sample {pair!r} is not [number, "number"]')
    return finite_json_number(stamp, f"{where}: timestamp", PrometheusError), number


def frame_from_response(payload: Mapping[str, Any] | str, source: str = "<response>") -> pd.DataFrame:
    """Turn a Prometheus API JSON answer (parsed, or its text) into the tidy sample DataFrame.

    Raises
    ------
    PrometheusError
        Not JSON, ``status`` not ``success`` (the message carries ``errorType`` and ``error``),
        or a ``data`` member of the wrong shape (the message names the key).
    """
    if isinstance(payload, str):
        payload = load_json(payload, f"{source}: answer", PrometheusError)
    if not isinstance(payload, Mapping):
        raise PrometheusError(f"{source}: expected a JSON object, got {type(payload).__name__}")
    status = payload.get("status")
    if status != "success":
        kind = payload.get("errorType", "unknown")
        err = payload.get("error", "no error message")
        raise PrometheusError(f"{source}: Prometheus answered status={status!r}: {kind}: {err}")
    data = payload.get("data")
    if not isinstance(data, Mapping) or "resultType" not in data or "result" not in data:
        raise PrometheusError(f"{source}: key 'data' must hold 'resultType' and 'result', got {data!r}")
    kind = data["resultType"]
    result = data["result"]
    rows: list[dict[str, Any]] = []
    if kind == "scalar":
        t, v = _sample(f"{source}: data.result", result)
        rows.append({"metric": "", "timestamp": t, "value": v})
    elif kind in ("vector", "matrix"):
        if not isinstance(result, list):
            raise PrometheusError(f"{source}: key 'data.result' must be a list for a {kind}")
        for i, series in enumerate(result):
            where = f"{source}: data.result[{i}]"
            if not isinstance(series, Mapping) or not isinstance(series.get("metric"), Mapping):
                raise PrometheusError(f"{where}: expected an object with a 'metric' object")
            labels = {str(k): str(v) for k, v in series["metric"].items()}
            name = labels.pop("__name__", "")
            points = [series.get("value")] if kind == "vector" else series.get("values")
            if not isinstance(points, list):
                raise PrometheusError(f"{where}: missing {'value' if kind == 'vector' else 'values'}")
            for pair in points:
                t, v = _sample(where, pair)
                rows.append({"metric": name, **labels, "timestamp": t, "value": v})
    else:
        raise PrometheusError(
            f"{source}: unsupported resultType {kind!r} (expected vector, matrix or scalar)"
        )
    if not rows:
        return pd.DataFrame({"metric": pd.Series(dtype=str), "timestamp": [], "value": []})
    frame = pd.DataFrame(rows)
    labels_cols = sorted(c for c in frame.columns if c not in ("metric", "timestamp", "value"))
    frame = frame[["metric", *labels_cols, "timestamp", "value"]]
    frame[labels_cols] = frame[labels_cols].fillna("")
    return frame.astype({"timestamp": float, "value": float})


class PrometheusClient:
    """A Prometheus server's HTTP API at ``url`` (e.g. ``"http://127.0.0.1:9090"``).

    ``timeout`` (seconds) bounds each request on the client side and is also sent as the
    query's server-side ``timeout`` parameter.  ``headers`` are sent with every request (e.g. an
    ``Authorization`` header); they are secrets as far as the client goes: neither ``repr`` nor any
    error message shows them.
    """

    def __init__(self, url: str, timeout: float = 10.0, *, headers: Mapping[str, str] | None = None) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise PrometheusError(f"url must be http(s)://host:port, got {url!r}")
        if not (isinstance(timeout, int | float) and math.isfinite(timeout) and timeout > 0):
            raise PrometheusError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.url = url.rstrip("/")
        self.timeout = float(timeout)
        self._headers = dict(headers or {})

    def __repr__(self) -> str:
        return f"PrometheusClient({self.url!r}, timeout={self.timeout:g})"

    def get(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        """GET ``path`` with ``params``; the parsed JSON answer (errors as :class:`PrometheusError`)."""
        address = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        what = f"{self.url}{path} (query={params.get('query', '')!r})"
        try:
            request = urllib.request.Request(address, headers=self._headers)
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                body = reply.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as exc:
            body = exc.read().decode("utf-8", errors="replace")
            try:
                detail = json.loads(body)
                message = f"{detail.get('errorType', 'error')}: {detail.get('error', body[:200])}"
            except (ValueError, RecursionError, AttributeError):  # not JSON, or not an object
                message = body[:200].strip() or exc.reason
            raise PrometheusError(f"{what}: HTTP {exc.code}: {message}") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError | socket.timeout):
                raise PrometheusError(f"{what}: no answer within {self.timeout:g} s") from None
            raise PrometheusError(f"{what}: cannot connect ({exc.reason})") from None
        except TimeoutError:
            raise PrometheusError(f"{what}: no answer within {self.timeout:g} s") from None
        except OSError as exc:
            raise PrometheusError(f"{what}: connection failed ({exc})") from None
        parsed = load_json(body, f"{what}: answer", PrometheusError)
        if not isinstance(parsed, dict):
            raise PrometheusError(f"{what}: expected a JSON object, got {type(parsed).__name__}")
        return parsed

    def query(self, promql: str, time: float | None = None) -> pd.DataFrame:
        """Instant query at ``time`` (Unix seconds; the server's now if omitted)."""
        params = {"query": promql, "timeout": f"{self.timeout:g}s"}
        if time is not None:
            params["time"] = repr(float(time))
        return frame_from_response(self.get("/api/v1/query", params), f"{self.url} query {promql!r}")

    def query_range(self, promql: str, start: float, end: float, step: float) -> pd.DataFrame:
        """Range query from ``start`` to ``end`` (Unix seconds) every ``step`` seconds."""
        if not (math.isfinite(step) and step > 0):
            raise PrometheusError(f"step must be a positive number of seconds, got {step!r}")
        if not end >= start:
            raise PrometheusError(f"end must not be before start, got start={start!r}, end={end!r}")
        params = {
            "query": promql,
            "start": repr(float(start)),
            "end": repr(float(end)),
            "step": repr(float(step)),
            "timeout": f"{self.timeout:g}s",
        }
        return frame_from_response(
            self.get("/api/v1/query_range", params), f"{self.url} query_range {promql!r}"
        )


def query(url: str, promql: str, *, time: float | None = None, timeout: float = 10.0) -> pd.DataFrame:
    """Instant query against the server at ``url``; see :meth:`PrometheusClient.query`."""
    return PrometheusClient(url, timeout).query(promql, time)


def query_range(
    url: str, promql: str, start: float, end: float, step: float, *, timeout: float = 10.0
) -> pd.DataFrame:
    """Range query against the server at ``url``; see :meth:`PrometheusClient.query_range`."""
    return PrometheusClient(url, timeout).query_range(promql, start, end, step)
