"""A synthetic music catalogue: genres, artists, albums and tracks with popularity and release days.

Shaped like the real one: a long tail of genres where a few dominate, artists in one or two genres,
albums per artist, tracks per album, sparse ids (tracks up to ~1e8), heavy-tailed popularity, and
some albums released during the listening year (a track cannot be heard before its release day).
Everything is numpy arrays indexed by dense numbers; raw ids appear only when tables are written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from musicrec.datasets.scales import Scale

LISTENING_DAYS = 365  # day 0 is synthetic.FIRST_DAY (2022-01-01); negative days are before it
NO_GENRE = -1
GENRE_ZIPF_EXPONENT = 1.1  # share of genre of rank r ~ 1 / (r + 2) ** exponent
SECOND_GENRE_SHARE = 0.3
MEAN_TRACKS_PER_ARTIST = 8.0
RELEASED_DURING_YEAR = 0.12  # share of albums released inside the listening year
NEW_RELEASE_BOOST = 3.0  # new albums are played more: recent popularity differs from overall
ARTIST_POPULARITY_SIGMA = 1.5
ARTIST_SIZE_EXPONENT = 1.0
NEVER_PLAYED_SHARE = 0.03
HIT_QUANTILE = 0.995  # track weights above this quantile grow only with the power below
HIT_EXPONENT = 0.25


@dataclass(frozen=True)
class SyntheticCatalog:
    """Dense arrays describing every genre, artist, album and track."""

    genre_ids: np.ndarray  # int64 [genres]
    genre_weight: np.ndarray  # float64 [genres], sums to 1
    artist_ids: np.ndarray  # int64 [artists]
    artist_genres: np.ndarray  # int32 [artists, 2], NO_GENRE where an artist has one genre
    album_ids: np.ndarray  # int64 [albums]
    album_artist: np.ndarray  # int32 [albums]
    track_ids: np.ndarray  # int64 [tracks]
    track_artist: np.ndarray  # int32 [tracks]
    track_album: np.ndarray  # int32 [tracks]
    track_release_day: np.ndarray  # int32 [tracks], days since the first listening day
    track_weight: np.ndarray  # float64 [tracks], zero for tracks nobody plays

    @property
    def n_genres(self) -> int:
        return int(self.genre_ids.size)

    @property
    def n_artists(self) -> int:
        return int(self.artist_ids.size)

    @property
    def n_albums(self) -> int:
        return int(self.album_ids.size)

    @property
    def n_tracks(self) -> int:
        return int(self.track_ids.size)


def sparse_ids(rng: np.random.Generator, count: int, upper: float) -> np.ndarray:
    """`count` increasing distinct ids spread over 1..~upper, like real catalogue ids."""
    mean_gap = max(upper / max(count, 1), 1.0)
    gaps = rng.integers(1, int(2 * mean_gap) + 1, size=count)
    return np.cumsum(gaps).astype(np.int64)


def _genres(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    weight = 1.0 / (np.arange(count) + 2.0) ** GENRE_ZIPF_EXPONENT
    ids = np.sort(rng.choice(np.arange(1, 4 * count + 1), size=count, replace=False)).astype(np.int64)
    return ids, weight / weight.sum()


def _artist_sizes(rng: np.random.Generator, n_tracks: int) -> np.ndarray:
    """Tracks per artist (heavy-tailed, at least one), summing exactly to `n_tracks`."""
    guess = int(n_tracks / MEAN_TRACKS_PER_ARTIST * 1.5) + 10
    sizes = np.maximum(1, np.round(rng.lognormal(np.log(4.0), 1.1, guess))).astype(np.int64)
    ends = np.cumsum(sizes)
    n_artists = int(np.searchsorted(ends, n_tracks)) + 1
    sizes = sizes[:n_artists]
    sizes[-1] -= int(ends[n_artists - 1] - n_tracks)
    return sizes


def _artist_genres(rng: np.random.Generator, n_artists: int, genre_weight: np.ndarray) -> np.ndarray:
    first = rng.choice(genre_weight.size, size=n_artists, p=genre_weight)
    second = rng.choice(genre_weight.size, size=n_artists, p=genre_weight)
    has_second = (rng.random(n_artists) < SECOND_GENRE_SHARE) & (second != first)
    return np.stack([first, np.where(has_second, second, NO_GENRE)], axis=1).astype(np.int32)


def _albums(rng: np.random.Generator, track_artist: np.ndarray, artist_start: np.ndarray) -> np.ndarray:
    """Album number of each track: an artist's tracks are cut into albums of a per-artist size."""
    n_artists = artist_start.size
    album_size = np.where(rng.random(n_artists) < 0.2, 1, rng.integers(4, 15, n_artists))
    position = np.arange(track_artist.size) - artist_start[track_artist]
    local_album = position // album_size[track_artist]
    new_album = np.ones(track_artist.size, dtype=bool)
    new_album[1:] = (track_artist[1:] != track_artist[:-1]) | (local_album[1:] != local_album[:-1])
    return (np.cumsum(new_album) - 1).astype(np.int32)


def _album_release_days(rng: np.random.Generator, n_albums: int) -> np.ndarray:
    during_year = rng.random(n_albums) < RELEASED_DURING_YEAR
    before = -rng.integers(1, 20 * LISTENING_DAYS, n_albums)
    inside = rng.integers(0, LISTENING_DAYS, n_albums)
    return np.where(during_year, inside, before).astype(np.int32)


def _track_ids_by_release(rng: np.random.Generator, release_day: np.ndarray) -> np.ndarray:
    """Sparse ids that grow with release day, as real ids grow with time."""
    order = np.argsort(release_day + rng.random(release_day.size), kind="stable")
    ids = np.empty(release_day.size, dtype=np.int64)
    ids[order] = sparse_ids(rng, release_day.size, 1e8)
    return ids


def _bend_the_head(weight: np.ndarray) -> np.ndarray:
    """Compress weights above a high quantile (in log space), keeping their order.

    The biggest hits are heard by a few percent of users, not by a fifth of them as an untamed
    log-normal would have it; the long tail keeps its single-digit median.
    """
    knee = np.quantile(weight, HIT_QUANTILE)
    above = weight > knee
    bent = weight.copy()
    bent[above] = knee * (weight[above] / knee) ** HIT_EXPONENT
    return bent


def _lift_the_tail(weight: np.ndarray, quantile: float) -> np.ndarray:
    """Raise weights below a quantile to it, keeping the order above it.

    In a playlist data set every track is there because someone chose it, so its tail is tracks
    with one or two listens rather than tracks nobody plays; a listening log's tail goes lower.
    """
    return np.maximum(weight, np.quantile(weight, quantile))


def build_catalog(scale: Scale, rng: np.random.Generator) -> SyntheticCatalog:
    """Generate the whole catalogue for `scale` (a few seconds at full size)."""
    genre_ids, genre_weight = _genres(rng, scale.genres)
    sizes = _artist_sizes(rng, scale.tracks)
    n_artists = sizes.size
    artist_start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    track_artist = np.repeat(np.arange(n_artists, dtype=np.int32), sizes)
    track_album = _albums(rng, track_artist, artist_start)
    n_albums = int(track_album[-1]) + 1
    album_artist = np.zeros(n_albums, dtype=np.int32)
    album_artist[track_album] = track_artist
    album_release = _album_release_days(rng, n_albums)
    track_release = album_release[track_album]

    # Popular artists have more tracks, as in real catalogues (and their fans have more to hear).
    artist_weight = sizes**ARTIST_SIZE_EXPONENT * rng.lognormal(0.0, ARTIST_POPULARITY_SIGMA, n_artists)
    track_spread = rng.lognormal(0.0, scale.shape.track_popularity_sigma, scale.tracks)
    track_weight = artist_weight[track_artist] * track_spread
    track_weight *= np.where(track_release >= 0, NEW_RELEASE_BOOST, 1.0)
    track_weight = _bend_the_head(track_weight)
    track_weight = _lift_the_tail(track_weight, scale.shape.tail_floor_quantile)
    track_weight[rng.random(scale.tracks) < NEVER_PLAYED_SHARE] = 0.0
    return SyntheticCatalog(
        genre_ids=genre_ids,
        genre_weight=genre_weight,
        artist_ids=sparse_ids(rng, n_artists, 1e7),
        artist_genres=_artist_genres(rng, n_artists, genre_weight),
        album_ids=sparse_ids(rng, n_albums, 3e7),
        album_artist=album_artist,
        track_ids=_track_ids_by_release(rng, track_release),
        track_artist=track_artist,
        track_album=track_album,
        track_release_day=track_release,
        track_weight=track_weight,
    )
