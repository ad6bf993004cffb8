"""Sizes of the built-in data sets, from a few seconds for tests to the real data's size.

`full` matches the course data (1M tracks, ~1.37M users, ~222M listens); the others keep its
proportions roughly while staying fast enough for tests (`tiny`) and `make run` (`small`).
"""

from __future__ import annotations

from dataclasses import dataclass

SCALE_NAMES = ("tiny", "small", "medium", "full")


@dataclass(frozen=True)
class Scale:
    """How much to generate.

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
    """

    name: str
    users: int
    tracks: int
    listens: int
    genres: int
    users_per_chunk: int
    draws_per_listen: float

    @property
    def listens_per_user(self) -> float:
        return self.listens / self.users


SCALES: dict[str, Scale] = {
    "tiny": Scale(
        "tiny", 1_500, 4_000, 75_000, genres=60, users_per_chunk=1_500, draws_per_listen=5.5
    ),
    "small": Scale(
        "small", 30_000, 40_000, 3_000_000, genres=110, users_per_chunk=10_000, draws_per_listen=3.6
    ),
    "medium": Scale(
        "medium", 150_000, 200_000, 18_000_000, genres=130, users_per_chunk=25_000, draws_per_listen=2.6
    ),
    "full": Scale(
        "full", 1_370_000, 1_000_000, 222_000_000, genres=150, users_per_chunk=50_000, draws_per_listen=2.3
    ),
}


def get_scale(name: str) -> Scale:
    """The scale called `name`; a clear error for anything else."""
    try:
        return SCALES[name]
    except KeyError:
        raise ValueError(f"unknown scale {name!r}; expected one of {', '.join(SCALE_NAMES)}") from None
