"""Serving indexes mapped from files answer exactly as the parquet files do, and a folder of course
files is converted once into a cache beside it."""

from __future__ import annotations

import logging
import mmap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from musicrec import schema
from musicrec.artifacts import SERVING_CACHE, ArtifactSetWriter, prune_sets
from musicrec.errors import ArtifactError
from musicrec.manifest import build_manifest, write_manifest
from musicrec.serving.artifact_reading import load_recommendations, load_similar, load_top_popular
from musicrec.serving.catalog import load_catalog
from musicrec.serving.search import build_search
from musicrec.serving.set_indexes import SetIndexes, cache_folder, open_set_indexes
from tests.artifact_factory import write_artifact_set, write_similar

RECOMMENDATIONS_SERVICE = {"required": [schema.RECOMMENDATIONS_FILE, schema.TOP_POPULAR_FILE],
                           "optional": [schema.ITEMS_FILE]}


def _is_mapped(array: np.ndarray) -> bool:
    """True when the array's memory is a file mapping, not the process's own."""
    base: Any = array  # an array, then what its memory belongs to
    while getattr(base, "base", None) is not None and not isinstance(base, mmap.mmap):
        base = base.base
    return isinstance(base, mmap.mmap)


def _published(tmp_path: Path) -> Path:
    """The tiny set published the way the pipeline does it (serving indexes and manifest)."""
    artifacts = tmp_path / "data" / "artifacts"
    with ArtifactSetWriter(artifacts) as folder:
        write_artifact_set(folder)
    return artifacts.resolve()


def _same_lists(mapped, decoded) -> None:
    for key in [*decoded.keys.tolist(), 3, 99, -1]:
        for k in (1, 2, 10):
            got, want = mapped.lookup(key, k), decoded.lookup(key, k)
            assert got[0].tolist() == want[0].tolist() and got[1].tolist() == want[1].tolist()


def test_a_published_set_is_mapped_and_answers_as_its_parquet(tmp_path: Path) -> None:
    folder = _published(tmp_path)
    indexes = open_set_indexes(folder, **RECOMMENDATIONS_SERVICE)
    assert indexes.root == folder and not (folder.parent / SERVING_CACHE).exists()
    personal, similar = indexes.recommendations(), indexes.similar()
    assert all(_is_mapped(array) for array in (personal.keys, personal.items, personal.scores, similar.items))
    assert personal.rows_by_key is not None and _is_mapped(personal.rows_by_key)
    _same_lists(personal, load_recommendations(folder))
    _same_lists(similar, load_similar(folder))
    assert indexes.top_popular().tolist() == load_top_popular(folder).tolist()
    ids = [10, 11, 21, 99]
    assert indexes.catalog().details(ids) == load_catalog(folder).details(ids)
    search = indexes.search(indexes.catalog(), indexes.top_popular())
    built = build_search(load_catalog(folder), load_top_popular(folder))
    assert isinstance(search.text, mmap.mmap) and _is_mapped(search.starts) and _is_mapped(search.postings)
    for query in ("track", "track 1", "artist e", "nothing like it"):
        assert search.find(query, 5) == built.find(query, 5)
    indexes.verify_checksums()


def test_a_course_folder_is_converted_once_into_a_cache_beside_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = write_artifact_set(tmp_path / "course")
    caplog.set_level(logging.INFO)
    first = open_set_indexes(folder, **RECOMMENDATIONS_SERVICE)
    assert first.root == cache_folder(folder) and first.root.parent == tmp_path / SERVING_CACHE
    assert "converting it once" in caplog.text
    assert sorted(path.name for path in folder.iterdir()) == sorted(  # the user's folder is untouched
        [schema.RECOMMENDATIONS_FILE, schema.SIMILAR_FILE, schema.TOP_POPULAR_FILE, schema.ITEMS_FILE])
    caplog.clear()
    again = open_set_indexes(folder, required=[schema.SIMILAR_FILE])  # the other service reuses it
    assert again.root == first.root and "converting" not in caplog.text
    _same_lists(again.similar(), load_similar(folder))

    write_similar(folder, row_group_size=2)  # the files changed: a new conversion
    assert open_set_indexes(folder, required=[schema.SIMILAR_FILE]).root != first.root


def test_an_unwritable_place_falls_back_to_decoding_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = write_artifact_set(tmp_path / "course")
    (tmp_path / SERVING_CACHE).write_text("a file where the cache folder would go")
    indexes = open_set_indexes(folder, **RECOMMENDATIONS_SERVICE)
    assert indexes.root is None and "decoding the parquet files into private memory" in caplog.text
    _same_lists(indexes.recommendations(), load_recommendations(folder))
    assert indexes.catalog().details([10])[0].name == "Track 10"


def test_a_corrupt_course_file_is_refused_before_conversion(tmp_path: Path) -> None:
    folder = write_artifact_set(tmp_path / "course")
    write_manifest(folder, build_manifest(folder))
    write_similar(folder, row_group_size=2)  # same rows, other bytes than the manifest says
    with pytest.raises(ArtifactError, match=r"corrupt artifact .*similar\.parquet"):
        open_set_indexes(folder, required=[schema.SIMILAR_FILE])


def test_a_truncated_mapped_file_is_refused_by_name(tmp_path: Path) -> None:
    folder = _published(tmp_path)
    items = folder / schema.SERVING_INDEX_FOLDER / "recommendations" / "items.npy"
    items.write_bytes(items.read_bytes()[:-4])
    with pytest.raises(ArtifactError, match=r"corrupt artifact .*recommendations/items\.npy: .* bytes"):
        open_set_indexes(folder, **RECOMMENDATIONS_SERVICE)


def test_a_changed_mapped_file_fails_the_checksums_by_name(tmp_path: Path) -> None:
    folder = _published(tmp_path)
    scores = folder / schema.SERVING_INDEX_FOLDER / "similar" / "scores.npy"
    content = bytearray(scores.read_bytes())
    content[-1] ^= 0xFF  # same size: only the checksum can tell
    scores.write_bytes(bytes(content))
    indexes: SetIndexes = open_set_indexes(folder, required=[schema.SIMILAR_FILE])
    assert indexes.checked_files() == sorted(f"serving/similar/{name}.npy"
                                             for name in ("keys", "offsets", "items", "scores"))
    with pytest.raises(ArtifactError, match=r"corrupt artifact .*similar/scores\.npy: sha256"):
        indexes.verify_checksums()


def test_pruning_a_set_removes_its_cached_indexes(tmp_path: Path) -> None:
    artifacts = tmp_path / "data" / "artifacts"
    sets = []
    for _ in range(3):
        with ArtifactSetWriter(artifacts, keep=5) as folder:
            write_artifact_set(folder)
        (folder / schema.SERVING_INDEX_FOLDER / "format.json").unlink()  # as if made before serving/
        sets.append(folder)
    cached = [open_set_indexes(folder, required=[schema.SIMILAR_FILE]).root for folder in sets]
    assert all(root is not None and root.is_dir() for root in cached)
    prune_sets(artifacts, keep=1)
    assert [root.is_dir() for root in cached if root] == [False, False, True]
