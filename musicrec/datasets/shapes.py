"""The kinds of listening data the generator imitates: each shape is one real kind of data set.

A recommender tuned on one generated data set can fit the generator instead of the listening, so
the pipeline is tested on two differently shaped ones:

- `course`: a music service's listening log like the course data: sessions that stay with an
  artist, album or genre, users and tracks in similar numbers.
- `playlists`: a public playlist data set: many more tracks than users, a strong popularity
  skew, and short runs: most tracks are picked on their own, but now and then the next one comes
  from the same album, artist or genre as the one before (a playlist is often built by adding a
  few tracks of one place in a row), so its order carries some signal, far less than the course's.

Both keep what real data shares: users with a few favourite genres and artists whose taste drifts,
heavy-tailed activity, dated listens in time order over a year, each track at most once per user.
Only what differs between the shapes is a field here; the rest are constants of `listening` and
`catalog`. The sizes of each shape at each scale are in `scales`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shape:
    """How the listening of one kind of data set looks.

    Parameters
    ----------
    name : str
        The name used on the command line (`--shape`).
    mean_session_length : float
        Listens per session on average (session lengths are geometric). A session keeps one
        anchor (an artist, one of its albums, or a genre), so long sessions make runs of one
        artist; at 1.0 every listen picks its own anchor and the order of a user's listens tells
        nothing; at 1.5 a listen keeps the anchor of the one before a third of the time.
    track_popularity_sigma : float
        Log-normal spread of track popularity inside an artist: the larger, the more a few hits
        dominate and the more tracks nobody plays.
    tail_floor_quantile : float
        Track weights below this quantile are raised to it (0 = none are). A playlist data set
        holds the tracks someone chose, so few of its tracks are never played.
    """

    name: str
    mean_session_length: float
    track_popularity_sigma: float
    tail_floor_quantile: float


COURSE = Shape("course", mean_session_length=8.0, track_popularity_sigma=2.8, tail_floor_quantile=0.0)
PLAYLISTS = Shape("playlists", mean_session_length=1.5, track_popularity_sigma=2.5, tail_floor_quantile=0.85)
SHAPES: dict[str, Shape] = {shape.name: shape for shape in (COURSE, PLAYLISTS)}
SHAPE_NAMES = tuple(SHAPES)


def get_shape(name: str) -> Shape:
    """The shape called `name`; a clear error for anything else."""
    try:
        return SHAPES[name]
    except KeyError:
        raise ValueError(f"unknown shape {name!r}; expected one of {', '.join(SHAPE_NAMES)}") from None
