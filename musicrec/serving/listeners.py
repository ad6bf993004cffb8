"""Listeners to try the service with: a random known user, a new (cold) one, one with a long history.

Known users are the keys of the personal lists already loaded, so picking one costs nothing. Who has
a long history is read from the listening log of the artifact set (events.parquet, optional): one
row group from its middle (about a million listens at any size, so start-up stays quick whatever
the data), counted per user, keeping the heaviest listeners that have a personal list. These are
the heaviest listeners of that slice, which at the real data's skew are heavy listeners overall.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from musicrec import schema
from musicrec.errors import NotFound
from musicrec.serving.columns import artifact_error, column_values
from musicrec.serving.indexes import KEY_MAX, RankedLists

Kind = Literal["known", "cold", "long"]
LONG_HISTORY_USERS = 50  # heaviest listeners kept to pick from
COLD_ID_RANGE = 1_000_000  # a cold user is drawn from this many ids above the largest known one


@dataclass(frozen=True)
class Listener:
    user_id: int
    kind: Kind
    listens: int | None = None  # listens in the log, for a user with a long history


@dataclass(frozen=True)
class ListenerSampler:
    """Picks users to try; `heavy` and `heavy_listens` are the long-history users and their listens."""

    personal: RankedLists
    heavy: np.ndarray
    heavy_listens: np.ndarray

    def pick(self, kind: Kind, rng: np.random.Generator) -> Listener:
        """A user of that kind; NotFound when the artifact set has none."""
        keys = self.personal.keys
        if kind == "cold":
            first = int(keys[-1]) + 1 if len(keys) else 0
            last = min(first + COLD_ID_RANGE, KEY_MAX)
            return Listener(int(rng.integers(first, last, endpoint=True)), kind)
        if kind == "known":
            if not len(keys):
                raise NotFound("no known users: recommendations.parquet has no rows")
            return Listener(int(keys[rng.integers(len(keys))]), kind)
        if not len(self.heavy):
            raise NotFound(f"no listening history in this artifact set ({schema.EVENTS_FILE} is missing)")
        chosen = int(rng.integers(len(self.heavy)))
        return Listener(int(self.heavy[chosen]), kind, int(self.heavy_listens[chosen]))


def load_listener_sampler(folder: Path, personal: RankedLists) -> ListenerSampler:
    """Find the long-history users in the set's events.parquet, if it has one."""
    path = folder / schema.EVENTS_FILE
    if not path.exists():
        return ListenerSampler(personal, np.empty(0, np.int32), np.empty(0, np.int64))
    try:
        parquet = pq.ParquetFile(path)
        if parquet.num_row_groups == 0:
            return ListenerSampler(personal, np.empty(0, np.int32), np.empty(0, np.int64))
        middle = parquet.read_row_group(parquet.num_row_groups // 2, columns=[schema.USER_ID])
    except (pa.ArrowException, OSError, KeyError) as exc:
        raise artifact_error(path, f"cannot be read ({exc})") from None
    users, listens = np.unique(column_values(middle.column(schema.USER_ID)), return_counts=True)
    known = np.array([user in personal for user in users.tolist()], dtype=bool) if len(users) else users
    users, listens = users[known], listens[known]
    heaviest = np.argsort(-listens, kind="stable")[:LONG_HISTORY_USERS]
    return ListenerSampler(personal, users[heaviest].astype(np.int32), listens[heaviest].astype(np.int64))
