"""A circuit breaker: stop waiting for a dependency that keeps failing, and probe it now and then.

Without one, every request to a dead or frozen dependency waits the whole timeout before answering
degraded, so a stopped features service slows every blended answer to the timeout. After
`failures` failed calls in a row the breaker opens: calls fail at once (the answer is degraded
immediately) for `reset` seconds; then one call is let through as a probe (half-open). If the probe
succeeds the breaker closes, if it fails it opens for another `reset` seconds. Each change is one
log line, so a dependency that is down for an hour logs two lines, not one per request.

Meant for one event loop (the service's): no locks, the state changes between awaits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


class CircuitOpen(Exception):
    """A call was skipped: the dependency failed too often lately; the message says for how long."""


class CircuitBreaker:
    """Counts failures in a row of one dependency and says whether a call may go ahead."""

    def __init__(self, name: str, failures: int, reset: float, clock: Callable[[], float] = time.monotonic):
        self.name = name
        self.failures_to_open = failures
        self.reset = reset
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None

    def before_call(self) -> None:
        """Raise CircuitOpen unless the call may go ahead (closed, or this call is the probe)."""
        if self._opened_at is None:
            return
        waited = self._clock() - self._opened_at
        if self._probing or waited < self.reset:
            retry_in = max(self.reset - waited, 0.0)
            raise CircuitOpen(f"skipped: {self._failures} failures in a row, next try in {retry_in:.1f} s")
        self._probing = True

    def succeeded(self) -> None:
        if self._opened_at is not None:
            logger.warning("%s is answering again: circuit closed", self.name)
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def abandoned(self) -> None:
        """A call ended without an answer either way (cancelled): if it was the probe, the next call is."""
        self._probing = False

    def failed(self, problem: str) -> None:
        """Count a failed call; the breaker opens after enough of them, or when the probe failed."""
        self._failures += 1
        if self._probing or (self._opened_at is None and self._failures >= self.failures_to_open):
            if not self._probing:
                logger.warning("%s failed %d times in a row (last: %s): skipping it for %.1f s, then "
                               "probing", self.name, self._failures, problem, self.reset)
            self._opened_at = self._clock()
            self._probing = False
