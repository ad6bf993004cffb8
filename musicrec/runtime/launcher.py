"""Start the services as real uvicorn processes, wait until they are ready, and stop them.

Used by `python -m musicrec serve` and by the end-to-end tests, so both run the services exactly as
production does: separate processes that talk over HTTP at the URLs in the settings. A child gets
the parent's environment plus the overrides given here (`MUSICREC_*`), so it reads the same
settings the launcher used to pick its port.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from musicrec.settings import Settings, port_of

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0

logging.getLogger("httpx").setLevel(logging.WARNING)  # else every /ready poll is logged


class ServiceFailed(RuntimeError):
    """A service exited or did not become ready; the message says which and shows its last log lines."""


@dataclass(frozen=True)
class ServiceSpec:
    """One service: its name, the module holding `app`, and the URL it serves (from settings).

    For a process that is not started by `start_service` (redis-server), `module` names its program.
    """

    name: str
    module: str
    url: str


@dataclass
class RunningService:
    spec: ServiceSpec
    process: subprocess.Popen[bytes]
    log_path: Path | None

    @property
    def url(self) -> str:
        return self.spec.url


def trio(settings: Settings) -> list[ServiceSpec]:
    """The three services in dependency order: recommendations calls the other two."""
    urls = settings.urls
    return [
        ServiceSpec("events", "events_service", urls.events_store_url),
        ServiceSpec("features", "features_service", urls.features_store_url),
        ServiceSpec("recommendations", "recommendations_service", urls.recommendations_url),
    ]


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now (the OS picks it; a tiny race until the service binds it)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def private_trio_environment(artifacts: Path, events_db: Path, host: str = "127.0.0.1") -> dict[str, str]:
    """`MUSICREC_*` overrides for a trio of one's own: free ports, these artifacts, a fresh SQLite store.

    Replays, benchmarks and tests start such a trio so they never touch the user's services or
    events store.
    """
    return {
        "MUSICREC_URLS__EVENTS_STORE_URL": f"http://{host}:{free_port(host)}",
        "MUSICREC_URLS__FEATURES_STORE_URL": f"http://{host}:{free_port(host)}",
        "MUSICREC_URLS__RECOMMENDATIONS_URL": f"http://{host}:{free_port(host)}",
        "MUSICREC_PATHS__ARTIFACTS": str(artifacts),
        "MUSICREC_EVENTS__BACKEND": "sqlite",
        "MUSICREC_EVENTS__SQLITE_PATH": str(events_db),
    }


def _log_tail(log_path: Path | None, lines: int = 15) -> str:
    if log_path is None or not log_path.exists():
        return ""
    tail = log_path.read_text(errors="replace").splitlines()[-lines:]
    return "\n  | " + "\n  | ".join(tail) if tail else ""


def start_service(
    spec: ServiceSpec, host: str, env: Mapping[str, str] | None = None, log_dir: Path | None = None
) -> RunningService:
    """Start one uvicorn process (`musicrec.runtime.server`); its output goes to `log_dir/<name>.log`, or
    to this terminal."""
    command = [sys.executable, "-m", "musicrec.runtime.server", spec.module, "--host", host,
               "--port", str(port_of(spec.url))]
    log_path = log_dir / f"{spec.name}.log" if log_dir else None
    output: IO[bytes] | None = open(log_path, "ab") if log_path else None  # noqa: SIM115 (child keeps it)
    try:
        process = subprocess.Popen(command, env={**os.environ, **(env or {})},
                                   stdout=output, stderr=subprocess.STDOUT if output else None)
    finally:
        if output:
            output.close()  # the child has its own copy of the descriptor
    return RunningService(spec, process, log_path)


def wait_ready(service: RunningService, timeout: float = READY_TIMEOUT) -> None:
    """Poll `/ready` until it answers 200; ServiceFailed if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            code = service.process.poll()
            if code is not None:
                raise ServiceFailed(f"{service.spec.name} service exited with code {code} while starting"
                                    f"{_log_tail(service.log_path)}")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(f"{service.url}/ready").status_code == 200:
                    return
            time.sleep(0.05)
    raise ServiceFailed(f"{service.spec.name} service was not ready at {service.url} after {timeout:.0f} s"
                        f"{_log_tail(service.log_path)}")


def stop_service(service: RunningService, timeout: float = STOP_TIMEOUT) -> None:
    """Ask the process to stop (SIGTERM: uvicorn shuts down cleanly), kill it if it will not."""
    if service.process.poll() is None:
        service.process.terminate()
        try:
            service.process.wait(timeout)
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait()


@contextlib.contextmanager
def running(
    specs: list[ServiceSpec], host: str, env: Mapping[str, str] | None = None, log_dir: Path | None = None,
    ready_timeout: float = READY_TIMEOUT,
) -> Iterator[list[RunningService]]:
    """Start `specs` one after another, each ready before the next; stop them all (in reverse) on exit."""
    started: list[RunningService] = []
    try:
        for spec in specs:
            service = start_service(spec, host, env, log_dir)
            started.append(service)
            wait_ready(service, ready_timeout)
        yield started
    finally:
        for service in reversed(started):
            stop_service(service)
