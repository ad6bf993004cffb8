"""Prometheus metrics for one service: a per-app registry, request timing, and service counters.

Each app gets its own `CollectorRegistry` (its `ServiceState.metrics_registry`) instead of the global
default one, so several apps can be built in one test process without "duplicated timeseries"
errors. Requests are labelled by route *template* (`/get`, not `/get?user_id=7`) so the number of
series stays bounded whatever callers send; requests that match no route share one label.

The timing middleware is a plain ASGI middleware rather than `BaseHTTPMiddleware`, which would add
an extra task and stream to every request. It keeps the labelled series it has used, because
`labels()` checks and locks on every call.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TypeVar

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED_ROUTE = "<unmatched>"
# Finer than prometheus_client's defaults at the low end: most answers take about a millisecond.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RequestMetricsMiddleware:
    """Records every HTTP request's latency and status, labelled by route template and method."""

    def __init__(self, app: ASGIApp, latency: Histogram, requests: Counter) -> None:
        self.app = app
        self.latency = latency
        self.requests = requests
        self.latency_series: dict[tuple[str, ...], Histogram] = {}
        self.request_series: dict[tuple[str, ...], Counter] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the caller gets if the app raises before starting a response
        started = time.perf_counter()

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            # The router stores the matched route in the scope; its path is the template.
            route = getattr(scope.get("route"), "path", UNMATCHED_ROUTE)
            method = scope["method"]
            _series(self.latency, self.latency_series, (route, method)).observe(time.perf_counter() - started)
            _series(self.requests, self.request_series, (route, method, str(status))).inc()


Metric = TypeVar("Metric", Counter, Histogram)


def _series(metric: Metric, used: dict[tuple[str, ...], Metric], labels: tuple[str, ...]) -> Metric:
    """`metric.labels(*labels)`, looked up once per distinct labels."""
    series = used.get(labels)
    if series is None:
        series = used[labels] = metric.labels(*labels)
    return series


def install_request_metrics(app: FastAPI, registry: CollectorRegistry) -> None:
    """Time every request to `app` into `registry`, the app's own."""
    latency = Histogram(
        "http_request_duration_seconds",
        "Time to answer an HTTP request, by route template and method.",
        ["route", "method"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    requests = Counter(
        "http_requests",
        "HTTP requests answered, by route template, method and status code.",
        ["route", "method", "status"],
        registry=registry,
    )
    app.add_middleware(RequestMetricsMiddleware, latency=latency, requests=requests)


def service_counter(
    registry: CollectorRegistry, name: str, documentation: str, labelnames: Sequence[str] = ()
) -> Counter:
    """A counter exported on the app's `/metrics`, e.g. degraded answers of the recommendations service.

    Make it once per counter with the app's registry, when the app's state is made (before it starts);
    Prometheus shows the series as `<name>_total`. Registering the same name twice on one app raises
    ValueError.
    """
    return Counter(name, documentation, list(labelnames), registry=registry)
