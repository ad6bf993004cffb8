"""Publish artifact sets to S3 and fetch them back, verified.

Layout in the bucket (`[s3] bucket`, `prefix`):

    <prefix>/<version>/<file>          every file of the set
    <prefix>/<version>/manifest.json   uploaded LAST: its presence means the version is complete
    <prefix>/LATEST                    the newest version's name, written after the manifest

A reader follows LATEST, reads the manifest and downloads exactly the files it lists, then checks
their sha256, so it never takes half a set or a tampered one. boto3's managed transfer splits big
files into multipart uploads and parallel ranged downloads. Credentials come from boto3's usual
chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, ~/.aws); addressing is path-style so that
S3-compatible servers (SeaweedFS, MinIO) work without DNS tricks.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from tqdm import tqdm

from musicrec import schema
from musicrec.artifacts import (
    current_set,
    discard,
    new_set_folder,
    prune_sets,
    switch_current,
    verify_artifact_set,
)
from musicrec.errors import ArtifactError, DependencyUnavailable, InvalidInput, NotFound
from musicrec.manifest import build_manifest
from musicrec.settings import S3Settings

log = logging.getLogger(__name__)

LATEST = "LATEST"
DEFAULT_TRANSFER = TransferConfig(
    multipart_threshold=64 << 20, multipart_chunksize=64 << 20, max_concurrency=4
)
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_MISSING = {"404", "NoSuchKey", "NotFound"}


# --- client and errors -----------------------------------------------------------------------------
def s3_client(s3: S3Settings) -> Any:
    """A boto3 S3 client for the configured endpoint (empty endpoint_url means AWS itself).

    A fresh session each time: boto3's default session caches the credentials it first found,
    so a changed AWS_* variable would silently be ignored.
    """
    config = botocore.config.Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
    )
    return boto3.session.Session().client(
        "s3", endpoint_url=s3.endpoint_url or None, region_name=s3.region, config=config
    )


def _where(s3: S3Settings, key: str = "") -> str:
    return f"s3://{s3.bucket}/{key}" + (f" at {s3.endpoint_url}" if s3.endpoint_url else "")


@contextmanager
def _s3_errors(s3: S3Settings) -> Iterator[None]:
    """Turn boto's exceptions into domain errors whose message tells the user what to fix."""
    try:
        yield
    except botocore.exceptions.NoCredentialsError:
        raise DependencyUnavailable(
            "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") from None
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        raise DependencyUnavailable(
            f"S3 refused {exc.operation_name} on {_where(s3)}: {error.get('Code')} {error.get('Message', '')}"
            " (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and [s3] settings)") from None
    except S3UploadFailedError as exc:
        raise DependencyUnavailable(f"S3 upload to {_where(s3)} failed: {exc}") from None
    except botocore.exceptions.BotoCoreError as exc:
        raise DependencyUnavailable(f"cannot reach S3 {_where(s3)}: {exc}") from None


def _key(s3: S3Settings, *parts: str) -> str:
    return "/".join(part for part in (s3.prefix.strip("/"), *parts) if part)


def _read_object(client: Any, s3: S3Settings, key: str) -> bytes | None:
    """The object's bytes, or None when it does not exist."""
    try:
        return client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _MISSING | {"NoSuchBucket"}:
            return None
        raise


def _ensure_bucket(client: Any, s3: S3Settings) -> None:
    try:
        client.head_bucket(Bucket=s3.bucket)
        return
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in _MISSING | {"NoSuchBucket"}:
            raise
    options = {} if s3.region == "us-east-1" else {
        "CreateBucketConfiguration": {"LocationConstraint": s3.region}}
    client.create_bucket(Bucket=s3.bucket, **options)
    log.info("created bucket %s", s3.bucket)


def _check_version(version: str) -> str:
    if not _VERSION.match(version):
        raise InvalidInput(f"version {version!r} must be letters, digits, '.', '_' or '-' (max 128)")
    return version


# --- publish -------------------------------------------------------------------------------------
def _manifest_to_publish(folder: Path) -> tuple[dict[str, Any], bytes | None]:
    """The set's verified manifest and its bytes; a course folder without one gets one made now
    (not written into the user's folder; bytes None until its version is known)."""
    manifest = verify_artifact_set(folder)
    if manifest is not None:
        return manifest, (folder / schema.MANIFEST_FILE).read_bytes()
    if not any(folder.iterdir()):
        raise ArtifactError(f"{folder} is empty; make a set with: {schema.MAKE_ARTIFACTS_COMMAND}")
    return build_manifest(folder, parameters={"made_at_publish": "the folder had no manifest.json"}), None


def _upload_files(client: Any, s3: S3Settings, folder: Path, version: str,
                  files: dict[str, Any], transfer: TransferConfig) -> None:
    total = sum(entry["bytes"] for entry in files.values())
    with tqdm(total=total, unit="B", unit_scale=True, desc=f"upload {version}") as progress:
        for name in sorted(files):
            client.upload_file(str(folder / name), s3.bucket, _key(s3, version, name),
                               Config=transfer, Callback=progress.update)


def publish(folder: Path, s3: S3Settings, version: str | None = None,
            transfer: TransferConfig = DEFAULT_TRANSFER) -> str:
    """Upload a verified artifact set under `<prefix>/<version>/` and point LATEST at it.

    Returns the version. It defaults to the set's own name (its UTC timestamp), so publishing the
    same set twice is a no-op that only moves LATEST; a different set under an existing version is
    refused, because versions are immutable for the readers that already fetched them.
    """
    started = time.perf_counter()
    folder = current_set(Path(folder))
    manifest, manifest_bytes = _manifest_to_publish(folder)
    version = _check_version(version or str(manifest.get("version") or folder.name))
    if manifest_bytes is None:
        manifest["version"] = version
        manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode()
    client = s3_client(s3)
    with _s3_errors(s3):
        _ensure_bucket(client, s3)
        manifest_key = _key(s3, version, schema.MANIFEST_FILE)
        existing = _read_object(client, s3, manifest_key)
        if existing is None:
            _upload_files(client, s3, folder, version, manifest["files"], transfer)
            client.put_object(Bucket=s3.bucket, Key=manifest_key, Body=manifest_bytes)
        elif json.loads(existing).get("files") != manifest["files"]:
            raise InvalidInput(f"{_where(s3, manifest_key)} already holds a different set; "
                               "choose another --version")
        else:
            log.info("version %s is already published with the same files", version)
        client.put_object(Bucket=s3.bucket, Key=_key(s3, LATEST), Body=version.encode())
    log.info("published %s as %s (%d files) in %.1f s", folder, _where(s3, _key(s3, version)) + "/",
             len(manifest["files"]), time.perf_counter() - started)
    return version


# --- fetch ---------------------------------------------------------------------------------------
def latest_version(s3: S3Settings) -> str:
    """The version LATEST names, or NotFound when nothing was published."""
    with _s3_errors(s3):
        text = _read_object(s3_client(s3), s3, _key(s3, LATEST))
    if text is None:
        raise NotFound(
            f"nothing published at {_where(s3, _key(s3, LATEST))}; run: python -m musicrec publish")
    return _check_version(text.decode().strip())


def _safe_name(name: str) -> str:
    """Manifest names come from the bucket: refuse any that would escape the destination folder."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ArtifactError(f"manifest lists an unsafe file name {name!r}")
    return name


def _download(client: Any, s3: S3Settings, version: str, dest: Path,
              transfer: TransferConfig) -> None:
    manifest_bytes = _read_object(client, s3, _key(s3, version, schema.MANIFEST_FILE))
    if manifest_bytes is None:
        raise NotFound(f"no complete artifact set {version!r} at {_where(s3, _key(s3, version))}/")
    files: dict[str, Any] = json.loads(manifest_bytes)["files"]
    total = sum(entry["bytes"] for entry in files.values())
    with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {version}") as progress:
        for name in sorted(files):
            target = dest / _safe_name(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(s3.bucket, _key(s3, version, name), str(target),
                                 Config=transfer, Callback=progress.update)
    (dest / schema.MANIFEST_FILE).write_bytes(manifest_bytes)


def fetch(s3: S3Settings, dest: Path, version: str | None = None,
          transfer: TransferConfig = DEFAULT_TRANSFER) -> Path:
    """Download a published set (LATEST when `version` is None) into `dest` and verify it.

    `dest` must be absent or empty. On any failure, including a checksum that does not match
    (the message names the file), the downloaded files are removed again.
    """
    started = time.perf_counter()
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise InvalidInput(f"{dest} is not empty; fetch into a new folder")
    version = _check_version(version) if version else latest_version(s3)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with _s3_errors(s3):
            _download(s3_client(s3), s3, version, dest, transfer)
        verify_artifact_set(dest)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True, exist_ok=True)
        raise
    log.info("fetched %s into %s, checksums verified, in %.1f s",
             version, dest, time.perf_counter() - started)
    return dest


def fetch_current(s3: S3Settings, artifacts_path: Path, version: str | None = None,
                  transfer: TransferConfig = DEFAULT_TRANSFER) -> Path:
    """Fetch into a new set folder and make it the current set (the artifacts symlink)."""
    folder = new_set_folder(artifacts_path)
    try:
        fetch(s3, folder, version, transfer)
    except BaseException:
        discard(folder)
        raise
    switch_current(artifacts_path, folder)
    prune_sets(artifacts_path)
    return folder
