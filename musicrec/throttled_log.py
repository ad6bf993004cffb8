"""Warnings that may repeat thousands of times a second, logged at most once per interval per kind.

A dependency that is down makes every answer degraded; one warning per answer buried the log and
cost CPU exactly when the service was under stress. The first warning
of a kind is logged at once; later ones within `interval` seconds are only counted, and the next
one after the interval is logged with how many were left out. Counting every occurrence is the
metrics' job (Prometheus counters), not the log's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

DEFAULT_INTERVAL = 10.0


@dataclass
class ThrottledWarnings:
    """`warn(kind, message)` logs the first of each kind per interval and counts the rest."""

    logger: logging.Logger
    interval: float = DEFAULT_INTERVAL
    clock: Callable[[], float] = time.monotonic
    _last_logged: dict[str, float] = field(default_factory=dict)
    _left_out: dict[str, int] = field(default_factory=dict)

    def warn(self, kind: str, message: str) -> None:
        now = self.clock()
        last = self._last_logged.get(kind)
        if last is not None and now - last < self.interval:
            self._left_out[kind] = self._left_out.get(kind, 0) + 1
            return
        left_out = self._left_out.pop(kind, 0)
        if left_out and last is not None:
            self.logger.warning("%s (and %d more like it in the last %.0f s)", message, left_out, now - last)
        else:
            self.logger.warning("%s", message)
        self._last_logged[kind] = now
