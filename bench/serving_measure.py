"""One row of the serving benchmark: place the processes on CPUs, warm up, load with wrk, read counters.

Besides wrk's own figures, each run records how much CPU every service process used (psutil) and
how many answers the recommendations service itself counted as degraded or with an empty online
part (its Prometheus counters), so a fast but wrong run (e.g. every answer degraded because a
dependency timed out) cannot pass unnoticed.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.serving_report import EndpointFigures
from bench.serving_trio import StartedService, pin
from bench.wrk import LoadSpec, run_wrk

logger = logging.getLogger("bench.serving")
DEGRADED = "recommendations_degraded_answers"
ONLINE_EMPTY = "recommendations_online_empty_answers"
COUNTED_SERVICE = "recommendations"


@dataclass(frozen=True)
class Endpoint:
    """What to load: a service, a path prefix completed by a random id from `ids`, and the target
    share of the `ceiling` row's requests/s (None: no target, or a ceiling itself)."""

    label: str
    service: str
    prefix: str
    ids: Path | None = None
    ids_label: str = "-"
    ceiling: str | None = None
    min_share: float | None = None


@dataclass(frozen=True)
class Cpus:
    """The service under test gets `server`; wrk and the other services get `rest`.

    With 2 cores and one uvicorn worker per service, this gives the measured server a core of its
    own, as it had for its /health ceiling, instead of letting wrk and it take turns on both.
    """

    server: frozenset[int]
    rest: frozenset[int]

    @classmethod
    def split(cls, pinned: bool = True) -> Cpus:
        available = sorted(os.sched_getaffinity(0))
        if len(available) < 2 or not pinned:
            return cls(frozenset(available), frozenset(available))
        return cls(frozenset(available[:1]), frozenset(available[1:]))

    def describe(self) -> str:
        if self.server == self.rest:
            return (f"No pinning: services and wrk share CPUs {sorted(self.server)} as the kernel schedules "
                    "them; one uvicorn worker per service.")
        return (f"Pinning: the service under test on CPU {sorted(self.server)}, wrk and the other two "
                f"services on CPU {sorted(self.rest)}; one uvicorn worker per service.")


def counters(service: StartedService) -> dict[str, int]:
    """Totals of the degraded and empty-online counters from the service's /metrics."""
    text = httpx.get(f"{service.url}/metrics", timeout=5.0).text
    totals = dict.fromkeys((DEGRADED, ONLINE_EMPTY), 0)
    for family in text_string_to_metric_families(text):
        if family.name in totals:
            totals[family.name] = int(sum(sample.value for sample in family.samples
                                          if sample.name.endswith("_total")))
    return totals


def measure(endpoint: Endpoint, services: dict[str, StartedService], cpus: Cpus, load: LoadSpec,
            warmup: float) -> EndpointFigures:
    """Pin, warm up (not recorded), then one recorded wrk run with CPU and counters read around it."""
    target = services[endpoint.service]
    for service in services.values():
        pin(service.pid, cpus.server if service is target else cpus.rest)
    if warmup > 0:
        run_wrk(target.url, endpoint.prefix, endpoint.ids,
                LoadSpec(load.threads, load.connections, warmup, cpus.rest))
    logger.info("measuring %s for %g s", endpoint.label, load.seconds)
    counted = endpoint.service == COUNTED_SERVICE
    counted_before = counters(target) if counted else {}
    cpu_before = {name: service.cpu_seconds() for name, service in services.items()}
    result = run_wrk(target.url, endpoint.prefix, endpoint.ids, load)
    cpu = {name: (service.cpu_seconds() - cpu_before[name]) / result.seconds
           for name, service in services.items()}
    counted_after = counters(target) if counted else {}
    logger.info("%s: %.0f req/s, p50 %.1f ms, p99 %.1f ms, %d errors", endpoint.label, result.rate,
                result.p50_ms, result.p99_ms, result.errors)

    def during(name: str) -> int | None:
        return counted_after[name] - counted_before[name] if counted else None

    return EndpointFigures(endpoint.label, endpoint.ids_label, result, cpu, during(DEGRADED),
                           during(ONLINE_EMPTY), endpoint.ceiling, endpoint.min_share)
