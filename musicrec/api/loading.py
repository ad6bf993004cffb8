"""Start-up helpers shared by the features and recommendations services.

Checking an artifact set's checksums means hashing every loaded file (660 MB at full size), which
would add about a second to start-up if done before reading. The hash releases the GIL, so it runs
on a thread while the files are read, and a mismatch still stops the start-up before `/ready`.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from musicrec.artifacts import verify_artifact_set
from musicrec.serving.indexes import process_rss_mib

logger = logging.getLogger(__name__)


@contextmanager
def verified_while_loading(folder: Path, required: Sequence[str], loaded: Sequence[str]) -> Iterator[None]:
    """Fail at once if a `required` file is missing; hash the `loaded` ones meanwhile (manifest sets)."""
    verify_artifact_set(folder, required=required, checksums=[])
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify-artifacts") as pool:
        checked = pool.submit(verify_artifact_set, folder, (), loaded)
        yield
        checked.result()  # re-raises ArtifactError for a corrupt file


def log_loaded(service: str, what: str, started: float, array_bytes: int) -> None:
    """One line per start-up with what operators size machines by: rows, memory, seconds."""
    logger.info("%s: loaded %s; %.0f MiB of arrays in %.2f s; process RSS %.0f MiB",
                service, what, array_bytes / 2**20, time.perf_counter() - started, process_rss_mib())
