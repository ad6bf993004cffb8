"""`python -m musicrec serve`: start events, features and recommendations, supervise until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import time
from types import FrameType

from musicrec.api.launcher import READY_TIMEOUT, ServiceFailed, first_exited, running, trio
from musicrec.settings import Settings


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ready-timeout", type=float, default=READY_TIMEOUT,
                        help="seconds each service may take to load its data (default %(default)s)")


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (from `kill`, systemd, docker stop) stops the services like Ctrl-C, leaving no orphans."""
    raise KeyboardInterrupt


def run(args: argparse.Namespace, settings: Settings) -> int:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    specs = trio(settings)
    try:
        with running(specs, settings.serving.host, ready_timeout=args.ready_timeout) as services:
            print("\nAll three services are ready (Ctrl-C stops them):")
            for service in services:
                print(f"  {service.spec.name:<16} {service.url}   docs: {service.url}/docs")
            while (exited := first_exited(services)) is None:
                time.sleep(0.5)
            print(f"\nerror: the {exited.spec.name} service exited with code {exited.process.returncode};"
                  " stopping the others")
            return 1
    except ServiceFailed as exc:
        print(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        print("\nStopped all services.")
        return 0
