"""Tiny hand-made histories for the pipeline's unit tests."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from musicrec.pipeline.content import ItemContent
from musicrec.pipeline.data import History
from musicrec.pipeline.ids import IdIndex


def history_of(matrix: np.ndarray, recent: np.ndarray | None = None, cutoff_day: int = 100) -> History:
    """A History whose counts are `matrix` (users x items); raw ids equal dense indexes."""
    n_users, n_items = matrix.shape
    recent = np.zeros_like(matrix) if recent is None else recent
    return History(IdIndex(np.arange(n_users)), IdIndex(np.arange(n_items)),
                   sp.csr_matrix(matrix.astype(np.float32)), sp.csr_matrix(recent.astype(np.float32)),
                   np.zeros(n_items, np.int32), np.zeros(n_users, np.int32), cutoff_day)


def two_taste_groups(users: int = 20, items: int = 10, heard: int = 3) -> np.ndarray:
    """Users of the first half listen to `heard` of the first half of the items, the others to
    `heard` of the second half: every model must keep each user within their half."""
    half = items // 2
    matrix = np.zeros((users, items), dtype=np.float32)
    for user in range(users):
        base = 0 if user < users // 2 else half
        for offset in range(heard):
            matrix[user, base + (user + offset) % half] = 5.0
    return matrix


def content_of(n_items: int, artists_per_half: int = 1) -> ItemContent:
    """Each half of the items by its own artist (album and genre alike)."""
    half = n_items // 2
    artist = np.where(np.arange(n_items) < half, 1, 2)
    return ItemContent(artist=artist, album=artist * 10, genre=artist * 100)
