"""Features of (user, candidate track) rows for the ranker, all known at the history's cutoff.

Every feature comes from the history the candidates were made from: the fit history when the ranker
learns (labels from the target window), the eval and serve histories when it ranks. So learning and
use see the same distribution, and nothing leaks from the period being predicted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from musicrec.pipeline.content import NONE, ItemContent
from musicrec.pipeline.ids import IdIndex

if TYPE_CHECKING:
    from musicrec.pipeline.lists import CandidateTable
from musicrec.pipeline.data import History

CONTEXT_FEATURES = (
    "sources_proposing",
    "item_listens",
    "item_listeners",
    "item_recent_listens",
    "item_recent_share",
    "item_age_days",
    "user_listens",
    "user_tracks",
    "user_days_since_last",
    "user_artist_share",
    "user_album_share",
    "user_genre_share",
    "user_recent_artist_share",
    "user_recent_genre_share",
)


def _user_key_counts(matrix: sp.csr_matrix, item_keys: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """users x keys listen counts (e.g. per artist) and the dense key column of each item.

    Items without a key share one extra column that is never looked up with a real key.
    """
    has_key = item_keys != NONE
    index = IdIndex.from_ids(item_keys[has_key])
    column = np.full(item_keys.size, len(index), dtype=np.int32)
    column[has_key] = index.encode(item_keys[has_key])
    one_hot = sp.csr_matrix(
        (np.ones(item_keys.size, dtype=np.float32), (np.arange(item_keys.size), column)),
        shape=(item_keys.size, len(index) + 1),
    )
    return (matrix @ one_hot).tocsr(), column


@dataclass
class FeatureBuilder:
    """Holds the per-user, per-item and user x content arrays; builds feature rows in batches."""

    data: History
    content: ItemContent

    def __post_init__(self) -> None:
        data = self.data
        self.cutoff_day = data.cutoff_day
        self.item_listens = data.item_listens.astype(np.float32)
        self.item_listeners = data.item_listeners.astype(np.float32)
        self.item_recent = data.item_recent_listens.astype(np.float32)
        first = data.item_first_day
        self.item_age = np.where(first >= 0, self.cutoff_day - first, -1).astype(np.float32)
        self.user_listens = data.user_listens.astype(np.float32)
        self.user_tracks = np.diff(data.matrix.indptr).astype(np.float32)
        last = data.user_last_day
        self.user_idle = np.where(last >= 0, self.cutoff_day - last, -1).astype(np.float32)
        self.user_recent_listens = data.user_recent_listens.astype(np.float32)
        keys = {"artist": self.content.artist, "album": self.content.album, "genre": self.content.genre}
        self.by_key = {name: _user_key_counts(data.matrix, values) for name, values in keys.items()}
        self.recent_by_key = {name: _user_key_counts(data.recent_matrix, keys[name])
                              for name in ("artist", "genre")}

    def _share(self, name: str, users: np.ndarray, items: np.ndarray, recent: bool = False) -> np.ndarray:
        """Share of the user's (recent) train listens that went to the item's artist/album/genre."""
        counts, column = (self.recent_by_key if recent else self.by_key)[name]
        looked_up = np.asarray(counts[users, column[items]]).ravel().astype(np.float32)
        looked_up[self.content.of_name(name)[items] == NONE] = 0.0
        total = self.user_recent_listens if recent else self.user_listens
        return looked_up / np.maximum(total[users], 1.0)


    def build(self, table: CandidateTable) -> np.ndarray:
        """Feature matrix (rows x feature_names(table.source_names)) of a candidate table, float32."""
        if not len(table):  # sparse look-ups of no rows give no array (thin data may leave none)
            return np.zeros((0, len(feature_names(table.source_names))), dtype=np.float32)
        users, items = table.users, table.items
        listens = self.item_listens[items]
        columns = [
            *score_gaps(table.users, table.scores).T,
            *table.ranks.T,
            (~np.isnan(table.scores)).sum(axis=1).astype(np.float32),
            listens,
            self.item_listeners[items],
            self.item_recent[items],
            self.item_recent[items] / np.maximum(listens, 1.0),
            self.item_age[items],
            self.user_listens[users],
            self.user_tracks[users],
            self.user_idle[users],
            self._share("artist", users, items),
            self._share("album", users, items),
            self._share("genre", users, items),
            self._share("artist", users, items, recent=True),
            self._share("genre", users, items, recent=True),
        ]
        return np.column_stack(columns).astype(np.float32, copy=False)


def score_gaps(users: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Each source's score minus its best score for the same user (NaN stays NaN).

    A gap means the same at every cutoff, while raw scores drift as a model sees more data, and the
    ranker learns at one cutoff and ranks at later ones.
    """
    _, row_user = np.unique(users, return_inverse=True)
    best = np.full((int(row_user.max(initial=-1)) + 1, scores.shape[1]), -np.inf, dtype=scores.dtype)
    np.fmax.at(best, row_user, scores)
    return scores - best[row_user]


def feature_names(source_names: tuple[str, ...]) -> tuple[str, ...]:
    """Column names of `FeatureBuilder.build` for candidates from these sources."""
    return (*(f"{name}_score_gap" for name in source_names), *(f"{name}_rank" for name in source_names),
            *CONTEXT_FEATURES)
