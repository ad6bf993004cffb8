"""The in-process replay target: the service's own `Recommender`, with its two dependencies in memory.

The recommendations service answers through `Recommender`, which asks an events store for recent
listens and the features service for similar tracks. Here those two are a dict of short deques
and the similar-tracks index itself, so a replay of thousands of users runs without HTTP, yet
every blending rule is exactly the service's code, built from the same settings.
"""

from __future__ import annotations

from collections import defaultdict, deque
from functools import partial
from pathlib import Path

import numpy as np

from musicrec import schema
from musicrec.api.strategies import strategy_named
from musicrec.replay.runner import Reply
from musicrec.serving.artifact_reading import load_recommendations, load_similar, load_top_popular
from musicrec.serving.blending import SimilarList
from musicrec.serving.catalog import load_catalog
from musicrec.serving.content import SimilarIndex
from musicrec.serving.facets import TrackFacets
from musicrec.serving.history import DISLIKE, LISTEN, EventKind, History
from musicrec.serving.indexes import RankedLists
from musicrec.serving.recommender import Recommender, build_recommender
from musicrec.settings import Settings


class InMemoryListens:
    """Each user's latest `max_per_user` events, newest first, and dislikes, as the events service keeps them."""

    def __init__(self, max_per_user: int) -> None:
        self._latest: defaultdict[int, deque[tuple[int, EventKind]]] = defaultdict(
            partial(deque, maxlen=max_per_user))
        self._disliked: defaultdict[int, set[int]] = defaultdict(set)

    def put(self, user_id: int, item_id: int, kind: EventKind = LISTEN) -> None:
        self._latest[user_id].appendleft((item_id, kind))
        if kind == DISLIKE:
            self._disliked[user_id].add(item_id)

    async def history(self, user_id: int, k: int) -> History:
        latest = list(self._latest.get(user_id, ()))[:k]
        return History([item for item, _ in latest], [kind for _, kind in latest],
                       frozenset(self._disliked.get(user_id, ())))


class InMemorySimilar:
    """Similar tracks straight from the index the features service would load (learned, or for a new
    track by content when it is given a `SimilarIndex`)."""

    def __init__(self, similar: RankedLists | SimilarIndex) -> None:
        self._similar = similar if isinstance(similar, SimilarIndex) else SimilarIndex(similar)

    async def similar_batch(self, item_ids: list[int], k: int) -> list[SimilarList]:
        answers: list[SimilarList] = []
        for item_id in item_ids:
            items, scores, relations = self._similar.lookup(item_id, k)
            answers.append((items, scores) if relations is None else (items, scores, relations))
        return answers


class InProcessTarget:
    """A `ReplayTarget` calling `Recommender` directly; a fresh, empty listen store per target."""

    def __init__(self, recommender: Recommender, listens: InMemoryListens) -> None:
        self.recommender = recommender
        self._listens = listens

    async def recommend(self, strategy: str, user_id: int, k: int) -> Reply:
        answer = await strategy_named(strategy).ask(self.recommender, user_id, k)
        return Reply(answer.recs, answer.degraded)

    async def put(self, user_id: int, item_id: int) -> None:
        self._listens.put(user_id, item_id)


class LoadedArtifacts:
    """The indexes a replay needs, loaded once and shared by every configuration tried.

    The catalogue (artists, for the cap per artist) is the set's items.parquet: beside the lists, or
    in the set that holds them when they are its `evaluation/` lists.
    """

    def __init__(self, folder: Path) -> None:
        self.personal: RankedLists = load_recommendations(folder)
        self.popular: np.ndarray = load_top_popular(folder)
        self.similar: RankedLists = load_similar(folder)
        named = folder if (folder / schema.ITEMS_FILE).is_file() else folder.parent
        catalog = load_catalog(named)
        self.facets = TrackFacets.of(catalog)
        self.catalog = catalog

    def target(self, settings: Settings) -> InProcessTarget:
        """A target with the blending options in `settings` and no listens recorded yet."""
        listens = InMemoryListens(settings.events.max_per_user)
        similar = InMemorySimilar(SimilarIndex.of(self.similar, self.catalog, settings.serving.max_k))
        recommender = build_recommender(self.personal, self.popular, listens, similar, settings, self.facets)
        return InProcessTarget(recommender, listens)
