"""The catalogue's structure: genres with a long tail, artists in one or two genres, albums, ids."""

from __future__ import annotations

import numpy as np
import pytest

from musicrec.datasets.catalog import LISTENING_DAYS, NO_GENRE, SyntheticCatalog, build_catalog
from musicrec.datasets.listening import ListeningModel
from musicrec.datasets.scales import get_scale


@pytest.fixture(scope="module")
def catalog() -> SyntheticCatalog:
    return build_catalog(get_scale("tiny"), np.random.default_rng(11))


def test_every_track_belongs_to_one_album_of_its_artist(catalog: SyntheticCatalog) -> None:
    assert catalog.n_tracks == get_scale("tiny").tracks
    assert np.array_equal(catalog.album_artist[catalog.track_album], catalog.track_artist)
    assert np.bincount(catalog.track_album).min() >= 1


def test_artists_have_one_or_two_distinct_genres(catalog: SyntheticCatalog) -> None:
    first, second = catalog.artist_genres.T

    assert (first != NO_GENRE).all()
    assert 0.1 < (second != NO_GENRE).mean() < 0.5
    assert not (first == second).any()


def test_a_few_genres_dominate_a_long_tail(catalog: SyntheticCatalog) -> None:
    per_genre = np.bincount(catalog.artist_genres[:, 0], minlength=catalog.n_genres)

    assert catalog.n_genres == get_scale("tiny").genres
    assert np.sort(per_genre)[-3:].sum() > 0.2 * per_genre.sum()


def test_ids_are_distinct_and_sparse(catalog: SyntheticCatalog) -> None:
    for ids in (catalog.track_ids, catalog.album_ids, catalog.artist_ids, catalog.genre_ids):
        assert np.unique(ids).size == ids.size and ids.min() > 0
    assert catalog.track_ids.max() > 50_000_000


def test_some_tracks_are_released_during_the_year_and_ids_grow_with_release(catalog: SyntheticCatalog) -> None:
    new = catalog.track_release_day >= 0

    assert 0.05 < new.mean() < 0.3 and catalog.track_release_day.max() < LISTENING_DAYS
    assert catalog.track_ids[new].min() > np.median(catalog.track_ids[~new])


def test_nobody_hears_a_track_before_its_release(catalog: SyntheticCatalog) -> None:
    listens = ListeningModel(catalog, get_scale("tiny")).chunk(500, np.random.default_rng(3))
    released = catalog.track_release_day[listens.track]

    assert (released <= listens.day).all()
    assert (released[listens.day > 200] >= 0).any()  # new releases do get played
