"""Artifact sets: atomic switch, manifest content, verification messages, course folders."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from musicrec import schema
from musicrec.artifacts import (
    ArtifactSetWriter,
    current_set,
    prune_sets,
    read_manifest,
    require_artifact,
    sets_folder,
    verify_artifact_set,
)
from musicrec.errors import ArtifactError

TOP_POPULAR = pa.table(
    {schema.ITEM_ID: pa.array([30, 10, 20], pa.int32()), schema.RANK: pa.array([1, 2, 3], pa.int32())}
)


def write_set(artifacts: Path, marker: str, **writer_args) -> Path:
    with ArtifactSetWriter(artifacts, **writer_args) as folder:
        pq.write_table(TOP_POPULAR, folder / schema.TOP_POPULAR_FILE)
        (folder / schema.METRICS_FILE).write_text(json.dumps({"marker": marker}))
    return folder


def marker_of(artifacts: Path) -> str:
    return json.loads((artifacts / schema.METRICS_FILE).read_text())["marker"]


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    return tmp_path / "data" / "artifacts"


def test_writer_switches_a_relative_symlink_to_the_new_set(artifacts: Path) -> None:
    first = write_set(artifacts, "first")
    assert artifacts.is_symlink()
    assert os.readlink(artifacts) == f"artifact_sets/{first.name}"
    assert first.parent == sets_folder(artifacts)
    second = write_set(artifacts, "second")
    assert current_set(artifacts) == second.resolve()
    assert marker_of(artifacts) == "second"
    assert first.is_dir()  # older sets are kept for rollback
    assert not list(artifacts.parent.glob(".artifacts.*.tmp"))


def test_manifest_lists_every_file_with_bytes_sha256_rows_inputs_and_parameters(
    artifacts: Path, tmp_path: Path
) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / schema.TRACKS_FILE).write_bytes(b"12345")
    (raw / schema.INTERACTIONS_FILE).write_bytes(b"123")
    folder = write_set(artifacts, "m", inputs=raw, parameters={"als_factors": 64, "raw": raw})

    manifest = read_manifest(artifacts)
    assert manifest is not None
    assert manifest["version"] == folder.name
    assert manifest["parameters"] == {"als_factors": 64, "raw": str(raw)}
    assert sorted(manifest["inputs"]["files"]) == [schema.INTERACTIONS_FILE, schema.TRACKS_FILE]
    assert manifest["inputs"]["files"][schema.TRACKS_FILE]["bytes"] == 5
    assert manifest["inputs"]["files"][schema.INTERACTIONS_FILE]["bytes"] == 3
    serving = schema.SERVING_INDEX_FOLDER
    assert sorted(manifest["files"]) == [schema.METRICS_FILE, f"{serving}/format.json",
                                         f"{serving}/top_popular.npy", schema.TOP_POPULAR_FILE]
    for name, entry in manifest["files"].items():
        content = (folder / name).read_bytes()
        assert entry["bytes"] == len(content)
        assert entry["sha256"] == hashlib.sha256(content).hexdigest()
    assert manifest["files"][schema.TOP_POPULAR_FILE]["rows"] == 3
    assert "rows" not in manifest["files"][schema.METRICS_FILE]


def test_input_fingerprint_changes_when_a_raw_file_changes(artifacts: Path, tmp_path: Path) -> None:
    raw = tmp_path / schema.INTERACTIONS_FILE
    raw.write_bytes(b"abc")
    write_set(artifacts, "a", inputs=raw)
    first = read_manifest(artifacts)
    assert first is not None
    before = first["inputs"]["fingerprint"]
    raw.write_bytes(b"abcd")
    write_set(artifacts, "b", inputs=raw)
    second = read_manifest(artifacts)
    assert second is not None and second["inputs"]["fingerprint"] != before


def test_failure_inside_the_writer_leaves_the_current_set_untouched(artifacts: Path) -> None:
    first = write_set(artifacts, "good")
    with pytest.raises(RuntimeError, match="stage failed"), ArtifactSetWriter(artifacts) as folder:
        (folder / schema.METRICS_FILE).write_text(json.dumps({"marker": "half"}))
        raise RuntimeError("stage failed")
    assert not folder.exists()
    assert current_set(artifacts) == first.resolve()
    assert marker_of(artifacts) == "good"
    assert sorted(p.name for p in sets_folder(artifacts).iterdir()) == [first.name]


def test_readers_see_the_old_or_the_new_set_never_half(artifacts: Path) -> None:
    """Each set holds two files with the same marker; a reader resolving the symlink once must
    always find them equal and present while sets are switched under it."""

    def write_pair(marker: str) -> None:
        with ArtifactSetWriter(artifacts, keep=50) as folder:
            (folder / "a.txt").write_text(marker)
            (folder / "b.txt").write_text(marker)

    write_pair("0")
    problems: list[str] = []
    done = threading.Event()

    def read_forever() -> None:
        reads = 0
        while not done.is_set() or reads == 0:
            folder = current_set(artifacts)
            a, b = (folder / "a.txt").read_text(), (folder / "b.txt").read_text()
            if a != b:
                problems.append(f"{folder.name}: {a!r} != {b!r}")
            reads += 1

    reader = threading.Thread(target=read_forever)
    reader.start()
    try:
        for version in range(1, 30):
            write_pair(str(version))
    finally:
        done.set()
        reader.join()
    assert problems == []
    assert (artifacts / "a.txt").read_text() == "29"


def test_prune_keeps_the_newest_sets_and_the_current_one(artifacts: Path) -> None:
    folders = [write_set(artifacts, str(i), keep=10) for i in range(5)]
    removed = prune_sets(artifacts, keep=2)
    assert removed == folders[:3]
    assert sorted(p.name for p in sets_folder(artifacts).iterdir()) == [f.name for f in folders[3:]]

    write_set(artifacts, "5", keep=2)
    assert len(list(sets_folder(artifacts).iterdir())) == 2


def test_a_real_folder_at_the_artifacts_path_is_moved_aside_never_deleted(artifacts: Path) -> None:
    artifacts.mkdir(parents=True)
    (artifacts / schema.RECOMMENDATIONS_FILE).write_bytes(b"course file")
    for i in range(4):
        write_set(artifacts, str(i), keep=1)
    assert artifacts.is_symlink()
    adopted = list(sets_folder(artifacts).glob("artifacts-adopted-*"))
    assert len(adopted) == 1
    assert (adopted[0] / schema.RECOMMENDATIONS_FILE).read_bytes() == b"course file"


def test_a_course_folder_without_manifest_loads(tmp_path: Path) -> None:
    for name in (schema.RECOMMENDATIONS_FILE, schema.TOP_POPULAR_FILE, schema.SIMILAR_FILE):
        (tmp_path / name).write_bytes(b"parquet")
    required = (schema.RECOMMENDATIONS_FILE, schema.TOP_POPULAR_FILE)
    assert verify_artifact_set(tmp_path, required) is None
    assert current_set(tmp_path) == tmp_path.resolve()


def test_missing_required_file_names_the_file_and_the_command(tmp_path: Path) -> None:
    (tmp_path / schema.TOP_POPULAR_FILE).write_bytes(b"x")
    with pytest.raises(ArtifactError) as caught:
        verify_artifact_set(tmp_path, (schema.TOP_POPULAR_FILE, schema.SIMILAR_FILE))
    assert str(tmp_path / schema.SIMILAR_FILE) in caught.value.message
    assert schema.MAKE_ARTIFACTS_COMMAND in caught.value.message
    assert require_artifact(tmp_path, schema.TOP_POPULAR_FILE) == tmp_path / schema.TOP_POPULAR_FILE


def test_missing_artifact_set_names_the_path_and_the_command(artifacts: Path) -> None:
    with pytest.raises(ArtifactError, match="no artifact set at .*artifacts.*make pipeline"):
        current_set(artifacts)


@pytest.mark.parametrize("damage", ["same_size", "truncated"])
def test_checksum_verification_catches_a_corrupted_file_and_names_it(artifacts: Path, damage: str) -> None:
    write_set(artifacts, "ok")
    manifest = verify_artifact_set(artifacts, (schema.TOP_POPULAR_FILE,))
    assert manifest is not None
    path = artifacts / schema.TOP_POPULAR_FILE
    content = bytearray(path.read_bytes())
    if damage == "same_size":
        content[len(content) // 2] ^= 0xFF
    else:
        del content[-10:]
    path.write_bytes(bytes(content))
    with pytest.raises(ArtifactError, match=rf"corrupt artifact .*{schema.TOP_POPULAR_FILE}"):
        verify_artifact_set(artifacts)
    # a service that checks only the files it loads is not stopped by another file's damage
    assert verify_artifact_set(artifacts, checksums=[schema.METRICS_FILE]) is not None


def test_a_file_listed_in_the_manifest_but_missing_is_named(artifacts: Path) -> None:
    write_set(artifacts, "ok")
    (artifacts / schema.METRICS_FILE).unlink()
    with pytest.raises(ArtifactError, match=rf"missing artifact .*{schema.METRICS_FILE}"):
        verify_artifact_set(artifacts)


def test_an_unreadable_manifest_is_an_artifact_error(tmp_path: Path) -> None:
    (tmp_path / schema.MANIFEST_FILE).write_text("{not json")
    with pytest.raises(ArtifactError, match="manifest.json is unreadable"):
        read_manifest(tmp_path)
    assert read_manifest(tmp_path / "elsewhere") is None


def test_a_broken_parquet_file_stops_the_writer_naming_it(artifacts: Path) -> None:
    first = write_set(artifacts, "good")
    with pytest.raises(ArtifactError, match=rf"{schema.SIMILAR_FILE}: not a readable parquet file"), \
            ArtifactSetWriter(artifacts) as folder:
        (folder / schema.SIMILAR_FILE).write_bytes(b"not parquet")
    assert not folder.exists()
    assert current_set(artifacts) == first.resolve()
