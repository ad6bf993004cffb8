"""Start the real trio for the benchmark on free loopback ports, timing each start and its memory.

The services run exactly as in production (`musicrec.runtime.launcher`: one uvicorn process each, one
worker, settings from `MUSICREC_*` overrides), pointed at the benchmark's artifacts and a fresh
SQLite event store. They are started one after another, each ready before the next, so a start-up
time is one service's own: from `Popen` until `/ready` answers 200 (interpreter start, imports,
checksums, loading), polled every 50 ms.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from musicrec.runtime.launcher import (
    RunningService,
    ServiceSpec,
    private_trio_environment,
    start_service,
    stop_service,
    trio,
    wait_ready,
)
from musicrec.settings import Settings, load_settings

logger = logging.getLogger("bench.serving")
LOOPBACK = "127.0.0.1"
MIB = 2**20


@dataclass
class StartedService:
    """A running service with what its start cost."""

    service: RunningService
    ready_s: float
    rss_after_load_mib: float
    rss_anon_after_load_mib: float

    @property
    def name(self) -> str:
        return self.service.spec.name

    @property
    def url(self) -> str:
        return self.service.url

    @property
    def pid(self) -> int:
        return self.service.process.pid

    def rss_mib(self) -> float:
        return psutil.Process(self.pid).memory_info().rss / MIB

    def rss_anon_mib(self) -> float:
        return rss_anon_mib(self.pid)

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.pid).cpu_times()
        return times.user + times.system


def trio_environment(artifacts: Path, work: Path) -> dict[str, str]:
    """`MUSICREC_*` overrides: these artifacts, a fresh SQLite store, free loopback ports."""
    return {
        **private_trio_environment(artifacts, work / "events.sqlite3", LOOPBACK),
        "MUSICREC_SERVING__HOST": LOOPBACK,
        "OPENBLAS_NUM_THREADS": "1",
    }


def settings_for(environment: dict[str, str]) -> Settings:
    """The settings the children will read, so the benchmark knows their URLs."""
    return load_settings(environ={**os.environ, **environment})


def start_timed(spec: ServiceSpec, environment: dict[str, str], log_dir: Path) -> StartedService:
    logger.info("starting %s at %s", spec.name, spec.url)
    started = time.perf_counter()
    service = start_service(spec, LOOPBACK, environment, log_dir)
    try:
        wait_ready(service)
    except BaseException:
        stop_service(service)
        raise
    ready_s = time.perf_counter() - started
    rss = psutil.Process(service.process.pid).memory_info().rss / MIB
    anonymous = rss_anon_mib(service.process.pid)
    logger.info("%s ready in %.2f s, RSS %.0f MiB (anonymous %.0f MiB)", spec.name, ready_s, rss, anonymous)
    return StartedService(service, ready_s, rss, anonymous)


def rss_anon_mib(pid: int) -> float:
    """`RssAnon` of /proc/PID/status: resident memory that is not file-backed, so no other process can
    share it (mapped artifact files are file-backed and shared through the page cache)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/{pid}/status has no RssAnon line")


@contextlib.contextmanager
def running_trio(environment: dict[str, str], log_dir: Path) -> Iterator[dict[str, StartedService]]:
    """Start events, features, recommendations (dependency order); stop them all on exit, whatever happens."""
    started: list[StartedService] = []
    try:
        for spec in trio(settings_for(environment)):
            started.append(start_timed(spec, environment, log_dir))
        yield {service.name: service for service in started}
    finally:
        for service in reversed(started):
            stop_service(service.service)
        logger.info("services stopped")


def pin(pid: int, cpus: Iterable[int]) -> None:
    """Pin every thread of a process to `cpus` (sched_setaffinity on the pid moves only its main
    thread; worker threads that exist already keep their own mask)."""
    mask = set(cpus)
    for thread_id in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            os.sched_setaffinity(int(thread_id), mask)
