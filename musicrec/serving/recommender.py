"""The recommendations "data plane": default, offline, online and blended answers.

The HTTP app only translates requests into these calls. The two dependencies (recent listens,
similar tracks) are plain async interfaces, so the rules here — unknown user gets top popular, no
history means offline only, a failed dependency means a degraded answer instead of an error — are
tested with fakes, and the app plugs in the real HTTP clients.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, Sequence

import numpy as np

from musicrec.errors import DependencyUnavailable
from musicrec.serving.blending import (
    Blend,
    MaxMerge,
    OnlineMerge,
    ScoredItems,
    configured_blend,
    configured_merge,
)
from musicrec.serving.indexes import RankedLists
from musicrec.settings import Settings
from musicrec.throttled_log import ThrottledWarnings

logger = logging.getLogger(__name__)


class RecentListens(Protocol):
    async def recent(self, user_id: int, k: int) -> list[int]:
        """The user's latest `k` listens, newest first; DependencyUnavailable when it cannot say."""
        ...


class SimilarTracks(Protocol):
    async def similar_batch(self, item_ids: list[int], k: int) -> list[tuple[list[int], list[float]]]:
        """Per track: similar tracks and scores, best first; DependencyUnavailable when it cannot say."""
        ...


@dataclass(frozen=True)
class Origin:
    """Where an answer's tracks came from: the lists it was made of, kept as references.

    Recording it costs one small object per answer; `musicrec.serving.reasons` turns it into a
    reason per track only when a caller asks for details.
    """

    personal_of: int | None = None  # the user whose personal (offline) list was used
    popular: bool = False  # top popular was used (the default list, or for a user without a personal one)
    online: Sequence[int] = ()  # the online list
    seeds: Sequence[int] = ()  # the recent listens it was made from, newest first
    similar: Sequence[tuple[Sequence[int], Sequence[float]]] = ()  # each seed's similar tracks and scores


POPULAR = Origin(popular=True)


@dataclass
class Answer:
    """Recommended track ids plus what the service needs to count and to tell the caller."""

    recs: list[int]
    used_default: bool = False  # the user had no personal recommendations: top popular instead
    online_empty: bool = False  # online part asked for and empty (no history, or a dependency failed)
    failed: list[str] = field(default_factory=list)  # dependencies that did not answer
    origin: Origin = Origin()

    @property
    def degraded(self) -> bool:
        return bool(self.failed)


class OnlinePart(NamedTuple):
    """The online list, the recent listens it excluded, the failed dependency if any, and its sources."""

    scored: ScoredItems
    heard: list[int]
    failed: list[str]
    seeds: Sequence[int] = ()  # the listens the list was made from
    similar: Sequence[tuple[Sequence[int], Sequence[float]]] = ()  # their similar tracks and scores


@dataclass
class Recommender:
    """Answers from the loaded indexes and the two dependencies.

    `online_history` recent listens are used for online answers; each is asked for at least
    `similar_per_listen` similar tracks (more when `k` is larger, so a long list can be filled).
    `merge` combines those lists (best score by default). With `filter_heard`, the latest
    `heard_window` listens are dropped from online AND offline parts: a recommendation of a track the
    user has just played is a wasted slot, and offline lists were made before those listens.
    """

    personal: RankedLists
    popular: np.ndarray
    listens: RecentListens
    similar: SimilarTracks
    blend: Blend
    online_history: int
    similar_per_listen: int
    merge: OnlineMerge = MaxMerge()
    filter_heard: bool = False
    heard_window: int = 0
    # A dependency that is down degrades every answer: one warning per kind and interval, not per answer.
    warnings: ThrottledWarnings = field(
        default_factory=lambda: ThrottledWarnings(logger), repr=False, compare=False)

    def default(self, k: int) -> Answer:
        return Answer(self.popular[:k].tolist(), origin=POPULAR)

    def offline(self, user_id: int, k: int) -> Answer:
        """Personal recommendations, or top popular for a user the pipeline did not know."""
        items, _ = self.personal.lookup(user_id, k)
        if len(items) == 0:
            return Answer(self.popular[:k].tolist(), used_default=True, origin=POPULAR)
        return Answer(items.tolist(), origin=Origin(personal_of=user_id))

    async def online(self, user_id: int, k: int) -> Answer:
        part = await self._online_scored(user_id, k)
        online = part.scored
        origin = Origin(online=online.items, seeds=part.seeds, similar=part.similar)
        return Answer(online.items, online_empty=not online.items, failed=part.failed, origin=origin)

    async def blended(self, user_id: int, k: int) -> Answer:
        """Offline (or top popular) blended with online; offline alone when there is no online part."""
        part = await self._online_scored(user_id, k)
        online, heard, failed = part.scored, part.heard, part.failed
        excluded = set(heard) if self.filter_heard else set()
        wanted = k + len(excluded)  # enough offline items left after dropping the heard ones
        offline_items, offline_scores = self.personal.lookup(user_id, wanted)
        used_default = len(offline_items) == 0
        if used_default:
            offline = ScoredItems(self.popular[:wanted].tolist(), [])
        else:
            offline = ScoredItems(offline_items.tolist(), offline_scores.tolist())
        if excluded:
            offline = _without(offline, excluded)
        recs = self.blend(offline, online, k) if online.items else offline.items[:k]
        origin = Origin(personal_of=None if used_default else user_id, popular=used_default,
                        online=online.items, seeds=part.seeds, similar=part.similar)
        return Answer(recs, used_default=used_default, online_empty=not online.items, failed=failed,
                      origin=origin)

    async def _online_scored(self, user_id: int, k: int) -> OnlinePart:
        """Recent listens -> one batched similar-tracks call -> merged."""
        window = max(self.online_history, self.heard_window) if self.filter_heard else self.online_history
        try:
            heard = await self.listens.recent(user_id, window)
        except DependencyUnavailable as exc:
            self.warnings.warn("events", f"answering without online part: {exc.message}")
            return OnlinePart(ScoredItems([], []), [], ["events"])
        if not heard:
            return OnlinePart(ScoredItems([], []), [], [])
        seeds = heard[: self.online_history]
        try:
            similar = await self.similar.similar_batch(seeds, max(self.similar_per_listen, k))
        except DependencyUnavailable as exc:
            self.warnings.warn("features", f"answering without online part: {exc.message}")
            return OnlinePart(ScoredItems([], []), heard, ["features"])
        return OnlinePart(self.merge(similar, heard, k), heard, [], seeds, similar)



def _without(scored: ScoredItems, excluded: set[int]) -> ScoredItems:
    """`scored` without the `excluded` items (scores kept aligned when there are any)."""
    keep = [position for position, item in enumerate(scored.items) if item not in excluded]
    scores = [scored.scores[position] for position in keep] if scored.scores else []
    return ScoredItems([scored.items[position] for position in keep], scores)


def build_recommender(
    personal: RankedLists, popular: np.ndarray, listens: RecentListens, similar: SimilarTracks, settings: Settings
) -> Recommender:
    """A Recommender configured by `[serving]`: the one place settings become blending options.

    The service and the replay's in-process mode both build theirs here, so they run the same rules.
    """
    serving = settings.serving
    return Recommender(
        personal=personal, popular=popular, listens=listens, similar=similar,
        blend=configured_blend(serving),
        online_history=serving.online_history, similar_per_listen=serving.similar_per_listen,
        merge=configured_merge(serving), filter_heard=serving.filter_heard,
        heard_window=settings.events.max_per_user,
    )
