"""Reasons of recommended tracks, worked out from the tiny artifact set (tests/artifact_factory.py).

User 1's offline list is 10, 11, 12, 13; similar: 10 -> 11 (0.9), 12 (0.5), 40 (0.25);
40 -> 41 (1.0), 10 (0.125). Items are named "Track <id>"; 10 is by Artist A, 40 by Artist E.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from musicrec import schema
from musicrec.artifacts import ArtifactSetWriter
from musicrec.errors import ArtifactError
from musicrec.manifest import build_manifest, read_manifest, write_manifest
from musicrec.replay.inprocess import InMemoryListens, InMemorySimilar
from musicrec.serving.artifact_reading import load_recommendations, load_similar, load_top_popular
from musicrec.serving.blending import AlternateBlend
from musicrec.serving.catalog import load_catalog
from musicrec.serving.content import SimilarIndex
from musicrec.serving.reasons import (
    Explainer,
    OfflineSources,
    Reason,
    closest_listens,
    load_offline_sources,
)
from musicrec.serving.recommender import Answer, Recommender
from musicrec.serving.set_indexes import open_set_indexes
from tests.artifact_factory import write_artifact_set
from tests.serving.test_recommender import _recommender
from tests.serving.test_set_indexes import RECOMMENDATIONS_SERVICE, _is_mapped

OFFLINE = Reason("offline", "in your personal list, made offline from your listening history")
POPULAR = Reason("popular", "one of the most played tracks")
FALLBACK = Reason("popular", "one of the most played tracks (there is no personal list for this listener yet)")
AFTER_40 = Reason("online", "similar to 'Track 40' by Artist E, which you just played", because_of=40)
AFTER_10 = Reason("online", "similar to 'Track 10' by Artist A, which you played recently", because_of=10)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_artifact_set(tmp_path_factory.mktemp("artifacts"))


def _reasons(folder: Path, answer: Answer, sources: OfflineSources | None = None) -> list[Reason]:
    sources = sources or load_offline_sources(folder, load_recommendations(folder))
    return Explainer(load_catalog(folder), sources).reasons(answer.recs, answer.origin, answer.used_default)


def test_online_tracks_name_the_listen_they_follow(folder: Path) -> None:
    answer = asyncio.run(_recommender(folder, [40, 10, 11]).online(1, 10))
    assert answer.recs == [41, 11, 12]
    assert _reasons(folder, answer) == [AFTER_40, AFTER_10, AFTER_10]


def test_blended_tracks_say_which_list_they_came_from(folder: Path) -> None:
    answer = asyncio.run(_recommender(folder, [40, 10, 11]).blended(1, 10))
    assert answer.recs == [10, 41, 11, 12, 13]
    # 11 is in both lists: the online part explains it, since that is what the latest listens changed
    assert _reasons(folder, answer) == [OFFLINE, AFTER_40, AFTER_10, AFTER_10, OFFLINE]


def test_without_listens_blended_is_offline_or_popular(folder: Path) -> None:
    recommender = _recommender(folder, [])
    assert _reasons(folder, asyncio.run(recommender.blended(1, 2))) == [OFFLINE, OFFLINE]
    assert _reasons(folder, asyncio.run(recommender.blended(3, 2))) == [FALLBACK, FALLBACK]


def test_default_and_offline_reasons(folder: Path) -> None:
    recommender = _recommender(folder, [])
    assert _reasons(folder, recommender.default(2)) == [POPULAR, POPULAR]
    assert _reasons(folder, asyncio.run(recommender.offline(2, 1))) == [OFFLINE]
    assert _reasons(folder, asyncio.run(recommender.offline(3, 1))) == [FALLBACK]


def test_closest_listen_keeps_the_newer_one_on_ties() -> None:
    similar = [([7, 8], [0.5, 0.25]), ([8, 7, 9], [0.75, 0.5, 0.1])]
    assert closest_listens([100, 200], similar) == {7: 100, 8: 200, 9: 200}


def test_unnamed_listen_is_named_by_id(folder: Path, tmp_path: Path) -> None:
    write_artifact_set(tmp_path, with_items=False)
    answer = Answer([41], origin=asyncio.run(_recommender(folder, [40]).online(1, 1)).origin)
    assert _reasons(tmp_path, answer) == [
        Reason("online", "similar to track 40, which you just played", because_of=40)]


def _with_sources(folder: Path, sources: list[str | None]) -> Path:
    """The tiny set with a `source` column in recommendations.parquet, two rows per row group."""
    path = folder / schema.RECOMMENDATIONS_FILE
    table = pq.read_table(path)
    pq.write_table(table.append_column(schema.SOURCE, pa.array(sources, pa.string())), path, row_group_size=2)
    return folder


# rows: user 1: 10, 11, 12, 13; user 2: 20, 10, 21; user 5: 30, 31
SOURCES = ["als", "ease", None, "als", "itemknn", "x", "als", "artist", "als"]


def test_offline_reason_names_the_candidate_source(tmp_path: Path) -> None:
    folder = _with_sources(write_artifact_set(tmp_path), SOURCES)
    sources = load_offline_sources(folder, load_recommendations(folder))
    assert sources.of(1) == {10: "als", 11: "ease", 13: "als"}
    assert sources.of(2) == {20: "itemknn", 10: "x", 21: "als"}
    assert sources.of(3) == {}
    recommender = _recommender(folder, [])
    assert _reasons(folder, asyncio.run(recommender.offline(1, 3))) == [
        Reason("offline", OFFLINE.text + "; proposed by ALS (listeners with a taste like yours)", proposed_by="als"),
        Reason("offline", OFFLINE.text + "; proposed by EASE (tracks that go together)", proposed_by="ease"),
        OFFLINE,
    ]
    assert _reasons(folder, asyncio.run(recommender.offline(2, 2)))[1] == Reason(
        "offline", OFFLINE.text + "; proposed by x", proposed_by="x")


def _published_with_sources(tmp_path: Path) -> Path:
    artifacts = tmp_path / "artifacts"
    with ArtifactSetWriter(artifacts) as folder:
        _with_sources(write_artifact_set(folder), SOURCES)
    return artifacts.resolve()


@pytest.mark.parametrize("make_set", [_published_with_sources,
                                      lambda tmp_path: _with_sources(write_artifact_set(tmp_path), SOURCES)],
                         ids=["published", "course folder"])
def test_mapped_sources_give_the_reasons_of_the_parquet_column(tmp_path: Path, make_set) -> None:
    folder = make_set(tmp_path)
    indexes = open_set_indexes(folder, **RECOMMENDATIONS_SERVICE)
    assert indexes.mapped
    mapped = indexes.offline_sources(indexes.recommendations())
    decoded = load_offline_sources(folder, load_recommendations(folder))
    assert mapped.codes is not None and mapped.codes.dtype == np.int8 and _is_mapped(mapped.codes)
    assert decoded.codes is not None
    assert mapped.codes.tolist() == decoded.codes.tolist() and mapped.names == decoded.names
    recommender = _recommender(folder, [])
    for user in (1, 2, 3, 5):
        answer = asyncio.run(recommender.offline(user, 4))
        assert _reasons(folder, answer, mapped) == _reasons(folder, answer, decoded)
    assert _reasons(folder, asyncio.run(recommender.offline(1, 1)), mapped)[0].proposed_by == "als"


def test_sources_are_optional(folder: Path) -> None:
    assert load_offline_sources(folder, load_recommendations(folder)).of(1) == {}
    indexes = open_set_indexes(folder, **RECOMMENDATIONS_SERVICE)
    assert indexes.offline_sources(indexes.recommendations()).codes is None
    assert indexes.root is not None
    serving = indexes.root / schema.SERVING_INDEX_FOLDER / "recommendations"
    assert not list(serving.glob("sources.*"))  # nothing new is written without the column


def test_mapped_sources_must_fit_the_recommendations(tmp_path: Path) -> None:
    folder = _published_with_sources(tmp_path)
    codes = folder / schema.SERVING_INDEX_FOLDER / "recommendations" / "sources.npy"
    np.save(codes, np.zeros(3, np.int8))
    with pytest.raises(ArtifactError, match="sources.npy: 131 bytes, manifest says 137"):
        open_set_indexes(folder, **RECOMMENDATIONS_SERVICE)  # listed in the manifest like the lists
    manifest = read_manifest(folder)
    assert manifest is not None
    write_manifest(folder, {**manifest, "files": build_manifest(folder)["files"]})
    indexes = open_set_indexes(folder, **RECOMMENDATIONS_SERVICE)
    with pytest.raises(ArtifactError, match="sources.npy: int8 \\(3,\\) sources do not fit 9 recommendations"):
        indexes.offline_sources(indexes.recommendations())


def test_sources_must_cover_every_row(tmp_path: Path) -> None:
    folder = _with_sources(write_artifact_set(tmp_path), ["als"] * 9)
    fewer = load_recommendations(write_artifact_set(tmp_path / "other"))
    object.__setattr__(fewer, "items", fewer.items[:5])
    with pytest.raises(ArtifactError, match="column source has 9 rows for 5 items"):
        load_offline_sources(folder, fewer)


def test_tracks_after_a_new_release_say_what_they_share_with_it(folder: Path) -> None:
    catalog = load_catalog(folder)
    listens = InMemoryListens(20)
    listens.put(1, 41)  # 41 has no learned list: its similar tracks come by content
    recommender = Recommender(
        personal=load_recommendations(folder), popular=load_top_popular(folder), listens=listens,
        similar=InMemorySimilar(SimilarIndex.of(load_similar(folder), catalog, 100)), blend=AlternateBlend(),
        online_history=1, similar_per_listen=10)
    answer = asyncio.run(recommender.online(1, 10))
    assert answer.recs == [40, 10, 11, 20]
    reasons = _reasons(folder, answer)
    assert reasons[0] == Reason("online", "by Artist E, whose new release 'Track 41' you just played", because_of=41)
    assert reasons[1] == Reason("online", "pop, like 'Track 41', the new release you just played", because_of=41)
