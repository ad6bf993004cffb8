"""Users and their listening sessions, generated for a whole chunk of users with array operations.

Why sessions: in real logs consecutive listens stay with one artist, album or genre, which is what
lets a user's last listens predict the next ones (the online recommender depends on it). Each user
has heavy-tailed activity, a few favourite genres and artists, and a second taste that takes over
as the year goes on (drift). Listening is a sequence of sessions; a session has a day, an anchor
(a favourite artist or a popular artist of one of the user's genres) and a mode (play an album,
the artist, or the genre), and each listen of it draws a track from the anchor by popularity, with
an occasional jump to another of the user's genres; heavy listeners, who run out of hits, dig
deeper into each genre's less popular artists. A user hears each track at most once (later draws of
a heard track are discarded, as are draws before a track's release day), so each user draws more
listens than they keep (`Scale.draws_per_listen`). The shape sets the session length: from about eight
listens per session (course) to one and a half (playlists: mostly each listen picks its own anchor,
now and then the next one keeps it, so neighbours share an artist a little more than chance).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from musicrec.datasets.catalog import LISTENING_DAYS, NO_GENRE, SyntheticCatalog
from musicrec.datasets.packed import first_occurrences
from musicrec.datasets.sampling import NO_MEMBER, GroupedSampler
from musicrec.datasets.scales import Scale

MAX_DRAWS_PER_USER = 30_000  # track_seq is int16 in the course format
ACTIVITY_SIGMA = 1.1  # log-normal spread of listens per user
ALREADY_ACTIVE_SHARE = 0.3  # users listening since the first day; the rest join during the year
JOIN_SKEW = 0.7  # below 1: more users join late in the year than early (growth)
MEAN_STAY_DAYS = 500.0
TASTE_SLOTS = 3
SECOND_TASTE_CHANGE = 0.5  # chance that a genre slot of the later taste differs from the early one
DRIFT = 0.8  # chance of the later taste at the end of a user's history (grows linearly from 0)
FAVOURITES_PER_TASTE = 4
FAVOURITE_SESSION_SHARE = 0.45
GENRE_JUMP_SHARE = 0.08
# Heavy listeners run out of popular tracks and dig into the tail: from DEEP_CUT_FROM draws on, a
# growing share of their genre picks uses artist weights flattened by DEEP_CUT_FLATTENING.
DEEP_CUT_FROM = 100.0
DEEP_CUT_SLOPE = 0.5
DEEP_CUT_MAX = 0.7
DEEP_CUT_FLATTENING = 0.6
ALBUM, ARTIST, GENRE = 0, 1, 2
MODE_SHARES = (0.2, 0.45, 0.35)


@dataclass(frozen=True)
class GeneratedListens:
    """One chunk of listens, sorted by user then time; `track` is a dense catalogue index."""

    user: np.ndarray  # int64 user number
    track: np.ndarray  # int64 track index into the catalogue
    day: np.ndarray  # int32 days since the first listening day
    seq: np.ndarray  # int32 1..n per user in time order


@dataclass(frozen=True)
class _Users:
    draws: np.ndarray  # listens drawn per user, before repeats and pre-release ones are discarded
    first_day: np.ndarray
    last_day: np.ndarray
    genres: np.ndarray  # [users, 2 tastes, TASTE_SLOTS] genre numbers
    slot_weight: np.ndarray  # [users, TASTE_SLOTS] cumulative weights of the slots
    favourites: np.ndarray  # [users, 2 tastes, FAVOURITES_PER_TASTE] artist numbers
    deep_share: np.ndarray  # chance that a genre pick goes beyond the popular artists


def _pick_slot(cumulative: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row-wise weighted choice of a column, given each row's cumulative weights."""
    chosen = (cumulative < rng.random((cumulative.shape[0], 1))).sum(axis=1)
    return chosen.clip(0, cumulative.shape[1] - 1)


class ListeningModel:
    """Draws listens for chunks of users from one catalogue; deterministic for a given rng."""

    def __init__(self, catalog: SyntheticCatalog, scale: Scale) -> None:
        self.catalog = catalog
        tracks = np.arange(catalog.n_tracks)
        weight = catalog.track_weight
        self.artist_tracks = GroupedSampler(catalog.track_artist, tracks, weight, catalog.n_artists)
        self.album_tracks = GroupedSampler(catalog.track_album, tracks, weight, catalog.n_albums)
        artist_total = np.bincount(catalog.track_artist, weights=weight, minlength=catalog.n_artists)
        genre_rows = catalog.artist_genres.ravel()
        artist_rows = np.repeat(np.arange(catalog.n_artists), 2)
        member = genre_rows != NO_GENRE
        self.genre_artists = GroupedSampler(
            genre_rows[member], artist_rows[member], artist_total[artist_rows[member]], catalog.n_genres
        )
        deep_weight = np.where(artist_total > 0, artist_total**DEEP_CUT_FLATTENING, 0.0)
        self.genre_deep_artists = GroupedSampler(
            genre_rows[member], artist_rows[member], deep_weight[artist_rows[member]], catalog.n_genres
        )
        self.draws_per_user = scale.listens_per_user * scale.draws_per_listen
        self.mean_session_length = scale.shape.mean_session_length

    def _users(self, count: int, rng: np.random.Generator) -> _Users:
        join_day = rng.random(count) ** JOIN_SKEW * (LISTENING_DAYS - 1)
        first_day = np.where(rng.random(count) < ALREADY_ACTIVE_SHARE, 0, join_day).astype(np.int32)
        stay = rng.exponential(MEAN_STAY_DAYS, count)
        last_day = np.minimum(LISTENING_DAYS - 1, first_day + stay).astype(np.int32)
        active_days = last_day - first_day + 1
        # Listens grow with the days a user is active, so months with more active users have more
        # listens; the daily rate is heavy-tailed and scaled so the chunk meets the wanted mean.
        daily_rate = rng.lognormal(0.0, ACTIVITY_SIGMA, count)
        daily_rate *= self.draws_per_user / (daily_rate * active_days).mean()
        draws = np.clip(np.round(daily_rate * active_days), 1, MAX_DRAWS_PER_USER).astype(np.int64)
        early = rng.choice(self.catalog.n_genres, size=(count, TASTE_SLOTS), p=self.catalog.genre_weight)
        other = rng.choice(self.catalog.n_genres, size=(count, TASTE_SLOTS), p=self.catalog.genre_weight)
        late = np.where(rng.random((count, TASTE_SLOTS)) < SECOND_TASTE_CHANGE, other, early)
        genres = np.stack([early, late], axis=1)
        slot_weight = np.cumsum(rng.dirichlet(np.full(TASTE_SLOTS, 0.6), size=count), axis=1)
        favourite_slots = np.stack(
            [_pick_slot(slot_weight, rng) for _ in range(2 * FAVOURITES_PER_TASTE)], axis=1
        ).reshape(count, 2, FAVOURITES_PER_TASTE)
        favourite_genres = np.take_along_axis(genres, favourite_slots, axis=2)
        favourites = self.genre_artists.sample(favourite_genres.ravel(), rng).reshape(favourite_genres.shape)
        return _Users(
            draws=draws,
            first_day=first_day,
            last_day=last_day,
            genres=genres,
            slot_weight=slot_weight,
            favourites=favourites,
            deep_share=np.clip(DEEP_CUT_SLOPE * np.log10(draws / DEEP_CUT_FROM), 0.0, DEEP_CUT_MAX),
        )

    def _session_anchors(
        self, users: _Users, session_user: np.ndarray, progress: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Taste (0 early / 1 late), genre and anchor artist of each session."""
        taste = (rng.random(session_user.size) < progress * DRIFT).astype(np.int64)
        slot = _pick_slot(users.slot_weight[session_user], rng)
        genre = users.genres[session_user, taste, slot]
        which = rng.integers(0, FAVOURITES_PER_TASTE, session_user.size)
        favourite = users.favourites[session_user, taste, which]
        popular = self._genre_artists(genre, users.deep_share[session_user], rng)
        use_favourite = rng.random(session_user.size) < FAVOURITE_SESSION_SHARE
        use_favourite = (use_favourite & (favourite != NO_MEMBER)) | (popular == NO_MEMBER)
        return taste, genre, np.where(use_favourite, favourite, popular)

    def _genre_artists(
        self, genre: np.ndarray, deep_share: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """An artist of each genre: by popularity, or (with chance `deep_share`) off the beaten track."""
        deep = rng.random(genre.size) < deep_share
        artist = np.empty(genre.size, dtype=np.int64)
        artist[~deep] = self.genre_artists.sample(genre[~deep], rng)
        artist[deep] = self.genre_deep_artists.sample(genre[deep], rng)
        return artist

    def _genre_tracks(
        self, genre: np.ndarray, deep_share: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        return self.artist_tracks.sample(self._genre_artists(genre, deep_share, rng), rng)

    def _draw_tracks(
        self, users: _Users, listen_user: np.ndarray, session: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Track and day of every drawn listen (NO_MEMBER where nothing could be drawn)."""
        new_session = np.ones(listen_user.size, dtype=bool)
        new_session[1:] = session[1:] != session[:-1]
        session_user = listen_user[new_session]
        sessions_per_user = np.bincount(session_user, minlength=users.draws.size)
        first_session = np.cumsum(sessions_per_user) - sessions_per_user
        rank = np.arange(session_user.size) - first_session[session_user]
        progress = (rank + rng.random(session_user.size)) / sessions_per_user[session_user]
        span = users.last_day[session_user] - users.first_day[session_user] + 1
        session_day = (users.first_day[session_user] + np.floor(span * progress)).astype(np.int32)

        taste, genre, artist = self._session_anchors(users, session_user, progress, rng)
        album_track = self.artist_tracks.sample(artist, rng)  # an album of the artist, by popularity
        album = np.where(album_track == NO_MEMBER, NO_MEMBER, self.catalog.track_album[album_track])
        mode = rng.choice(3, size=session_user.size, p=MODE_SHARES)

        listen_mode = mode[session]
        jump = rng.random(listen_user.size) < GENRE_JUMP_SHARE
        listen_genre = genre[session]
        jump_slot = _pick_slot(users.slot_weight[listen_user[jump]], rng)
        listen_genre[jump] = users.genres[listen_user[jump], taste[session[jump]], jump_slot]
        listen_mode[jump] = GENRE

        track = np.full(listen_user.size, NO_MEMBER, dtype=np.int64)
        for wanted, draw in (
            (ALBUM, lambda rows: self.album_tracks.sample(album[session[rows]], rng)),
            (ARTIST, lambda rows: self.artist_tracks.sample(artist[session[rows]], rng)),
            (
                GENRE,
                lambda rows: self._genre_tracks(listen_genre[rows], users.deep_share[listen_user[rows]], rng),
            ),
        ):
            rows = np.flatnonzero(listen_mode == wanted)
            track[rows] = draw(rows)
        return track, session_day[session]

    def chunk(self, count: int, rng: np.random.Generator) -> GeneratedListens:
        """Listens of `count` new users numbered 0..count-1, sorted by user and time."""
        users = self._users(count, rng)
        listen_user = np.repeat(np.arange(count), users.draws)
        starts = rng.random(listen_user.size) < 1.0 / self.mean_session_length
        starts[np.cumsum(users.draws) - users.draws] = True  # a user's first listen starts a session
        session = np.cumsum(starts) - 1
        track, day = self._draw_tracks(users, listen_user, session, rng)

        usable = track != NO_MEMBER
        usable[usable] = self.catalog.track_release_day[track[usable]] <= day[usable]
        keep = np.flatnonzero(usable)
        keep = keep[first_occurrences(listen_user[keep] * self.catalog.n_tracks + track[keep])]
        kept_user = listen_user[keep]
        per_user = np.bincount(kept_user, minlength=count)
        seq = np.arange(keep.size) - (np.cumsum(per_user) - per_user)[kept_user] + 1
        return GeneratedListens(user=kept_user, track=track[keep], day=day[keep], seq=seq.astype(np.int32))
