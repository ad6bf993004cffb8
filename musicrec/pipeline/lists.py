"""From fitted sources to ranked lists: the union of their candidates, the ranker's features and
scores, the final top-k, streamed over batches of users so memory stays flat at full size.

The same code makes the ranker's learning rows (fit history), the evaluation lists (eval history)
and the published lists (serve history); only the history and the users differ.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from catboost import CatBoost
from tqdm.auto import tqdm

from musicrec import schema
from musicrec.datasets.packed import distinct
from musicrec.pipeline.data import Candidates, History
from musicrec.pipeline.features import FeatureBuilder
from musicrec.pipeline.reports import FUSION, RANKER
from musicrec.pipeline.sources import CandidateSource

if TYPE_CHECKING:
    from musicrec.pipeline.fusion import RankFusion

MISSING_RANK = 1_000  # the rank of a track a source did not propose: below every real rank
USER_BATCH = 20_000


@dataclass(frozen=True)
class CandidateTable:
    """Every (user, track) some source proposed, with each source's score and rank side by side.

    Rows are sorted by user, then track. `scores[r, j]` is NaN and `ranks[r, j]` is MISSING_RANK
    where source j did not propose the row's track.
    """

    users: np.ndarray
    items: np.ndarray
    scores: np.ndarray  # rows x sources, float32
    ranks: np.ndarray  # rows x sources, float32
    source_names: tuple[str, ...]

    @classmethod
    def union(cls, lists: dict[str, Candidates], n_items: int) -> CandidateTable:
        keys = distinct(np.concatenate([found.keys(n_items) for found in lists.values()]))
        scores = np.full((keys.size, len(lists)), np.nan, dtype=np.float32)
        ranks = np.full((keys.size, len(lists)), MISSING_RANK, dtype=np.float32)
        for column, found in enumerate(lists.values()):
            rows = np.searchsorted(keys, found.keys(n_items))
            scores[rows, column] = found.scores
            ranks[rows, column] = found.ranks
        return cls((keys // n_items).astype(np.int32), (keys % n_items).astype(np.int32), scores, ranks,
                   tuple(lists))

    def __len__(self) -> int:
        return int(self.users.size)

    def keys(self, n_items: int) -> np.ndarray:
        return self.users.astype(np.int64) * n_items + self.items

    def source_list(self, name: str, k: int) -> Candidates:
        """The top k of one source, as it proposed them."""
        column = self.source_names.index(name)
        keep = self.ranks[:, column] <= k
        return Candidates.top_by_score(self.users[keep], self.items[keep], self.scores[keep, column], k)

    def with_proposers(self, lists: Candidates, n_items: int) -> Candidates:
        """The lists (made from this table) with the source that ranked each track best."""
        rows = np.searchsorted(self.keys(n_items), lists.keys(n_items))
        return replace(lists, proposers=np.argmin(self.ranks[rows], axis=1).astype(np.int8))

    def take(self, rows: np.ndarray) -> CandidateTable:
        return CandidateTable(self.users[rows], self.items[rows], self.scores[rows], self.ranks[rows],
                              self.source_names)


def propose(sources: dict[str, CandidateSource], users: np.ndarray, n: int, n_items: int) -> CandidateTable:
    """Each source's top n for the users, joined into one table."""
    return CandidateTable.union({name: source.recommend(users, n) for name, source in sources.items()},
                                n_items)


@dataclass
class ListMaker:
    """Makes final lists at one history: every source's, the ranker's and the fusion's when there are."""

    sources: dict[str, CandidateSource]
    history: History
    features: FeatureBuilder
    n_candidates: int
    ranker: CatBoost | None = None
    fusion: RankFusion | None = None

    def table(self, users: np.ndarray) -> CandidateTable:
        return propose(self.sources, users, self.n_candidates, len(self.history.items))

    def ranker_scores(self, table: CandidateTable) -> np.ndarray:
        assert self.ranker is not None
        return self.ranker.predict(self.features.build(table), prediction_type="RawFormulaVal")

    def lists(self, users: np.ndarray, k: int, models: tuple[str, ...],
              desc: str = "lists") -> dict[str, Candidates]:
        """Top k of each named model (RANKER, FUSION or a source name) for the users, in user batches, as
        many batches at a time as the machine has cores (numpy, scipy, implicit and CatBoost
        release the GIL in their heavy steps)."""
        parts: dict[str, list[Candidates]] = {name: [] for name in models}
        chunks = [users[start:start + USER_BATCH] for start in range(0, users.size, USER_BATCH)]
        with ThreadPoolExecutor(max_workers=len(os.sched_getaffinity(0))) as pool:
            done = pool.map(lambda batch: self._batch_lists(batch, k, models), chunks)
            for found in tqdm(done, total=len(chunks), desc=desc, unit="batch"):
                for name in models:
                    parts[name].append(found[name])
        return {name: Candidates.concat(found) for name, found in parts.items()}

    def _batch_lists(self, batch: np.ndarray, k: int, models: tuple[str, ...]) -> dict[str, Candidates]:
        table = self.table(batch)
        found = {}
        for name in models:
            if name == RANKER:
                ranked = Candidates.top_by_score(table.users, table.items,
                                                 self.ranker_scores(table).astype(np.float32), k)
            elif name == FUSION:
                assert self.fusion is not None
                ranked = Candidates.top_by_score(table.users, table.items, self.fusion.scores(table), k)
            else:
                ranked = table.source_list(name, k)
            found[name] = table.with_proposers(ranked, len(self.history.items))
        return found


def recommendations_table(lists: Candidates, history: History, source_names: tuple[str, ...]) -> pa.Table:
    """Lists as recommendations.parquet (raw ids, sorted by user, rank): the course schema plus the
    optional `source` column naming the candidate source that proposed each track."""
    table = pa.table(
        {
            schema.USER_ID: history.users.decode(lists.users).astype(np.int32),
            schema.ITEM_ID: history.items.decode(lists.items).astype(np.int32),
            schema.SCORE: lists.scores.astype(np.float32),
            schema.RANK: lists.ranks.astype(np.int32),
        },
        schema=schema.RECOMMENDATIONS_SCHEMA,
    )
    if lists.proposers is None:
        return table
    names = pa.array(source_names, pa.string())
    return table.append_column(schema.SOURCE, pa.DictionaryArray.from_arrays(
        pa.array(lists.proposers, pa.int8()), names))
