"""Load benchmark of the serving trio at full size: `make bench` -> bench/results/serving.md.

    python -m bench.serving [--users 1370000] [--items 960000] [--duration 10] [--out FILE] [--no-pin]

1. Full-size artifacts in the contract schemas (bench.synthetic_artifacts), cached under
   data/bench/serving/ and reused while the parameters are the same.
2. The real trio (one uvicorn process each, fresh SQLite event store, free loopback ports): time to
   ready, anonymous memory (RssAnon) and RSS of the recommendations and features services; then
   (bench.serving_starts) each of them started alone on the full and on a tiny set, alternately,
   so start-up's growth with the data shows.
3. wrk (C, Lua-scripted random ids, concurrency 16) against each endpoint, with the same server's
   /health as the ceiling. On 2 cores the service under test gets CPU 0 to itself; wrk and the
   other services share CPU 1. Each run is preceded by an unrecorded warm-up.
4. Hot reload (bench.serving_reload): each service switched to a new set by `POST /admin/reload`.
5. A Markdown report with each figure, its target, PASS/FAIL and the machine's load.

The whole run holds /tmp/musicrec-heavy.lock (as `flock` would), so other heavy jobs on a shared
machine do not run at the same time; every service is stopped on exit, error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib.metadata
import importlib.util
import logging
import os
import shlex
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench.serving_measure import Cpus, measure
from bench.serving_reload import measure_reloads, serve_through_pointer
from bench.serving_report import Report, StartFigures, render
from bench.serving_starts import compare_starts
from bench.serving_trio import running_trio, settings_for, trio_environment
from bench.serving_workload import (
    LISTENS_PER_USER,
    SIMILAR_SHARE,
    cached_artifacts,
    check_blended_works,
    endpoints,
    give_listens,
    tracks_with_similar,
)
from bench.wrk import LoadSpec, require_wrk
from musicrec.api.access import key_headers
from musicrec.settings import PROJECT_ROOT

logger = logging.getLogger("bench.serving")
DEFAULT_OUT = PROJECT_ROOT / "bench" / "results" / "serving.md"
DEFAULT_CACHE = PROJECT_ROOT / "data" / "bench" / "serving"
HEAVY_LOCK = Path("/tmp/musicrec-heavy.lock")
TINY_USERS, TINY_ITEMS = 1_000, 2_000


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
    parser.add_argument("--start-repeats", type=int, default=5, help="starts per service and set size")
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


def fresh_log_dir(cache: Path) -> Path:
    """Where the services log (kept after the run, for a look when something failed)."""
    log_dir = cache / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    for old_log in log_dir.glob("*.log"):
        old_log.unlink()
    return log_dir


def run(args: argparse.Namespace, report: Report) -> None:
    """Artifacts, trio, listens, then every endpoint under load; figures go into `report`."""
    artifacts = cached_artifacts(args.cache, args.users, args.items, args.seed)
    cpus = Cpus.split(pinned=not args.no_pin)
    report.arrangement = cpus.describe()
    load = LoadSpec(args.threads, args.connections, args.duration, cpus.rest)
    with tempfile.TemporaryDirectory(prefix="run-", dir=args.cache) as tmp:
        work = Path(tmp)
        pointer = serve_through_pointer(artifacts, work)
        environment = {**trio_environment(pointer, work), "MUSICREC_SERVING__RELOAD_INTERVAL": "0"}
        per_user = max(LISTENS_PER_USER, settings_for(environment).serving.online_history)
        with running_trio(environment, fresh_log_dir(args.cache)) as services:
            tracks = tracks_with_similar(artifacts)
            listeners = give_listens(services["events"].url, args.users, args.listeners, tracks, per_user,
                                     args.seed, key_headers(settings_for(environment).serving))
            check_blended_works(services["recommendations"].url, int(listeners[0]))
            rows = endpoints(work, args.users, tracks, listeners, per_user, args.unknown_share, args.seed)
            report.load_before = load_average()
            report.endpoints = [measure(row, services, cpus, load, args.warmup) for row in rows]
            report.load_after = load_average()
            starts = [(s.name, s.ready_s, s.rss_after_load_mib, s.rss_anon_after_load_mib, s.rss_mib(),
                       s.rss_anon_mib()) for s in services.values()]
            report.reloads = measure_reloads(pointer, services)
        tiny = cached_artifacts(args.cache, TINY_USERS, TINY_ITEMS, args.seed)
        compared = compare_starts(tiny, pointer, work, fresh_log_dir(args.cache / "starts"), args.start_repeats)
        report.starts = [StartFigures(*figures, compared.get(figures[0])) for figures in starts]


def load_average() -> str:
    """Load averages, plus the share of time tasks waited for a CPU (Linux PSI) when available:
    on a shared machine this says how much of the figures is other people's work."""
    text = " / ".join(f"{value:.2f}" for value in os.getloadavg())
    with contextlib.suppress(OSError, ValueError, IndexError):
        some = Path("/proc/pressure/cpu").read_text().split()  # "some avg10=80.49 avg60=84.07 ..."
        waiting = float(some[2].split("=")[1])
        text += f" (CPU pressure: tasks waiting for a CPU {waiting:.0f}% of the last minute)"
    return text


def server_stack() -> str:
    """What uvicorn runs on: it picks uvloop and httptools when they are installed (a large difference)."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    parser = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return (f"Servers: uvicorn {importlib.metadata.version('uvicorn')}, event loop {loop}, "
            f"HTTP parser {parser}; FastAPI {importlib.metadata.version('fastapi')}.")


def parameters(args: argparse.Namespace) -> list[str]:
    catalogue = round(args.items / SIMILAR_SHARE)
    return [
        server_stack(),
        f"Artifacts: {args.users:,} users x 50 recommendations, {args.items:,} tracks x 10 similar, "
        f"top 100 popular, ~{catalogue:,} named tracks (bench.synthetic_artifacts, seed {args.seed}).",
        f"Load: wrk -t{args.threads} -c{args.connections}, {args.duration:g} s per endpoint after "
        f"{args.warmup:g} s of warm-up, GET with a random id per request, k = the default (10), loopback.",
    ]


def _stop_on_sigterm() -> None:
    """SIGTERM (e.g. from a CI timeout) unwinds like Ctrl-C, so the services are stopped."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    _stop_on_sigterm()
    require_wrk()  # fail before the artifacts and the lock, not after
    command = "python -m bench.serving " + shlex.join(argv if argv is not None else sys.argv[1:])
    report = Report(command.strip(), parameters(args), arrangement="", load_before="", load_after="")
    with heavy_lock(args.lock):
        started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())  # when measured, not when queued
        run(args, report)
    text = render(report, started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    logger.info("written %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
