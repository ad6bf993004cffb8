"""The pipeline's work folder: where stages leave what the next stages read.

Stages talk through files, not through memory, so any stage can be re-run alone
(`--stages als ranker`) and a crash loses only the stage that crashed. Intermediate files are compact
numpy/scipy files in dense indexes; only the published artifacts are parquet with raw ids.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from musicrec import schema
from musicrec.errors import ArtifactError
from musicrec.pipeline.ids import IdIndex

# Artifacts that the pipeline publishes, in the order they are made.
PUBLISHED_FILES = (
    schema.ITEMS_FILE,
    schema.EVENTS_FILE,
    schema.TOP_POPULAR_FILE,
    schema.SIMILAR_FILE,
    schema.RECOMMENDATIONS_FILE,
    schema.METRICS_FILE,
)


@dataclass(frozen=True)
class Pairs:
    """Distinct (user, item) pairs in dense indexes, sorted by user then item."""

    users: np.ndarray
    items: np.ndarray

    @classmethod
    def from_listens(cls, users: np.ndarray, items: np.ndarray, n_items: int) -> "Pairs":
        keys = np.unique(users.astype(np.int64) * n_items + items)
        return cls((keys // n_items).astype(np.int32), (keys % n_items).astype(np.int32))

    def keys(self, n_items: int) -> np.ndarray:
        """One int64 per pair, for fast membership tests (np.isin)."""
        return self.users.astype(np.int64) * n_items + self.items


@dataclass(frozen=True)
class TrainData:
    """Everything later stages need from the train period, in dense indexes."""

    users: IdIndex  # every user of the whole event log (train, target, test)
    items: IdIndex  # every catalog track
    matrix: sp.csr_matrix  # users x items, listen counts in the train period (float32)
    item_first_day: np.ndarray  # first train listen (days since epoch), int32; -1 if none
    item_recent_listens: np.ndarray  # listens in the last `recent_days` of train, int32
    user_last_day: np.ndarray  # last train listen, int32; -1 if none
    recent_matrix: sp.csr_matrix  # users x items, counts in the last `recent_days` of train

    @property
    def item_listens(self) -> np.ndarray:
        return np.asarray(self.matrix.sum(axis=0)).ravel().astype(np.int64)

    @property
    def item_listeners(self) -> np.ndarray:
        return np.bincount(self.matrix.indices, minlength=self.matrix.shape[1]).astype(np.int64)

    @property
    def user_listens(self) -> np.ndarray:
        return np.asarray(self.matrix.sum(axis=1)).ravel().astype(np.int64)

    @property
    def user_recent_listens(self) -> np.ndarray:
        return np.asarray(self.recent_matrix.sum(axis=1)).ravel().astype(np.int64)


@dataclass(frozen=True)
class Workspace:
    """Names of the files in the work folder, and readers and writers for the shared ones."""

    root: Path

    def path(self, name: str) -> Path:
        return self.root / name

    def require(self, name: str, made_by: str) -> Path:
        """The path of an input file, or a clear error naming the stage that makes it."""
        path = self.path(name)
        if not path.exists():
            raise ArtifactError(f"{path} is missing: run the '{made_by}' stage first")
        return path

    # --- split -------------------------------------------------------------------------------
    def save_train(self, data: TrainData) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        np.save(self.path("users.npy"), data.users.ids)
        np.save(self.path("items.npy"), data.items.ids)
        sp.save_npz(self.path("train_matrix.npz"), data.matrix, compressed=False)
        sp.save_npz(self.path("recent_matrix.npz"), data.recent_matrix, compressed=False)
        np.savez(
            self.path("train_stats.npz"),
            item_first_day=data.item_first_day,
            item_recent_listens=data.item_recent_listens,
            user_last_day=data.user_last_day,
        )

    def load_train(self) -> TrainData:
        stats = np.load(self.require("train_stats.npz", "split"))
        matrix = sp.load_npz(self.require("train_matrix.npz", "split")).tocsr()
        recent = sp.load_npz(self.require("recent_matrix.npz", "split")).tocsr()
        return TrainData(
            users=IdIndex(np.load(self.require("users.npy", "split"))),
            items=IdIndex(np.load(self.require("items.npy", "split"))),
            matrix=matrix.astype(np.float32, copy=False),
            item_first_day=stats["item_first_day"],
            item_recent_listens=stats["item_recent_listens"],
            user_last_day=stats["user_last_day"],
            recent_matrix=recent.astype(np.float32, copy=False),
        )

    def save_pairs(self, name: str, pairs: Pairs) -> None:
        np.savez(self.path(name), users=pairs.users, items=pairs.items)

    def load_pairs(self, name: str) -> Pairs:
        stored = np.load(self.require(name, "split"))
        return Pairs(stored["users"], stored["items"])

    def save_json(self, name: str, content: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.path(name).write_text(json.dumps(content, indent=2, sort_keys=False) + "\n")

    def load_json(self, name: str, made_by: str) -> dict[str, Any]:
        return json.loads(self.require(name, made_by).read_text())
