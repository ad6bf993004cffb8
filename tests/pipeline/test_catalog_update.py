"""A small catalogue update (`python -m musicrec catalog --add`) on the tiny set of tests/artifact_factory.py:
tracks 10, 11, 12, 20, 21, 30, 40, 41 ("Track <id>", album "Album <id>", genre pop; 40 and 41 by
Artist E), learned similar lists for 10, 11, 20 and 40."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from musicrec import schema
from musicrec.api.features_app import create_app
from musicrec.errors import RawDataError
from musicrec.manifest import read_manifest
from musicrec.pipeline.catalog_update import add_tracks
from musicrec.settings import load_settings
from tests.artifact_factory import TOP_POPULAR, publish_artifact_set

ALBUM_40, ARTIST_E, POP = 400, 500, 600


def _update(folder: Path, tracks: dict[int, tuple[int, int, int]], names: list[tuple[int, str, str]]) -> Path:
    """An update folder in the course's format: track -> (album, artist, genre) ids, and names."""
    folder.mkdir(parents=True)
    ids = sorted(tracks)
    pq.write_table(pa.table({
        schema.TRACK_ID: pa.array(ids, pa.int64()),
        schema.ALBUMS: [[tracks[track][0]] for track in ids],
        schema.ARTISTS: [[tracks[track][1]] for track in ids],
        schema.GENRES: [[tracks[track][2]] for track in ids],
    }), folder / schema.TRACKS_FILE)
    pq.write_table(pa.table({schema.ID: pa.array([row[0] for row in names], pa.int64()),
                             schema.TYPE: pa.array([row[1] for row in names], pa.string()),
                             schema.NAME: pa.array([row[2] for row in names], pa.string())}),
                   folder / schema.CATALOG_NAMES_FILE)
    return folder


def _items(artifacts: Path) -> dict[int, dict]:
    return {row[schema.ITEM_ID]: row for row in pq.read_table(artifacts / schema.ITEMS_FILE).to_pylist()}


@pytest.fixture()
def artifacts(tmp_path: Path) -> Path:
    path = tmp_path / "artifacts"
    publish_artifact_set(path, TOP_POPULAR)
    return path


def test_a_new_release_joins_the_set_and_gets_similar_tracks_by_content(artifacts: Path, tmp_path: Path) -> None:
    before = artifacts.resolve()
    names = [(50, "track", "New Song"), (ALBUM_40, "album", "Album 40"), (ARTIST_E, "artist", "Artist E"),
             (POP, "genre", "pop")]
    update = add_tracks(artifacts, _update(tmp_path / "update", {50: (ALBUM_40, ARTIST_E, POP), 10: (1, 2, 3)},
                                           names))
    assert (update.added, update.already_known) == ([50], 1)
    assert artifacts.resolve().name == update.set_name != before.name
    items = _items(artifacts)
    assert list(items) == [10, 11, 12, 20, 21, 30, 40, 41, 50]  # in id order
    assert items[50] == {schema.ITEM_ID: 50, schema.NAME: "New Song", schema.ARTISTS: ["Artist E"],
                         schema.ALBUMS: ["Album 40"], schema.GENRES: ["pop"]}
    assert items[10] == _items(before)[10]  # known tracks are left as they were
    assert (artifacts / schema.SIMILAR_FILE).stat().st_ino == (before / schema.SIMILAR_FILE).stat().st_ino
    manifest = read_manifest(artifacts.resolve())
    assert manifest is not None
    assert manifest["parameters"]["catalog_update"] == {"from_set": before.name, "tracks_added": 1}

    settings = load_settings(environ={"MUSICREC_PATHS__ARTIFACTS": str(artifacts)})
    with TestClient(create_app(settings)) as client:
        answer = client.get("/similar_items", params={"item_id": 50, "k": 3}).json()
    # learned tracks (those with a list: 10, 11, 20, 40) of its album first, then of its genre by
    # popularity (how many lists name them: 10 twice, 11 once); Artist E's other track 41 has no list
    assert (answer["item_id_2"], answer["relations"]) == ([40, 10, 11], ["album", "genre", "genre"])


def test_names_the_update_lacks_come_from_the_raw_files(artifacts: Path, tmp_path: Path) -> None:
    raw = _update(tmp_path / "raw", {40: (ALBUM_40, ARTIST_E, POP)}, [(ARTIST_E, "artist", "Artist E"),
                                                                      (POP, "genre", "pop")])
    update = _update(tmp_path / "update", {51: (ALBUM_40, ARTIST_E, POP)}, [(51, "track", "Another")])
    assert add_tracks(artifacts, update, names_dir=raw).added == [51]
    assert _items(artifacts)[51][schema.ARTISTS] == ["Artist E"]
    assert _items(artifacts)[51][schema.GENRES] == ["pop"]
    assert _items(artifacts)[51][schema.ALBUMS] == []  # named nowhere: left out, as prepare does


def test_an_update_of_known_tracks_only_leaves_the_set_alone(artifacts: Path, tmp_path: Path) -> None:
    before = artifacts.resolve()
    update = add_tracks(artifacts, _update(tmp_path / "update", {10: (1, 2, 3)}, []))
    assert (update.added, update.already_known, update.set_name) == ([], 1, None)
    assert artifacts.resolve() == before


def test_a_folder_without_the_course_files_is_refused_naming_them(artifacts: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(RawDataError, match="needs tracks.parquet and catalog_names.parquet"):
        add_tracks(artifacts, tmp_path / "empty")
