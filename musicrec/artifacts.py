"""Artifact sets: written into a new folder, switched into place at once, verified when read.

Layout, next to the configured artifacts path (`data/artifacts` by default):

    data/artifact_sets/20261123T181500123456Z/   one complete set per folder, with manifest.json
    data/artifacts -> artifact_sets/20261123T181500123456Z   a symlink: "the current set"

A writer fills a fresh folder and only then replaces the symlink (a new symlink renamed over the
old one, which is atomic on POSIX), so a reader that resolves `data/artifacts` sees the old set or
the new one, never half of one. A failed run removes its folder and leaves the current set alone.
The last few sets are kept for rollback; a set a running service serves is never pruned (services
hold a shared `flock` on its folder, `SetLease`).

If the artifacts path is a real folder (for example the course project's three files copied there),
it is never deleted: the first switch moves it into `artifact_sets/` under a name that pruning
never touches, and the symlink takes its place.

A folder without manifest.json (a course folder) is still a valid set: `verify_artifact_set` then
only checks that the required files exist.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from musicrec import schema
from musicrec.errors import ArtifactError
from musicrec.manifest import build_manifest, file_sha256, read_manifest, write_manifest
from musicrec.serving.index_files import write_serving_indexes

__all__ = [
    "ArtifactSetWriter", "SetLease", "current_set", "discard", "in_use", "new_set_folder", "prune_sets",
    "read_manifest", "require_artifact", "sets_folder", "switch_current", "verify_artifact_set",
    "verify_sizes",
]

log = logging.getLogger(__name__)

SETS_FOLDER = "artifact_sets"
# Serving indexes made for folders that lack them (see musicrec.serving.set_indexes), beside them.
SERVING_CACHE = "serving_cache"
KEEP_SETS = 3
_SET_NAME = re.compile(r"^\d{8}T\d{12}Z$")  # what `new_set_folder` makes; the only names pruned


def sets_folder(artifacts_path: Path) -> Path:
    """Where the sets behind `artifacts_path` live: a sibling folder, so renames stay on one disk."""
    return artifacts_path.parent / SETS_FOLDER


def _utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def new_set_folder(artifacts_path: Path) -> Path:
    """Create an empty, uniquely named set folder; its name sorts by creation time."""
    parent = sets_folder(artifacts_path)
    parent.mkdir(parents=True, exist_ok=True)
    while True:
        folder = parent / _utc_stamp()
        try:
            folder.mkdir()
            return folder
        except FileExistsError:  # two writers in the same microsecond: take the next one
            time.sleep(0.000_01)


# --- reading and verifying -----------------------------------------------------------------------
def require_artifact(folder: Path, name: str) -> Path:
    """The path of one artifact, or an error that names the file and the command that makes it."""
    path = folder / name
    if not path.is_file():
        raise ArtifactError(f"missing artifact {path}; make it with: {schema.MAKE_ARTIFACTS_COMMAND}")
    return path


def verify_artifact_set(
    folder: Path, required: Iterable[str] = (), checksums: Iterable[str] | None = None
) -> dict[str, Any] | None:
    """Check that a set is complete and intact; return its manifest (None for a course folder).

    Every `required` file must exist. When manifest.json is present, each file it lists must have
    its recorded size and sha256. `checksums` narrows the hashing to the named files (a service
    that loads three files need not hash the gigabytes of events.parquet at start); None hashes all.
    """
    for name in required:
        require_artifact(folder, name)
    manifest = read_manifest(folder)
    if manifest is None:
        return None
    listed: dict[str, dict[str, Any]] = manifest["files"]
    names = sorted(listed) if checksums is None else sorted(set(checksums) & set(listed))
    for name in names:
        _verify_file(folder, name, listed[name])
    return manifest


def verify_sizes(folder: Path, names: Iterable[str]) -> dict[str, Any]:
    """The quick check before mapping files: each named file is listed in the manifest with its size.

    Catches a truncated or missing file in microseconds; `verify_artifact_set` hashes them too.
    """
    manifest = read_manifest(folder)
    if manifest is None:
        raise ArtifactError(f"{folder / schema.MANIFEST_FILE} is missing; rebuild the set with: "
                            f"{schema.MAKE_ARTIFACTS_COMMAND}")
    for name in names:
        expected = manifest["files"].get(name)
        if expected is None:
            raise ArtifactError(f"{folder / name} is not listed in {folder / schema.MANIFEST_FILE}; "
                                f"rebuild the set with: {schema.MAKE_ARTIFACTS_COMMAND}")
        _check_size(folder, name, expected)
    return manifest


def _check_size(folder: Path, name: str, expected: dict[str, Any]) -> Path:
    path = require_artifact(folder, name)
    size = path.stat().st_size
    if size != expected.get("bytes"):
        raise ArtifactError(f"corrupt artifact {path}: {size} bytes, manifest says {expected.get('bytes')}; "
                            f"rebuild or fetch the set again ({schema.MAKE_ARTIFACTS_COMMAND})")
    return path


def _verify_file(folder: Path, name: str, expected: dict[str, Any]) -> None:
    path = _check_size(folder, name, expected)
    if file_sha256(path) != expected.get("sha256"):
        raise ArtifactError(f"corrupt artifact {path}: sha256 differs from manifest.json; "
                            f"rebuild or fetch the set again ({schema.MAKE_ARTIFACTS_COMMAND})")


def current_set(artifacts_path: Path) -> Path:
    """The folder the artifacts path points to now; resolve it once and read everything from it,
    so a switch during loading cannot mix files of two sets."""
    folder = artifacts_path.resolve()
    if not folder.is_dir():
        raise ArtifactError(f"no artifact set at {artifacts_path}; make one with: "
                            f"{schema.MAKE_ARTIFACTS_COMMAND}")
    return folder


# --- switching -----------------------------------------------------------------------------------
def _adopt_real_folder(artifacts_path: Path) -> None:
    """Move a user's real folder aside (never delete it) so a symlink can take its place."""
    kept = sets_folder(artifacts_path) / f"{artifacts_path.name}-adopted-{_utc_stamp()}"
    kept.parent.mkdir(parents=True, exist_ok=True)
    os.rename(artifacts_path, kept)
    log.warning("%s was a real folder; moved it to %s (kept, never pruned)", artifacts_path, kept)


def switch_current(artifacts_path: Path, folder: Path) -> None:
    """Point `artifacts_path` at `folder` in one atomic rename of a fresh symlink."""
    if artifacts_path.exists() and not artifacts_path.is_symlink():
        if not artifacts_path.is_dir():
            raise ArtifactError(f"{artifacts_path} is a file, not an artifact folder; move it away")
        _adopt_real_folder(artifacts_path)
    target = os.path.relpath(folder, artifacts_path.parent)  # relative: the data folder can move
    temporary = artifacts_path.with_name(f".{artifacts_path.name}.{uuid.uuid4().hex}.tmp")
    os.symlink(target, temporary, target_is_directory=True)
    try:
        os.replace(temporary, artifacts_path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(artifacts_path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the switch itself survives a crash
    finally:
        os.close(directory)
    log.info("%s -> %s", artifacts_path, target)


class SetLease:
    """A shared lock on a set's folder while it serves; `prune_sets` does not remove a locked set."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._fd: int | None = os.open(folder, os.O_RDONLY)
        fcntl.flock(self._fd, fcntl.LOCK_SH)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None


def in_use(folder: Path) -> bool:
    """Whether some process holds a `SetLease` on `folder` (tried without waiting)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def prune_sets(artifacts_path: Path, keep: int = KEEP_SETS) -> list[Path]:
    """Delete all but the newest `keep` sets, never the current one, one a service serves (a
    `SetLease` holds it), nor adopted folders."""
    current = artifacts_path.resolve() if artifacts_path.is_symlink() else None
    parent = sets_folder(artifacts_path)
    sets = sorted(p for p in parent.iterdir() if p.is_dir() and _SET_NAME.match(p.name))
    old = [p for p in sets[:-keep] if p.resolve() != current] if keep > 0 else []
    removed = [p for p in old if not in_use(p)]
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
        _remove_serving_cache(parent, folder.name)
        log.info("removed old artifact set %s", folder.name)
    return removed


def _remove_serving_cache(parent: Path, set_name: str) -> None:
    """A removed set's converted indexes (and their lock file) go with it."""
    for cached in (parent / SERVING_CACHE).glob(f"{set_name}-*"):
        if cached.is_dir():
            shutil.rmtree(cached, ignore_errors=True)
        else:
            cached.unlink(missing_ok=True)


def discard(folder: Path) -> None:
    """Remove an unfinished set folder."""
    shutil.rmtree(folder, ignore_errors=True)


class ArtifactSetWriter:
    """Write a set into a fresh folder; on success add its serving indexes (the memory-mappable form
    the services read, `musicrec.serving.index_files`) and manifest.json, and make it current.

    >>> with ArtifactSetWriter(settings.paths.artifacts, inputs=raw, parameters=params) as folder:
    ...     table.write(folder / schema.TOP_POPULAR_FILE)

    Parameters
    ----------
    artifacts_path
        The symlink that names the current set (`[paths] artifacts`).
    inputs
        Raw file or folder the set was made from; fingerprinted into the manifest.
    parameters
        JSON-serialisable settings of the run, recorded in the manifest.
    keep
        How many sets to keep, the new one included.
    """

    def __init__(
        self,
        artifacts_path: Path,
        inputs: Path | None = None,
        parameters: dict[str, Any] | None = None,
        keep: int = KEEP_SETS,
    ) -> None:
        self.artifacts_path = Path(artifacts_path)
        self.inputs = inputs
        self.parameters = parameters
        self.keep = keep
        self.folder: Path | None = None
        self.manifest: dict[str, Any] | None = None

    def __enter__(self) -> Path:
        self.folder = new_set_folder(self.artifacts_path)
        return self.folder

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self.folder is not None, "use ArtifactSetWriter in a with statement"
        if exc_type is not None:
            log.warning("artifact set %s abandoned (%s); current set unchanged",
                        self.folder.name, exc_type.__name__)
            discard(self.folder)
            return
        try:
            write_serving_indexes(self.folder, self.folder / schema.SERVING_INDEX_FOLDER)
            self.manifest = build_manifest(self.folder, self.inputs, self.parameters)
            write_manifest(self.folder, self.manifest)
            switch_current(self.artifacts_path, self.folder)
        except BaseException:
            discard(self.folder)
            raise
        prune_sets(self.artifacts_path, self.keep)
