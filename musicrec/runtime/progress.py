"""Resuming a pipeline run: which stages are done in a work folder, and what they were made from.

Stages talk only through the work folder, so a run stopped during a stage can go on at that stage
later, as long as the raw files and the parameters are the ones the finished stages used.
`python -m musicrec pipeline --resume` records each stage as it finishes in the folder's
`progress.json`, with the raw files' fingerprint (names, sizes, modification times) and the
parameters; the next `--resume` skips the stages recorded for the same inputs and parameters, and
starts over when either changed. A complete run clears the record: nothing is left to resume.

Only one resumable run may use a folder at a time (`claim`): a second one, for example next to a
run that a killed `make run` left behind, stops with a message instead of writing over its files.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from musicrec.errors import MusicRecError
from musicrec.manifest import fingerprint_inputs

PROGRESS_FILE = "progress.json"
LOCK_FILE = ".resume.lock"


def made_from(raw_dir: Path, parameters: dict[str, Any]) -> dict[str, Any]:
    """What a stage's output depends on besides the code: the raw files and the parameters."""
    return {"inputs": fingerprint_inputs(raw_dir)["fingerprint"], "parameters": parameters}


def done_stages(work_dir: Path, origin: dict[str, Any] | None = None) -> list[str]:
    """The stages recorded as finished, in the order they finished; with `origin`, only if they were
    made from it (else none: the run starts over)."""
    try:
        record = json.loads((work_dir / PROGRESS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(record, dict) or (origin is not None and record.get("made_from") != origin):
        return []
    done = record.get("done")
    return [str(stage) for stage in done] if isinstance(done, list) else []


def mark_done(work_dir: Path, origin: dict[str, Any], stage: str) -> None:
    """Record `stage` as finished; written to a temporary file and renamed, so a crash while writing
    leaves the previous record."""
    done = [*done_stages(work_dir, origin), stage]
    path = work_dir / PROGRESS_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"made_from": origin, "done": done}, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def clear(work_dir: Path) -> None:
    """Forget the record (after a complete run)."""
    (work_dir / PROGRESS_FILE).unlink(missing_ok=True)


@contextlib.contextmanager
def claim(work_dir: Path) -> Iterator[None]:
    """Hold the folder's lock for one resumable run; MusicRecError at once if another run holds it.

    The lock belongs to the process (an open file with `flock`), so it goes with the process however
    that ends.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    with open(work_dir / LOCK_FILE, "a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            raise MusicRecError(f"another pipeline run (pid {holder}) is using {work_dir}; wait for it "
                                "to finish or stop it") from None
        lock.truncate(0)
        lock.write(str(os.getpid()))
        lock.flush()
        yield
