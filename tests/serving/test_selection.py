"""From a ranking to an answer: exclusions, filters, skips, the cap per artist, pages (musicrec.serving.selection).

The catalogue here has eight tracks:

    track   1    2     3    4    5     6     7       8
    artist  A    A     B    A    C     B     (none)  A
    genre   pop  rock  pop  pop  jazz  rock  pop     jazz

and top popular is 5, 1, 3.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from musicrec.serving.catalog import TrackCatalog
from musicrec.serving.facets import NO_CODE, TrackFacets
from musicrec.serving.history import History
from musicrec.serving.selection import ListOptions, Selector, cap_for, capped

ARTISTS = {1: ["A"], 2: ["A"], 3: ["B"], 4: ["A"], 5: ["C"], 6: ["B"], 7: [], 8: ["A", "C"]}
GENRES = {1: ["pop"], 2: ["rock"], 3: ["pop"], 4: ["pop"], 5: ["jazz"], 6: ["rock"], 7: ["pop"], 8: ["jazz"]}


def _catalog() -> TrackCatalog:
    ids = sorted(ARTISTS)
    return TrackCatalog(np.array(ids, dtype=np.int32), pa.array([f"Track {item}" for item in ids]),
                   pa.array([ARTISTS[item] for item in ids], pa.list_(pa.string())),
                   pa.array([GENRES[item] for item in ids], pa.list_(pa.string())))


@pytest.fixture(scope="module")
def selector() -> Selector:
    return Selector(TrackFacets.of(_catalog()), np.array([5, 1, 3], dtype=np.int32))


def test_facets_find_rows_codes_and_tracks() -> None:
    facets = TrackFacets.of(_catalog())
    assert facets.rows(np.array([8, 1, 99, -5, 2**40])).tolist() == [7, 0, -1, -1, -1]
    a, c = facets.artists.code_set(["a"]).tolist()[0], facets.artists.code_set(["C"]).tolist()[0]
    assert facets.artists.code_set(["a", "nobody"]).tolist() == [a]
    assert facets.main_artists(np.array([8, 5, 7, 99])).tolist() == [a, c, NO_CODE, NO_CODE]
    rows = facets.rows(np.array([5, 8, 1, 7, 99]))
    assert facets.artists.has_any(rows, np.array([c])).tolist() == [True, True, False, False, False]
    jazz_rock = facets.genres.code_set(["jazz", "ROCK"])
    assert facets.item_ids[facets.genres.rows_of(jazz_rock)].tolist() == [2, 5, 6, 8]


def test_facets_of_an_empty_catalogue_know_nothing() -> None:
    facets = TrackFacets.of(TrackCatalog.empty())
    assert facets.rows(np.array([1])).tolist() == [-1]
    assert facets.genres.code_set(["pop"]).tolist() == []


def test_without_options_the_first_k_of_the_pool(selector: Selector) -> None:
    assert selector.select([1, 2, 3], 2) == [1, 2]
    assert selector.select([1, 2, 3], 5) == [1, 2, 3]  # no longer than the pool: no tail
    assert selector.select(np.array([4, 2], dtype=np.int32), 1) == [4]


def test_excluded_tracks_are_replaced_from_deeper_then_from_the_tail(selector: Selector) -> None:
    assert selector.select([1, 2, 3, 4], 2, ListOptions(exclude=frozenset({2}))) == [1, 3]
    # as long as the pool: the tail (popular 5, 1, 3, then the catalogue by id) makes up for 2
    assert selector.select([1, 2, 3], 3, ListOptions(exclude=frozenset({2}))) == [1, 3, 5]
    assert selector.select([1, 2, 3], 3, ListOptions(exclude=frozenset({2})), tail=False) == [1, 3]
    assert selector.select([5, 1, 3], 3, ListOptions(exclude=frozenset({5, 1, 3}))) == [2, 4, 6]


def test_disliked_and_removed_tracks_go_as_excluded_ones_do(selector: Selector) -> None:
    disliked = History([9], ["dislike"], frozenset({1}))
    assert selector.select([1, 2, 3], 2, history=disliked, removed=[3]) == [2, 5]


def test_skipped_tracks_follow_the_rest_of_the_pool(selector: Selector) -> None:
    skipped = History([1, 4], ["skip", "listen"])
    assert selector.select([1, 2, 3], 3, history=skipped) == [2, 3, 1]
    assert selector.select([1, 2, 3], 2, history=skipped) == [2, 3]


def test_filters_keep_matching_tracks_and_fill_to_k_from_the_catalogue(selector: Selector) -> None:
    pop = ListOptions(genres=("POP",))
    # 1, 3 from the pool; popular adds nothing new that is pop; the catalogue's pop tracks 4, 7 follow
    assert selector.select([1, 2, 3], 10, pop) == [1, 3, 4, 7]
    assert selector.select([2, 6], 2, ListOptions(genres=("pop", "jazz"))) == [5, 1]
    assert selector.select([2, 3], 5, ListOptions(genres=("jazz",), artists=("a",))) == [8]
    assert selector.select([1, 2], 3, ListOptions(artists=("a",)), tail=False) == [1, 2]
    assert selector.select([1, 2, 3], 3, ListOptions(genres=("polka",))) == []


def test_offset_pages_through_one_ranking(selector: Selector) -> None:
    pool = [8, 7, 6, 5, 4, 3, 2, 1]
    pages = [selector.select(pool, 3, ListOptions(offset=offset)) for offset in (0, 3, 6, 9)]
    assert pages == [[8, 7, 6], [5, 4, 3], [2, 1], []]
    excluded = frozenset({7})
    assert [selector.select(pool, 3, ListOptions(offset=offset, exclude=excluded)) for offset in (0, 3, 6)] == [
        [8, 6, 5], [4, 3, 2], [1]]  # then the tail would only repeat the pool: no more


def test_the_cap_moves_an_artists_extra_tracks_to_the_next_page(selector: Selector) -> None:
    pool = [1, 2, 4, 8, 3, 5, 6, 7]  # A A A A B C B -
    two_per_four = ListOptions(max_per_artist=5)  # 5 per 10 tracks: 2 in a page of 4
    assert selector.select(pool, 4, two_per_four, tail=False) == [1, 2, 3, 5]
    assert selector.select(pool, 4, ListOptions(offset=4, max_per_artist=5), tail=False) == [4, 8, 6, 7]
    assert selector.select(pool, 4, tail=False) == [1, 2, 4, 8]  # no cap unless the route has one
    assert selector.select(pool, 4, cap=5, tail=False) == [1, 2, 3, 5]  # the route's cap
    assert selector.select(pool, 4, ListOptions(max_per_artist=0), cap=5, tail=False) == [1, 2, 4, 8]
    assert selector.select(pool, 4, ListOptions(artists=("A",)), cap=5, tail=False) == [1, 2, 4, 8]


def test_capped_lists_end_when_only_capped_tracks_are_left() -> None:
    assert capped([(1, 0), (2, 0), (4, 0)], k=3, per_window=1, length=3) == [1]
    assert capped([(1, 0), (2, 0), (3, 1), (4, NO_CODE)], k=2, per_window=1, length=4) == [1, 3, 2, 4]
    assert capped([(1, NO_CODE), (2, NO_CODE)], k=2, per_window=1, length=2) == [1, 2]


@pytest.mark.parametrize(("per_ten", "k", "allowed"),
                         [(2, 10, 2), (2, 5, 1), (2, 1, 1), (2, 20, 4), (2, 11, 3), (0, 10, None), (10, 3, 3)])
def test_the_cap_scales_with_k(per_ten: int, k: int, allowed: int | None) -> None:
    assert cap_for(per_ten, k) == allowed
