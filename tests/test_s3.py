"""Publish and fetch against a real SeaweedFS server with enforced keys."""

from __future__ import annotations

import argparse
import json
import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from boto3.s3.transfer import TransferConfig

from musicrec import s3 as s3_module
from musicrec import schema
from musicrec.artifacts import ArtifactSetWriter, current_set
from musicrec.cli import build_parser
from musicrec.errors import ArtifactError, DependencyUnavailable, InvalidInput, NotFound
from musicrec.s3 import LATEST, fetch, fetch_current, latest_version, publish
from musicrec.settings import S3Settings, load_settings
from tests.s3_server import S3Server, seaweedfs  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow

MB = 1 << 20
SMALL_PARTS = TransferConfig(multipart_threshold=5 * MB, multipart_chunksize=5 * MB, max_concurrency=2)
BIG_FILE = "big.bin"


@pytest.fixture
def s3(seaweedfs: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Settings:  # noqa: F811 (the fixture)
    """Credentials through the environment, as a user gives them; a fresh bucket per test."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweedfs.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweedfs.secret_key)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    return S3Settings(endpoint_url=seaweedfs.endpoint_url, bucket=f"test-{uuid.uuid4().hex[:12]}",
                      prefix="sets/music")


def make_set(artifacts: Path, marker: str, big: bool = False) -> Path:
    table = pa.table({schema.ITEM_ID: pa.array([3, 1, 2], pa.int32()),
                      schema.RANK: pa.array([1, 2, 3], pa.int32())})
    with ArtifactSetWriter(artifacts, parameters={"marker": marker}) as folder:
        pq.write_table(table, folder / schema.TOP_POPULAR_FILE)
        (folder / schema.METRICS_FILE).write_text(json.dumps({"marker": marker}))
        if big:  # over the multipart threshold: uploaded in parts, fetched in ranges
            (folder / BIG_FILE).write_bytes(os.urandom(11 * MB))
    return folder


def same_files(left: Path, right: Path) -> bool:
    """The same files (the serving indexes' subfolder included), byte for byte."""
    def files(folder: Path) -> list[str]:
        return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())

    names = files(left)
    return names == files(right) and all((left / n).read_bytes() == (right / n).read_bytes() for n in names)


def test_round_trip_with_multipart_and_verified_checksums(s3: S3Settings, tmp_path: Path) -> None:
    folder = make_set(tmp_path / "artifacts", "one", big=True)
    version = publish(tmp_path / "artifacts", s3, transfer=SMALL_PARTS)
    assert version == folder.name
    assert latest_version(s3) == version

    fetched = fetch(s3, tmp_path / "copy", transfer=SMALL_PARTS)
    assert same_files(folder, fetched)  # manifest.json included, byte for byte


def test_manifest_is_uploaded_after_every_file_and_latest_after_it(
    s3: S3Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[str] = []

    def record(params: dict, **_: object) -> None:
        written.append(params["Key"].rsplit("/", 1)[-1])

    def recording_client(settings: S3Settings):
        client = real_client(settings)
        for operation in ("PutObject", "CreateMultipartUpload"):
            client.meta.events.register(f"before-parameter-build.s3.{operation}", record)
        return client

    real_client = s3_module.s3_client
    monkeypatch.setattr(s3_module, "s3_client", recording_client)
    make_set(tmp_path / "artifacts", "order", big=True)
    publish(tmp_path / "artifacts", s3, transfer=SMALL_PARTS)
    files = sorted([BIG_FILE, schema.METRICS_FILE, schema.TOP_POPULAR_FILE, "format.json", "top_popular.npy"])
    assert sorted(written[:-2]) == files  # the serving indexes travel with the set
    assert written[-2:] == [schema.MANIFEST_FILE, LATEST]


def test_fetch_switches_the_current_set_and_latest_follows_new_publications(
    s3: S3Settings, tmp_path: Path
) -> None:
    make_set(tmp_path / "made", "first")
    first = publish(tmp_path / "made", s3)
    make_set(tmp_path / "made", "second")
    second = publish(tmp_path / "made", s3)

    served = tmp_path / "served" / "artifacts"
    fetch_current(s3, served, version=first)
    assert json.loads((served / schema.METRICS_FILE).read_text()) == {"marker": "first"}
    folder = fetch_current(s3, served)
    assert current_set(served) == folder.resolve()
    assert json.loads((served / schema.MANIFEST_FILE).read_text())["version"] == second
    assert json.loads((served / schema.METRICS_FILE).read_text()) == {"marker": "second"}


def test_a_tampered_object_fails_the_fetch_naming_the_file(
    s3: S3Settings, seaweedfs: S3Server, tmp_path: Path  # noqa: F811 (the fixture)
) -> None:
    make_set(tmp_path / "made", "good")
    served = tmp_path / "served" / "artifacts"
    fetch_current(s3, served, publish(tmp_path / "made", s3))
    good_set = current_set(served)

    make_set(tmp_path / "made", "next")
    version = publish(tmp_path / "made", s3)
    key = f"{s3.prefix}/{version}/{schema.METRICS_FILE}"
    original = seaweedfs.client().get_object(Bucket=s3.bucket, Key=key)["Body"].read()
    tampered = original.replace(b"next", b"evil")
    assert len(tampered) == len(original)
    seaweedfs.client().put_object(Bucket=s3.bucket, Key=key, Body=tampered)

    with pytest.raises(ArtifactError, match=rf"corrupt artifact .*{schema.METRICS_FILE}"):
        fetch_current(s3, served)
    assert current_set(served) == good_set  # the served set is untouched
    with pytest.raises(ArtifactError, match=schema.METRICS_FILE):
        fetch(s3, tmp_path / "copy")
    assert list((tmp_path / "copy").iterdir()) == []  # nothing half-downloaded is left


def test_a_wrong_key_is_refused(s3: S3Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_set(tmp_path / "made", "x")
    publish(tmp_path / "made", s3)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(DependencyUnavailable, match="SignatureDoesNotMatch"):
        fetch(s3, tmp_path / "copy")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "stranger")
    with pytest.raises(DependencyUnavailable, match="S3 refused .*(InvalidAccessKeyId|403 Forbidden)"):
        publish(tmp_path / "made", s3)


def test_nothing_published_and_unknown_versions_are_not_found(s3: S3Settings, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="nothing published .*python -m musicrec publish"):
        fetch(s3, tmp_path / "copy")
    make_set(tmp_path / "made", "x")
    publish(tmp_path / "made", s3)
    with pytest.raises(NotFound, match="no complete artifact set 'v404'"):
        fetch(s3, tmp_path / "copy", version="v404")


def test_versions_are_immutable_and_republishing_the_same_set_is_a_no_op(
    s3: S3Settings, tmp_path: Path
) -> None:
    make_set(tmp_path / "made", "a")
    assert publish(tmp_path / "made", s3, version="v1") == "v1"
    assert publish(tmp_path / "made", s3, version="v1") == "v1"
    make_set(tmp_path / "made", "b")
    with pytest.raises(InvalidInput, match="already holds a different set"):
        publish(tmp_path / "made", s3, version="v1")
    with pytest.raises(InvalidInput, match="version '../x'"):
        publish(tmp_path / "made", s3, version="../x")
    with pytest.raises(ArtifactError, match="no artifact set at .*missing"):
        publish(tmp_path / "missing", s3)


def test_a_course_folder_without_manifest_is_published_with_one_made_on_the_fly(
    s3: S3Settings, tmp_path: Path
) -> None:
    course = tmp_path / "course"
    course.mkdir()
    for name in (schema.RECOMMENDATIONS_FILE, schema.TOP_POPULAR_FILE, schema.SIMILAR_FILE):
        pq.write_table(pa.table({schema.ITEM_ID: pa.array([1, 2], pa.int32())}), course / name)
    version = publish(course, s3, version="course-1")
    fetched = fetch(s3, tmp_path / "copy", version)
    assert not (course / schema.MANIFEST_FILE).exists()  # the user's folder is not modified
    manifest = json.loads((fetched / schema.MANIFEST_FILE).read_text())
    assert sorted(manifest["files"]) == sorted(p.name for p in course.iterdir())
    assert manifest["files"][schema.SIMILAR_FILE]["rows"] == 2
    assert manifest["version"] == "course-1"


def test_publish_and_fetch_commands(s3: S3Settings, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    environ = {"MUSICREC_PATHS__ARTIFACTS": str(tmp_path / "served" / "artifacts"),
               **{f"MUSICREC_S3__{key.upper()}": value for key, value in s3.model_dump().items()}}
    settings = load_settings(tmp_path / "no-config.ini", environ=environ)
    make_set(tmp_path / "made", "cli")

    def run(*argv: str) -> int:
        args: argparse.Namespace = build_parser(list(argv)).parse_args(list(argv))
        module = __import__(f"musicrec.commands.{args.command}", fromlist=["run"])
        return module.run(args, settings)

    assert run("publish", "--artifacts", str(tmp_path / "made"), "--version", "cli-1") == 0
    assert "LATEST -> cli-1" in capsys.readouterr().out
    assert run("fetch") == 0
    assert json.loads((settings.paths.artifacts / schema.METRICS_FILE).read_text()) == {"marker": "cli"}
    assert run("fetch", "--version", "cli-1", "--dest", str(tmp_path / "elsewhere")) == 0
    assert (tmp_path / "elsewhere" / schema.MANIFEST_FILE).is_file()


@pytest.mark.parametrize("name", ["../escape", "/etc/passwd", "a/../../b"])
def test_manifest_names_that_escape_the_folder_are_refused(name: str) -> None:
    with pytest.raises(ArtifactError, match="unsafe file name"):
        s3_module._safe_name(name)


def test_a_replica_that_follows_latest_fetches_and_switches_on_reload(s3: S3Settings, tmp_path: Path) -> None:
    """`[serving] reload_from = s3`: a reload fetches the version LATEST names, then serves it."""
    from fastapi.testclient import TestClient

    from musicrec.api import features_app
    from tests.artifact_factory import publish_artifact_set

    made = tmp_path / "made" / "artifacts"
    publish(made, s3, version=publish_artifact_set(made, [30, 10]))
    served = tmp_path / "served" / "artifacts"
    fetch_current(s3, served)
    environ = {"MUSICREC_PATHS__ARTIFACTS": str(served), "MUSICREC_SERVING__RELOAD_INTERVAL": "0",
               "MUSICREC_SERVING__RELOAD_FROM": "s3", "MUSICREC_S3__ENDPOINT_URL": s3.endpoint_url,
               "MUSICREC_S3__BUCKET": s3.bucket, "MUSICREC_S3__PREFIX": s3.prefix}
    with TestClient(features_app.create_app(load_settings(environ=environ))) as client:
        first = client.get("/ready").json()["artifact_set"]
        assert client.post("/admin/reload").json() == {"artifact_set": first, "switched": False}
        second_version = publish(made, s3, version=publish_artifact_set(made, [41, 40]))
        answer = client.post("/admin/reload").json()
        assert answer["switched"] is True and answer["artifact_set"] != first
    assert json.loads((served / schema.MANIFEST_FILE).read_text())["version"] == second_version
