"""Similar tracks by content for new tracks (musicrec.serving.content), on a hand-made catalogue:

    track    1    2    3     4     5    9 (new)  8 (new)
    artists  A    A    B     A, B  C    A        D
    album    X    Y    X     Z     W    X        V
    genre    pop  pop  rock  pop   pop  pop      jazz

Learned lists: 1 -> 2, 3; 2 -> 1, 4; 3 -> 4; 4 -> 2; 5 -> 2, so 2 is listed three times, 4 twice,
1 and 3 once: that is their popularity.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from musicrec.serving.catalog import TrackCatalog
from musicrec.serving.content import ContentSimilar, SimilarIndex
from musicrec.serving.indexes import RankedLists

TRACKS = {1: (["A"], ["X"], ["pop"]), 2: (["A"], ["Y"], ["pop"]), 3: (["B"], ["X"], ["rock"]),
          4: (["A", "B"], ["Z"], ["pop"]), 5: (["C"], ["W"], ["pop"]), 8: (["D"], ["V"], ["jazz"]),
          9: (["A"], ["X"], ["pop"])}
LEARNED = {1: [2, 3], 2: [1, 4], 3: [4], 4: [2], 5: [2]}


def _catalog(with_albums: bool = True) -> TrackCatalog:
    ids = sorted(TRACKS)
    strings = pa.list_(pa.string())
    return TrackCatalog(np.array(ids, dtype=np.int32), pa.array([f"Track {item}" for item in ids]),
                   pa.array([TRACKS[item][0] for item in ids], strings),
                   pa.array([TRACKS[item][2] for item in ids], strings),
                   pa.array([TRACKS[item][1] for item in ids], strings) if with_albums else None)


def _learned() -> RankedLists:
    keys = sorted(LEARNED)
    items = [item for key in keys for item in LEARNED[key]]
    offsets = np.concatenate(([0], np.cumsum([len(LEARNED[key]) for key in keys])))
    return RankedLists(np.array(keys, dtype=np.int32), offsets.astype(np.int64), np.array(items, dtype=np.int32),
                       np.linspace(0.9, 0.5, len(items)).astype(np.float32))


def test_a_new_track_gets_its_album_then_artists_then_genres_most_popular_first() -> None:
    content = ContentSimilar.of(_catalog(), _learned(), top=10)
    items, scores, relations = content.lookup(9, 10)
    assert items == [1, 3, 2, 4, 5]  # album X: 1, 3; artist A: 2 (3 lists), 4 (2), (1); genre pop: 5
    assert relations == ["album", "album", "artist", "artist", "genre"]
    assert scores == pytest.approx([0.5, 0.499, 0.4, 0.399, 0.2])
    assert content.lookup(9, 3)[0] == [1, 3, 2]
    assert content.lookup(8, 10) == ([], [], [])  # nothing learned shares anything with it
    assert content.lookup(1, 10) == ([], [], [])  # learned: not for content
    assert content.lookup(99, 10) == ([], [], [])  # not in the catalogue


def test_without_albums_artists_come_first() -> None:
    assert ContentSimilar.of(_catalog(with_albums=False), _learned(), top=10).lookup(9, 10)[0] == [2, 4, 1, 5]


def test_each_code_keeps_only_its_most_popular_tracks() -> None:
    assert ContentSimilar.of(_catalog(), _learned(), top=1).lookup(9, 10)[0] == [1, 2]


def test_the_index_answers_learned_lists_and_new_tracks_by_content() -> None:
    index = SimilarIndex.of(_learned(), _catalog(), 10)
    assert index.new_tracks == 2
    items, _, relations = index.lookup(1, 5)
    assert (items, relations) == ([2, 3], None)
    assert index.lookup(9, 2)[2] == ["album", "album"]
    assert SimilarIndex(_learned()).lookup(9, 5) == ([], [], None)  # no catalogue: as before
