"""Blended recommendations under overload and with a frozen dependency: `python -m bench.overload`.

Starts the real trio (`bench.serving_trio`) on synthetic artifacts (cached; `--users`, `--items`
smaller than `make bench` by default: the lookups cost the same, only start-up and memory grow),
gives `--listeners` users listens, then loads blended `/recommendations` for them with wrk:

1. healthy dependencies: how many answers came back degraded (the service's own counter) and the
   latency; the target is under 1% degraded at 200 connections;
2. the same with the features service stopped (SIGSTOP) for the whole run: with the circuit breaker
   only the calls in flight when it stopped and one probe per `[serving] breaker_reset` wait for the
   timeout, so the latency should stay that of healthy answers, not `[serving] request_timeout`;
3. healthy again, after the breaker's next probe.

each at every `--connections` (16 and 200).

Writes `bench/results/overload.md`; the services' logs are in `data/bench/overload/logs/`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from bench.serving import fresh_log_dir
from bench.serving_measure import DEGRADED, counters
from bench.serving_trio import StartedService, running_trio, settings_for, trio_environment
from bench.serving_workload import (
    cached_artifacts,
    check_blended_works,
    give_listens,
    tracks_with_similar,
    write_ids,
)
from bench.wrk import LoadResult, LoadSpec, require_wrk, run_wrk
from musicrec.api.access import key_headers
from musicrec.settings import PROJECT_ROOT

logger = logging.getLogger("bench.overload")
RESULTS = PROJECT_ROOT / "bench" / "results" / "overload.md"
CACHE = PROJECT_ROOT / "data" / "bench" / "overload"


SLOW_SECONDS = 0.25  # a bucket of the services' latency histogram; half of the request timeout


@dataclass(frozen=True)
class Row:
    case: str
    result: LoadResult
    degraded: int
    slow: int  # answers the service itself took over SLOW_SECONDS to make

    def line(self) -> str:
        r = self.result

        def share(count: int) -> str:
            return f"{count:,} ({count / r.requests:.2%})" if r.requests else str(count)

        return (f"| {self.case} | {r.requests:,} | {r.rate:,.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | "
                f"{r.max_ms:.0f} | {r.errors} | {share(self.degraded)} | {share(self.slow)} |")


def answers_over(service: StartedService, seconds: float) -> int:
    """Blended answers so far that the recommendations service took over `seconds` to make."""
    text = httpx.get(f"{service.url}/metrics", timeout=5.0).text
    total = within = 0
    for family in text_string_to_metric_families(text):
        if family.name != "http_request_duration_seconds":
            continue
        for sample in family.samples:
            if sample.labels.get("route") != "/recommendations" or not sample.name.endswith("_bucket"):
                continue
            if sample.labels["le"] == "+Inf":
                total += int(sample.value)
            elif float(sample.labels["le"]) == seconds:
                within += int(sample.value)
    return total - within


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--listeners", type=int, default=1000)
    parser.add_argument("--connections", type=int, nargs="+", default=[16, 200],
                        help="one round of the three cases per value (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=20.0, help="per case (default %(default)s)")
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args(argv)


@contextlib.contextmanager
def stopped(service: StartedService) -> Iterator[None]:
    """The service's process frozen (SIGSTOP: its port still accepts connections, nothing answers)."""
    os.kill(service.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(service.pid, signal.SIGCONT)


def blended_load(services: dict[str, StartedService], listeners: Path, spec: LoadSpec, case: str) -> Row:
    target = services["recommendations"]
    before, slow_before = counters(target)[DEGRADED], answers_over(target, SLOW_SECONDS)
    result = run_wrk(target.url, "/recommendations?user_id=", listeners, spec)
    degraded = counters(target)[DEGRADED] - before
    row = Row(case, result, degraded, answers_over(target, SLOW_SECONDS) - slow_before)
    logger.info("%s", row.line())
    return row


def three_cases(services: dict[str, StartedService], listeners: Path, spec: LoadSpec,
                breaker_reset: float) -> list[Row]:
    """Warm up, then healthy, features frozen, healthy again, at `spec.connections` connections."""
    warm = LoadSpec(spec.threads, spec.connections, 3, spec.cpus)
    run_wrk(services["recommendations"].url, "/recommendations?user_id=", listeners, warm)
    at = f"{spec.connections} connections"
    rows = [blended_load(services, listeners, spec, f"{at}, healthy dependencies")]
    with stopped(services["features"]):
        rows.append(blended_load(services, listeners, spec, f"{at}, features stopped (SIGSTOP)"))
    time.sleep(breaker_reset + 0.5)  # the breaker closes at its next probe
    rows.append(blended_load(services, listeners, spec, f"{at}, healthy again"))
    return rows


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    require_wrk()
    artifacts = cached_artifacts(CACHE, args.users, args.items, args.seed)
    cpus = frozenset(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="run-", dir=CACHE) as tmp:
        work = Path(tmp)
        environment = trio_environment(artifacts, work)
        serving = settings_for(environment).serving
        with running_trio(environment, fresh_log_dir(CACHE)) as services:
            listener_ids = give_listens(services["events"].url, args.users, args.listeners,
                                        tracks_with_similar(artifacts), 3, args.seed, key_headers(serving))
            check_blended_works(services["recommendations"].url, int(listener_ids[0]))
            listeners = write_ids(work / "listeners.txt", np.asarray(listener_ids))
            rows = []
            for connections in args.connections:
                spec = LoadSpec(threads=2, connections=connections, seconds=args.seconds, cpus=cpus)
                rows += three_cases(services, listeners, spec, serving.breaker_reset)
    report = [
        "# Overload: blended recommendations at many connections, and with a frozen dependency",
        "",
        f"`python -m bench.overload --users {args.users} --items {args.items} --listeners {args.listeners} "
        f"--connections {' '.join(map(str, args.connections))} --seconds {args.seconds:g}` "
        f"({time.strftime('%Y-%m-%d %H:%M')}): wrk -t2 on blended `/recommendations` for {args.listeners} "
        f"users with 3 listens each; the three services and wrk share the machine's {len(cpus)} cores (load average "
        f"{os.getloadavg()[0]:.1f} at the end; the machine is shared, figures are noisy). Settings: "
        f"request_timeout {serving.request_timeout:g} s, connect_timeout {serving.connect_timeout:g} s, "
        f"breaker_failures {serving.breaker_failures}, breaker_reset {serving.breaker_reset:g} s. "
        "Latencies are wrk's (they include queueing in front of the service); degraded: answers the "
        "recommendations service counted as made without a dependency; slow: answers it took over "
        f"{SLOW_SECONDS:g} s to make (its own latency histogram), i.e. that waited for a dependency's timeout.",
        "",
        "| case | requests | req/s | p50 ms | p99 ms | max ms | errors | degraded | slow |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(row.line() for row in rows),
        "",
    ]
    RESULTS.write_text("\n".join(report))
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
