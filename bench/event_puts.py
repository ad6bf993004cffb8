"""Durable puts over HTTP: `python -m bench.event_puts [--seconds S]`.

Starts the events service as production does (`musicrec.runtime.launcher`) on a fresh SQLite store, then
on Redis (a redis-server of its own with `appendfsync always`, so an acknowledged listen is on disk
as with SQLite), and loads `POST /put` with wrk at 1, 16 and 64 connections: random users among
`USERS`, so puts for one user rarely meet (the concurrency the group commit has to absorb is across
users), and once more with every put for one user (the case whose order `tests/event_order.py`
checks). Writes the section "Durable puts over HTTP" of `bench/results/event_store.md`, keeping the
rest of that file (written by `bench.event_store`).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench.wrk import LoadResult, LoadSpec, run_wrk
from musicrec.cluster.redis_server import running_redis_server
from musicrec.runtime.launcher import RunningService, ServiceSpec, free_port, start_service, stop_service, wait_ready
from musicrec.settings import PROJECT_ROOT

logger = logging.getLogger("bench.event_puts")
RESULTS = PROJECT_ROOT / "bench" / "results" / "event_store.md"
SECTION = "## Durable puts over HTTP"
CONNECTIONS = (1, 16, 64)
USERS = 100_000


@contextlib.contextmanager
def events_service(folder: Path, env: dict[str, str]) -> Iterator[RunningService]:
    spec = ServiceSpec("events", "events_service", f"http://127.0.0.1:{free_port()}")
    service = start_service(spec, "127.0.0.1", {"OPENBLAS_NUM_THREADS": "1", **env}, folder)
    try:
        wait_ready(service)
        yield service
    finally:
        stop_service(service)


def load(service: RunningService, ids: Path, connections: int, seconds: float) -> LoadResult:
    spec = LoadSpec(threads=min(connections, 2), connections=connections, seconds=seconds,
                    cpus=frozenset(os.sched_getaffinity(0)))
    return run_wrk(service.url, "/put?item_id=7&user_id=", ids, spec, method="POST")


def rows_for(backend: str, service: RunningService, folder: Path, seconds: float) -> list[str]:
    many, one = folder / "users.txt", folder / "one_user.txt"
    many.write_text("\n".join(str(user) for user in range(USERS)) + "\n")
    one.write_text("4242\n")
    rows = []
    for users, ids in ((f"random of {USERS:,}", many), ("one", one)):
        for connections in CONNECTIONS if users != "one" else (64,):
            result = load(service, ids, connections, seconds)
            logger.info("%s, %s users, %d connections: %.0f puts/s", backend, users, connections, result.rate)
            rows.append(f"| {backend} | {users} | {connections} | {result.rate:,.0f} | {result.p50_ms:.1f} | "
                        f"{result.p99_ms:.1f} | {result.errors} |")
    return rows


def write_section(lines: list[str]) -> None:
    """Replace (or add) this benchmark's section of the results file, keeping the rest."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Event stores\n"
    kept = text.split(SECTION)[0].rstrip() + "\n\n"
    RESULTS.write_text(kept + "\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per row (default %(default)s)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    rows: list[str] = []
    with tempfile.TemporaryDirectory(dir=PROJECT_ROOT / "data") as tmp:
        folder = Path(tmp)
        sqlite_env = {"MUSICREC_EVENTS__BACKEND": "sqlite",
                      "MUSICREC_EVENTS__SQLITE_PATH": str(folder / "events.sqlite3")}
        with events_service(folder, sqlite_env) as service:
            rows += rows_for("sqlite (fsync per commit)", service, folder, args.seconds)
        (folder / "redis").mkdir()
        with running_redis_server(folder / "redis", appendfsync="always") as redis:
            redis_env = {"MUSICREC_EVENTS__BACKEND": "redis", "MUSICREC_EVENTS__REDIS_URL": redis.url}
            with events_service(folder, redis_env) as service:
                rows += rows_for("redis (appendfsync always)", service, folder, args.seconds)
    write_section([
        SECTION,
        "",
        f"`python -m bench.event_puts --seconds {args.seconds:g}` ({time.strftime('%Y-%m-%d %H:%M')}): the events "
        "service (one uvicorn process) under wrk `POST /put`, each answer after the listen is on disk; "
        f"latencies in ms. Load average {os.getloadavg()[0]:.1f} at the end on a shared 2-core machine "
        "(wrk, the service and redis-server share the two cores): figures are noisy.",
        "",
        "| store | users | connections | puts/s | p50 ms | p99 ms | errors |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
    ])
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
