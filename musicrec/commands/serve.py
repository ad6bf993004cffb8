"""`python -m musicrec serve [--replicas N]`: start the services, supervise them until Ctrl-C.

Without `--replicas`, the trio: one process per service at the URLs of `[urls]`; one that dies is
started again (with backoff) while the others keep answering. With it, a
cluster (`musicrec.cluster`): N replicas per service behind nginx at those URLs, events in Redis.
"""

from __future__ import annotations

import argparse
import signal
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Protocol

from musicrec.runtime.launcher import READY_TIMEOUT, ServiceFailed, running, trio
from musicrec.runtime.supervisor import Supervisor
from musicrec.settings import Settings

CLUSTER_DIR = Path("data") / "cluster"  # under the working directory, as the settings' relative paths
SUPERVISE_EVERY = 0.2  # seconds between checks for a service that exited


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ready-timeout", type=float, default=READY_TIMEOUT,
                        help="seconds each service may take to load its data (default %(default)s)")
    parser.add_argument("--replicas", type=int, default=None, metavar="N",
                        help="run N replicas of each service behind nginx, events in Redis")


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (from `kill`, systemd, docker stop) stops the services like Ctrl-C, leaving no orphans."""
    raise KeyboardInterrupt


class Companion(Protocol):
    """Work done beside the running trio (`musicrec run`'s background pipeline): started once the
    services are ready, checked as often as they are, stopped before them."""

    def start(self) -> None: ...

    def check(self) -> None: ...

    def stop(self) -> None: ...


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.replicas is not None:
        return until_stopped(lambda: _run_cluster(settings, args.replicas))
    return until_stopped(lambda: run_trio(settings, args.ready_timeout))


def until_stopped(serve: Callable[[], int]) -> int:
    """Run `serve` until Ctrl-C or SIGTERM (exit 0), or until a service fails (exit 1, its message)."""
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        return serve()
    except (ServiceFailed, RuntimeError) as exc:
        print(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        print("\nStopped all services.")
        return 0


def run_trio(settings: Settings, ready_timeout: float, companion: Companion | None = None) -> int:
    """Start the trio, then restart any service that dies (`Supervisor`) until Ctrl-C or SIGTERM."""
    with running(trio(settings), settings.serving.host, ready_timeout=ready_timeout) as services:
        print("\nAll three services are ready (Ctrl-C stops them):")
        for service in services:
            print(f"  {service.spec.name:<16} {service.url}   docs: {service.url}/docs")
        print(f"\nTry it in a browser: {settings.urls.recommendations_url}/")
        supervisor = Supervisor(settings.serving.host)
        supervisor.watch(services)
        try:
            if companion is not None:
                companion.start()
            while True:
                supervisor.check()
                if companion is not None:
                    companion.check()
                time.sleep(SUPERVISE_EVERY)
        finally:
            try:
                if companion is not None:
                    companion.stop()
            finally:  # a second Ctrl-C while the companion stops still stops the services
                supervisor.stop_all()  # the processes started since, too


def _run_cluster(settings: Settings, replicas: int) -> int:
    from musicrec.cluster.replicas import plan_cluster, running_cluster

    run_dir = CLUSTER_DIR.resolve()  # nginx reads its paths from its config: absolute ones
    plan = plan_cluster(settings, replicas, run_dir)
    with running_cluster(plan) as cluster:
        print(f"\nnginx balances {replicas} replica(s) of each service (Ctrl-C stops them all; "
              f"logs and nginx.conf in {run_dir}):")
        for name, url in plan.public.items():
            replica_urls = ", ".join(spec.url for spec in plan.replicas[name])
            print(f"  {name:<16} {url}   replicas: {replica_urls}")
        print(f"  events in Redis at {plan.redis_url}")
        print(f"\nTry it in a browser: {plan.public['recommendations']}/")
        assert cluster.supervisor is not None
        while cluster.nginx is not None and cluster.nginx.poll() is None:
            cluster.supervisor.check()
            time.sleep(SUPERVISE_EVERY)
        print("\nerror: nginx exited; stopping the replicas")
        return 1
