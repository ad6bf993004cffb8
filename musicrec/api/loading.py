"""Start-up helpers shared by the features and recommendations services.

The services map the serving indexes of a set (`musicrec.serving.set_indexes`) instead of decoding
parquet, so loading takes milliseconds; hashing the mapped files would take
longer than everything else at start-up together. So a start checks what is quick before
`/ready` (required files present, every mapped file of the size its manifest records, arrays that
fit together) and hashes the files on a background thread right after: a file that differs from
its manifest is logged by name and `/ready` answers 503 with that message from then on.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import psutil

from musicrec.api.state import ServiceState
from musicrec.errors import ArtifactError
from musicrec.serving.set_indexes import SetIndexes

logger = logging.getLogger(__name__)


def verify_in_background(state: ServiceState[Any], service: str, indexes: SetIndexes) -> threading.Thread:
    """Hash the files behind `indexes`; on a mismatch set `state.refused` (read by `/ready`)."""
    def verify() -> None:
        started = time.perf_counter()
        try:
            indexes.verify_checksums()
        except ArtifactError as error:
            logger.error("%s: artifact set %s refused: %s", service, indexes.name, error.message)
            state.refused = error.message
            return
        logger.info("%s: checksums of set %s verified in %.2f s (%d files)", service, indexes.name,
                    time.perf_counter() - started, len(indexes.checked_files()))

    thread = threading.Thread(target=verify, name=f"verify-{indexes.name}", daemon=True)
    thread.start()
    return thread


def describe_source(indexes: SetIndexes) -> str:
    """How the data was opened, for the load log line."""
    if indexes.mapped:
        return f"mapped from {indexes.root}"
    return "decoded into private memory (no serving indexes)"


def log_loaded(service: str, what: str, started: float, array_bytes: int) -> None:
    """One line per start-up with what operators size machines by: rows, memory, seconds."""
    logger.info("%s: loaded %s; %.0f MiB of arrays in %.2f s; process RSS %.0f MiB",
                service, what, array_bytes / 2**20, time.perf_counter() - started, process_rss_mib())


def process_rss_mib() -> float:
    """Resident memory of this process, for the load log that operators size machines by."""
    return psutil.Process().memory_info().rss / 2**20
