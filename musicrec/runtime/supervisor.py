"""Keep started services running: one that dies is started again, while the others keep answering.

One crash is then not an outage: the recommendations service answers degraded while the events or
features service is down, and the supervisor brings that one back. A service that keeps dying
right after it starts (a broken artifact, a port taken) is retried ever more slowly, from
`FIRST_DELAY` doubling to `MAX_DELAY` seconds, instead of in a tight loop; one that stayed up
`STABLE_AFTER` seconds starts over at the first delay. Every exit, restart and return to readiness
is logged with the count of restarts so far.

A process that is not a uvicorn service (the cluster's redis-server) is watched with its own way to
start again and to tell it is ready (`watch(..., restart=, is_ready=)`), under the same backoff.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from musicrec.runtime.launcher import RunningService, start_service, stop_service

logger = logging.getLogger(__name__)

FIRST_DELAY = 0.5
MAX_DELAY = 30.0
STABLE_AFTER = 60.0
READY_PROBE_TIMEOUT = 0.2


@dataclass
class Watched:
    """One supervised service: its current process and its restart history."""

    service: RunningService
    started_at: float
    restart: Callable[[RunningService], RunningService]  # a new process in place of the exited one
    is_ready: Callable[[RunningService], bool]  # asked after a restart until it first says yes
    restarts: int = 0
    quick_exits: int = 0  # exits in a row, each soon after its start
    restart_at: float | None = None  # when it is due to start again (it has exited)
    awaiting_ready: bool = False

    @property
    def name(self) -> str:
        return self.service.spec.name


@dataclass
class Supervisor:
    """Call `check()` every fraction of a second; it restarts what exited once its delay has passed."""

    host: str
    env: Mapping[str, str] | None = None
    log_dir: Path | None = None
    clock: Callable[[], float] = time.monotonic
    start: Callable[..., RunningService] = start_service
    is_ready: Callable[[RunningService], bool] = field(default=lambda service: _answers_ready(service))
    watched: list[Watched] = field(default_factory=list)

    def watch(
        self,
        services: list[RunningService],
        *,
        restart: Callable[[RunningService], RunningService] | None = None,
        is_ready: Callable[[RunningService], bool] | None = None,
    ) -> None:
        """Keep `services` running; `restart` and `is_ready` replace the uvicorn ones for them."""
        now = self.clock()
        restart = restart or self._start_again
        is_ready = is_ready or self.is_ready
        self.watched.extend(Watched(service, now, restart, is_ready) for service in services)

    @property
    def restarts(self) -> dict[str, int]:
        return {entry.name: entry.restarts for entry in self.watched}

    def check(self) -> None:
        now = self.clock()
        for entry in self.watched:
            if entry.restart_at is None and entry.service.process.poll() is not None:
                self._exited(entry, now)
            elif entry.restart_at is not None and now >= entry.restart_at:
                self._restart(entry, now)
            elif entry.awaiting_ready and entry.is_ready(entry.service):
                entry.awaiting_ready = False
                logger.warning("%s service is ready again after %.1f s (restart %d)", entry.name,
                               now - entry.started_at, entry.restarts)

    def stop_all(self) -> None:
        """Stop the current process of every service, last watched first."""
        for entry in reversed(self.watched):
            stop_service(entry.service)

    def _exited(self, entry: Watched, now: float) -> None:
        quick = now - entry.started_at < STABLE_AFTER
        entry.quick_exits = entry.quick_exits + 1 if quick else 1
        delay = min(FIRST_DELAY * 2 ** (entry.quick_exits - 1), MAX_DELAY)
        entry.restart_at = now + delay
        entry.awaiting_ready = False
        logger.warning("%s service exited with code %s after %.1f s; starting it again in %.1f s "
                       "(restart %d)", entry.name, entry.service.process.returncode, now - entry.started_at,
                       delay, entry.restarts + 1)

    def _restart(self, entry: Watched, now: float) -> None:
        entry.service = entry.restart(entry.service)
        entry.restarts += 1
        entry.started_at = now
        entry.restart_at = None
        entry.awaiting_ready = True
        logger.warning("%s service started again (restart %d, pid %d)", entry.name, entry.restarts,
                       entry.service.process.pid)

    def _start_again(self, service: RunningService) -> RunningService:
        return self.start(service.spec, self.host, self.env, self.log_dir)


def _answers_ready(service: RunningService) -> bool:
    try:
        return httpx.get(f"{service.url}/ready", timeout=READY_PROBE_TIMEOUT).status_code == 200
    except httpx.HTTPError:
        return False
