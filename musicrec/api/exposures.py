"""The exposure log of an A/B experiment: one JSON line per answer, for analysis afterwards.

Each line says when, which user, experiment and arm, which route, and the tracks shown:

    {"time": "2026-12-03T15:30:01.123456+00:00", "experiment": "cap", "arm": "capped", "user_id": 5,
     "route": "blended", "recs": [10, 41, 12]}

Lines are written by a thread of their own (a `logging.handlers.QueueListener` in front of a file
handler), so an answer only puts a record on a queue and never waits for the disk on the event loop.
The file is appended to, so restarts and replicas on one machine add to the same log (each line is
written in one call; analyse by line). With no experiment configured nothing is opened or written.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import queue
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

LOGGER_NAME = "musicrec.exposures"


class ExposureLog:
    """Appends exposures to `path` from a background thread while open (a context manager)."""

    def __init__(self, path: Path, experiment: str) -> None:
        self.path = path
        self.experiment = experiment
        self._logger = logging.getLogger(f"{LOGGER_NAME}.{id(self)}")
        self._logger.propagate = False  # exposures go to their file only, not to the service log
        self._logger.setLevel(logging.INFO)

    @contextmanager
    def opened(self) -> Iterator[ExposureLog]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(self.path, encoding="utf-8")
        file_handler.setFormatter(logging.Formatter("%(message)s"))
        records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        listener = logging.handlers.QueueListener(records, file_handler)
        handler = logging.handlers.QueueHandler(records)
        self._logger.addHandler(handler)
        listener.start()
        try:
            yield self
        finally:
            self._logger.removeHandler(handler)
            listener.stop()  # writes what is queued, then stops the thread
            file_handler.close()

    def record(self, user_id: int, arm: str, route: str, recs: Sequence[int]) -> None:
        line = {"time": datetime.now(UTC).isoformat(), "experiment": self.experiment, "arm": arm,
                "user_id": user_id, "route": route, "recs": list(recs)}
        self._logger.info(json.dumps(line, separators=(",", ":")))
