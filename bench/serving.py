"""Load benchmark of the serving trio at full size: `make bench` -> bench/results/serving.md.

    python -m bench.serving [--users 1370000] [--items 960000] [--duration 10] [--out bench/results/serving.md]

1. Full-size artifacts in the contract schemas (bench.synthetic_artifacts), cached under
   data/bench/serving/ and reused while the parameters are the same.
2. The real trio (one uvicorn process each, fresh SQLite event store, free loopback ports): time to
   ready and RSS of the recommendations and features services.
3. wrk (C, Lua-scripted random ids, concurrency 16) against each endpoint, with the same server's
   /health as the ceiling. On 2 cores the service under test gets CPU 0 to itself; wrk and the
   other services share CPU 1. Each run is preceded by an unrecorded warm-up.
4. A Markdown report with each figure, its target, PASS/FAIL and the machine's load.

The whole run holds /tmp/musicrec-heavy.lock (as `flock` would), so other heavy jobs on a shared
machine do not run at the same time; every service is stopped on exit, error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import os
import shlex
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from bench.serving_report import EndpointFigures, Report, StartFigures, render
from bench.serving_trio import StartedService, pin, running_trio, settings_for, trio_environment
from bench.serving_workload import (
    SIMILAR_SHARE, cached_artifacts, mix, put_listens, tracks_with_similar, write_ids,
)
from bench.wrk import LoadSpec, run_wrk
from musicrec import schema
from musicrec.settings import PROJECT_ROOT

logger = logging.getLogger("bench.serving")
DEFAULT_OUT = PROJECT_ROOT / "bench" / "results" / "serving.md"
DEFAULT_CACHE = PROJECT_ROOT / "data" / "bench" / "serving"
HEAVY_LOCK = Path("/tmp/musicrec-heavy.lock")
COUNTERS = ("recommendations_degraded_answers", "recommendations_online_empty_answers")


@dataclass(frozen=True)
class Endpoint:
    """One row of the benchmark: which service, what path prefix, which ids, what it is compared to."""

    label: str
    service: str
    prefix: str
    ids: Path | None = None
    ids_label: str = "-"
    ceiling: str | None = None
    min_share: float | None = None


@dataclass(frozen=True)
class Cpus:
    """The service under test gets `server`; wrk and the other services get `rest`."""

    server: frozenset[int]
    rest: frozenset[int]

    @classmethod
    def split(cls, pinned: bool = True) -> "Cpus":
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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_370_000, help="users with 50 recommendations")
    parser.add_argument("--items", type=int, default=960_000, help="tracks with 10 similar tracks")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per endpoint")
    parser.add_argument("--warmup", type=float, default=2.0, help="unrecorded seconds before each run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--listeners", type=int, default=1000, help="users given online listens")
    parser.add_argument("--unknown-share", type=float, default=0.1, help="of ids the artifacts lack")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="artifacts and service logs")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--lock", type=Path, default=HEAVY_LOCK, help="file lock held during the run")
    parser.add_argument("--no-pin", action="store_true", help="let the kernel place services and wrk")
    return parser.parse_args(argv)


@contextlib.contextmanager
def heavy_lock(path: Path) -> Iterator[None]:
    """Hold the shared heavy-job lock (same as `flock path ...`), saying so while waiting."""
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info("waiting for %s (another heavy job is running)", path)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def counters(service: StartedService) -> dict[str, float]:
    """Totals of the degraded and empty-online counters from the service's /metrics."""
    text = httpx.get(f"{service.url}/metrics", timeout=5.0).text
    totals = dict.fromkeys(COUNTERS, 0.0)
    for family in text_string_to_metric_families(text):
        if family.name in totals:
            totals[family.name] = sum(sample.value for sample in family.samples if sample.name.endswith("_total"))
    return totals


def measure(endpoint: Endpoint, services: dict[str, StartedService], cpus: Cpus, load: LoadSpec,
            warmup: float) -> EndpointFigures:
    """Pin, warm up, then one recorded wrk run; CPU and counters are read around the recorded run."""
    target = services[endpoint.service]
    for service in services.values():
        pin(service.pid, cpus.server if service is target else cpus.rest)
    if warmup > 0:
        run_wrk(target.url, endpoint.prefix, endpoint.ids, LoadSpec(load.threads, load.connections, warmup, cpus.rest))
    logger.info("measuring %s for %g s", endpoint.label, load.seconds)
    is_recommendations = endpoint.service == "recommendations"
    counted_before = counters(target) if is_recommendations else {}
    cpu_before = {name: service.cpu_seconds() for name, service in services.items()}
    result = run_wrk(target.url, endpoint.prefix, endpoint.ids, load)
    cpu = {name: (service.cpu_seconds() - cpu_before[name]) / result.seconds for name, service in services.items()}
    counted = {name: int(value - counted_before[name]) for name, value in counters(target).items()} \
        if is_recommendations else {}
    logger.info("%s: %.0f req/s, p50 %.1f ms, p99 %.1f ms, %d errors", endpoint.label, result.rate,
                result.p50_ms, result.p99_ms, result.errors)
    return EndpointFigures(endpoint.label, endpoint.ids_label, result, cpu, counted.get(COUNTERS[0]),
                           counted.get(COUNTERS[1]), endpoint.ceiling, endpoint.min_share)


def endpoints(args: argparse.Namespace, tracks: np.ndarray, work: Path, listener_ids: np.ndarray,
              online_history: int) -> list[Endpoint]:
    """The rows to measure, with their id mixes written where wrk reads them."""
    rng = np.random.default_rng(args.seed + 1)
    known = f"{1 - args.unknown_share:.0%} known"
    users = write_ids(work / "users.txt", mix(rng, np.arange(args.users), args.users, args.unknown_share))
    items = write_ids(work / "items.txt", mix(rng, tracks, int(tracks.max()) + 1, args.unknown_share))
    listeners = write_ids(work / "listeners.txt", listener_ids)
    with_listens = f"{len(listener_ids)} users with {online_history} listens"
    rec_health, feat_health = "recommendations /health", "features /health"
    return [
        Endpoint(rec_health, "recommendations", "/health"),
        Endpoint("/recommendations_offline", "recommendations", f"/recommendations_offline?{schema.USER_ID}=",
                 users, f"users, {known}", rec_health, 0.70),
        Endpoint("/recommendations (blended)", "recommendations", f"/recommendations?{schema.USER_ID}=",
                 listeners, with_listens, rec_health, 0.25),
        Endpoint("/recommendations_online", "recommendations", f"/recommendations_online?{schema.USER_ID}=",
                 listeners, with_listens, rec_health),
        Endpoint("/recommendations_default", "recommendations", "/recommendations_default", None, "-", rec_health),
        Endpoint(feat_health, "features", "/health"),
        Endpoint("/similar_items", "features", f"/similar_items?{schema.ITEM_ID}=", items,
                 f"tracks, {known}", feat_health),
    ]


def give_listens(args: argparse.Namespace, tracks: np.ndarray, events_url: str, per_user: int) -> np.ndarray:
    """Known users who get `per_user` listens of tracks with similar tracks, so blended does its full work."""
    rng = np.random.default_rng(args.seed)
    listener_ids = rng.choice(args.users, size=args.listeners, replace=False)
    put_listens(events_url, listener_ids, tracks, per_user, rng)
    return listener_ids


def check_blended_works(recommendations_url: str, user_id: int) -> None:
    """Before measuring: a user with listens gets a full, non-degraded blended answer with an online part."""
    blended = httpx.get(f"{recommendations_url}/recommendations", params={schema.USER_ID: user_id}).json()
    online = httpx.get(f"{recommendations_url}/recommendations_online", params={schema.USER_ID: user_id}).json()
    if blended.get("degraded") or not blended.get("recs") or not online.get("recs"):
        raise RuntimeError(f"blended/online answers for user {user_id} are not what the benchmark needs: "
                           f"{blended}, {online}")


def run(args: argparse.Namespace, report: Report) -> None:
    artifacts = cached_artifacts(args.cache, args.users, args.items, args.seed)
    log_dir = args.cache / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    for old_log in log_dir.glob("*.log"):
        old_log.unlink()
    cpus = Cpus.split(pinned=not args.no_pin)
    report.arrangement = cpus.describe()
    load = LoadSpec(args.threads, args.connections, args.duration, cpus.rest)
    with tempfile.TemporaryDirectory(prefix="run-", dir=args.cache) as tmp:
        environment = trio_environment(artifacts, Path(tmp))
        online_history = settings_for(environment).serving.online_history
        with running_trio(environment, log_dir) as services:
            tracks = tracks_with_similar(artifacts)
            listener_ids = give_listens(args, tracks, services["events"].url, online_history)
            check_blended_works(services["recommendations"].url, int(listener_ids[0]))
            rows = endpoints(args, tracks, Path(tmp), listener_ids, online_history)
            report.load_before = load_average()
            report.endpoints = [measure(row, services, cpus, load, args.warmup) for row in rows]
            report.load_after = load_average()
            report.starts = [StartFigures(s.name, s.ready_s, s.rss_after_load_mib, s.rss_mib())
                             for s in services.values()]


def load_average() -> str:
    """Load averages, plus the share of time tasks waited for a CPU (Linux PSI) when available:
    on a shared machine this says how much of the figures is other people's work."""
    text = " / ".join(f"{value:.2f}" for value in os.getloadavg())
    with contextlib.suppress(OSError, ValueError, IndexError):
        some = Path("/proc/pressure/cpu").read_text().split()  # "some avg10=80.49 avg60=84.07 ..."
        text += f" (CPU pressure: tasks waiting for a CPU {float(some[2].split('=')[1]):.0f}% of the last minute)"
    return text


def _stop_on_sigterm() -> None:
    """SIGTERM (e.g. from a CI timeout) unwinds like Ctrl-C, so the services are stopped."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    _stop_on_sigterm()
    command = "python -m bench.serving " + shlex.join(argv if argv is not None else sys.argv[1:])
    report = Report(command.strip(), parameters=parameters(args), arrangement="", load_before="", load_after="")
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    with heavy_lock(args.lock):
        run(args, report)
    text = render(report, started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    logger.info("written %s", args.out)
    return 0


def parameters(args: argparse.Namespace) -> list[str]:
    return [
        f"Artifacts: {args.users:,} users x 50 recommendations, {args.items:,} tracks x 10 similar, "
        f"top 100 popular, ~{round(args.items / SIMILAR_SHARE):,} named tracks (bench.synthetic_artifacts, seed {args.seed}).",
        f"Load: wrk -t{args.threads} -c{args.connections}, {args.duration:g} s per endpoint after "
        f"{args.warmup:g} s of warm-up, GET with a random id per request, k = the default (10), loopback.",
    ]


if __name__ == "__main__":
    raise SystemExit(main())
