"""Sizes of the built-in data sets for each shape, from a few seconds for tests to the real data's size.

Course-shaped `full` matches the course data (1M tracks, ~1.37M users, ~222M listens); the
smaller scales keep its proportions roughly while staying fast enough for tests (`tiny`) and
`make run` (`small`). Playlist-shaped `small` matches a public playlist data set (~7,000 users,
200,000 tracks, ~700,000 listens) and `full` the largest public one (1M playlists, 2.2M tracks,
66M entries); the catalogue grows slower than the users, as it does in real data.
"""

from __future__ import annotations

from dataclasses import dataclass

from musicrec.datasets.shapes import COURSE, PLAYLISTS, Shape, get_shape

SCALE_NAMES = ("tiny", "small", "medium", "full")


@dataclass(frozen=True)
class Scale:
    """How much to generate, of which shape.

    Parameters
    ----------
    name : str
        One of `SCALE_NAMES`.
    users : int
        Users with at least one listen (roughly: a few lose all theirs to the mess).
    tracks : int
        Tracks in the catalogue, played or not.
    listens : int
        Target total number of listens (the result lands within a few percent).
    genres : int
        Number of genres; the long tail needs ~100+ at the bigger scales.
    users_per_chunk : int
        Users generated and written together; bounds memory at any scale.
    draws_per_listen : float
        Listens drawn per listen kept. A user hears each track once and never before its
        release, so repeated and early draws are discarded; the smaller the catalogue, the more
        often a user's tastes run dry. Measured per scale so the listens land near `listens`.
    shape : Shape
        What the listening looks like (`shapes`).
    """

    name: str
    users: int
    tracks: int
    listens: int
    genres: int
    users_per_chunk: int
    draws_per_listen: float
    shape: Shape = COURSE

    @property
    def listens_per_user(self) -> float:
        return self.listens / self.users


ScaleRow = tuple[str, int, int, int, int, int, float]  # Scale's fields before `shape`, in order


def _sizes(shape: Shape, *rows: ScaleRow) -> dict[str, Scale]:
    """Every scale of one shape, by name, from rows of `Scale`'s fields in order."""
    scales = [Scale(*row, shape=shape) for row in rows]
    assert tuple(scale.name for scale in scales) == SCALE_NAMES
    return {scale.name: scale for scale in scales}


SCALES: dict[str, dict[str, Scale]] = {
    # name, users, tracks, listens, genres, users_per_chunk, draws_per_listen
    COURSE.name: _sizes(
        COURSE,
        ("tiny", 1_500, 4_000, 75_000, 60, 1_500, 5.5),
        ("small", 30_000, 40_000, 3_000_000, 110, 10_000, 3.6),
        ("medium", 150_000, 200_000, 18_000_000, 130, 25_000, 2.6),
        ("full", 1_370_000, 1_000_000, 222_000_000, 150, 50_000, 2.3),
    ),
    PLAYLISTS.name: _sizes(
        PLAYLISTS,
        ("tiny", 700, 20_000, 70_000, 60, 700, 2.03),
        ("small", 7_000, 200_000, 700_000, 110, 7_000, 1.56),
        ("medium", 70_000, 1_000_000, 7_000_000, 130, 35_000, 1.4),
        ("full", 1_000_000, 2_200_000, 66_000_000, 150, 100_000, 1.3),
    ),
}


def get_scale(name: str, shape: str = COURSE.name) -> Scale:
    """The sizes of scale `name` for `shape`; a clear error for anything else."""
    sizes = SCALES[get_shape(shape).name]
    try:
        return sizes[name]
    except KeyError:
        raise ValueError(f"unknown scale {name!r}; expected one of {', '.join(SCALE_NAMES)}") from None
