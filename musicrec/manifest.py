"""manifest.json: what an artifact set holds (bytes, sha256, rows per file) and what made it.

The manifest is written last, so its presence marks a complete set; its checksums let a service or a
download detect a truncated or altered file. Files are hashed in streamed chunks because artifacts
reach gigabytes at full size.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from musicrec import schema
from musicrec.errors import ArtifactError

log = logging.getLogger(__name__)

MANIFEST_FORMAT = 1
_HASH_CHUNK = 4 << 20


def file_sha256(path: Path, progress: tqdm | None = None) -> str:
    """Streamed in chunks: artifact files reach gigabytes at full size."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
            if progress is not None:
                progress.update(len(chunk))
    return digest.hexdigest()


def _set_files(folder: Path) -> list[Path]:
    return sorted(
        path for path in folder.rglob("*") if path.is_file() and path.name != schema.MANIFEST_FILE
    )


def _describe_file(path: Path, progress: tqdm) -> dict[str, Any]:
    entry: dict[str, Any] = {"bytes": path.stat().st_size, "sha256": file_sha256(path, progress)}
    if path.suffix == ".parquet":
        try:
            entry["rows"] = pq.ParquetFile(path).metadata.num_rows
        except (pa.ArrowException, OSError) as exc:
            raise ArtifactError(f"{path} is not a readable parquet file: {exc}") from None
    return entry


def fingerprint_inputs(inputs: Path) -> dict[str, Any]:
    """Names, sizes and modification times of the raw files: cheap, and enough to tell runs apart.

    Hashing the raw files would cost as much as hashing the artifacts again (GBs at full size) for
    no gain in the usual question, "was this set made from the files I have now?".
    """
    paths = sorted(p for p in inputs.iterdir() if p.is_file()) if inputs.is_dir() else [inputs]
    files = {}
    for path in paths:
        stat = path.stat()
        mtime = datetime.fromtimestamp(stat.st_mtime, UTC).isoformat()
        files[path.name] = {"bytes": stat.st_size, "modified_at": mtime}
    summary = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
    return {"path": str(inputs), "files": files, "fingerprint": summary}


def build_manifest(
    folder: Path, inputs: Path | None = None, parameters: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Describe every file of `folder`: bytes, sha256 and, for parquet, rows."""
    started = time.perf_counter()
    paths = _set_files(folder)
    total = sum(path.stat().st_size for path in paths)
    with tqdm(total=total, unit="B", unit_scale=True, desc="checksums", leave=False) as progress:
        files = {path.relative_to(folder).as_posix(): _describe_file(path, progress) for path in paths}
    log.info("manifest of %s: %d files, %.1f MB hashed in %.1f s",
             folder.name, len(files), total / 1e6, time.perf_counter() - started)
    return {
        "format": MANIFEST_FORMAT,
        "version": folder.name,
        "created_at": datetime.now(UTC).isoformat(),
        "inputs": fingerprint_inputs(inputs) if inputs is not None else None,
        "parameters": parameters or {},
        "files": files,
    }


def write_manifest(folder: Path, manifest: dict[str, Any]) -> Path:
    """Write manifest.json durably (fsync), since it is what declares the set complete."""
    path = folder / schema.MANIFEST_FILE
    text = json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n"
    with path.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    return path


def settings_tuned(manifest: dict[str, Any] | None) -> bool | None:
    """Whether the pipeline learned the set's model settings from the data (`--tune on`), as the
    parameters it recorded say; None when the set does not say (a course folder has no manifest).

    `make run` improves a set made without tuning in the background, and the page tells the two apart.
    """
    parameters = (manifest or {}).get("parameters")
    tune = parameters.get("tune") if isinstance(parameters, dict) else None
    return tune if isinstance(tune, bool) else None


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The set's manifest, or None when the folder has none (a course folder)."""
    path = folder / schema.MANIFEST_FILE
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{path} is unreadable ({exc}); rebuild the set with: "
                            f"{schema.MAKE_ARTIFACTS_COMMAND}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise ArtifactError(f"{path} has no 'files' section; rebuild the set with: "
                            f"{schema.MAKE_ARTIFACTS_COMMAND}")
    return manifest
