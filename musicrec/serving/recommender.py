"""The recommendations "data plane": default, offline, online and blended answers.

The HTTP app only translates requests into these calls. The two dependencies (the user's latest
events, similar tracks) are plain async interfaces, so the rules here — unknown user gets top
popular, no history means offline only, a failed dependency means a degraded answer instead of an
error — are tested with fakes, and the app plugs in the real HTTP clients.

Every route that knows the user reads the user's events (`musicrec.serving.history`): a disliked
track never comes back from any of them, a skipped one moves to the end of the list, and only
listens seed the online part. Lists are drawn from pools deeper than `k` (the whole personal list,
enough similar tracks), so what those rules take out is replaced from further down.
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
from musicrec.serving.history import NO_HISTORY, History
from musicrec.serving.indexes import RankedLists
from musicrec.settings import Settings
from musicrec.throttled_log import ThrottledWarnings

logger = logging.getLogger(__name__)


class UserEvents(Protocol):
    async def history(self, user_id: int, k: int) -> History:
        """The user's latest `k` events and dislikes; DependencyUnavailable when it cannot say."""
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
    """The online list, the user's events, the failed dependency if any, and the list's sources."""

    scored: ScoredItems
    history: History
    failed: list[str]
    seeds: Sequence[int] = ()  # the listens the list was made from
    similar: Sequence[tuple[Sequence[int], Sequence[float]]] = ()  # their similar tracks and scores


@dataclass
class Recommender:
    """Answers from the loaded indexes and the two dependencies.

    The user's latest `heard_window` events are read (all the events service keeps); the latest
    `online_history` listens among them seed the online answers, each asked for at least
    `similar_per_listen` similar tracks (more when `k` is larger, or tracks were taken out, so a
    long list can be filled). `merge` combines those lists (best score by default). With
    `filter_heard`, every listen of the window is dropped from online AND offline parts of blended
    answers: a recommendation of a track the user has just played is a wasted slot, and offline
    lists were made before those listens; without it, online lists drop only their seeds.
    """

    personal: RankedLists
    popular: np.ndarray
    listens: UserEvents
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

    async def offline(self, user_id: int, k: int) -> Answer:
        """Personal recommendations, or top popular for a user the pipeline did not know."""
        history, failed = await self._history(user_id, "answering without the user's dislikes and skips")
        items, _ = self.personal.lookup(user_id, self.personal_depth(k, history))
        if len(items) == 0:
            recs = _personalized(self.popular[: self.personal_depth(k, history)].tolist(), history, k)
            return Answer(recs, used_default=True, failed=failed, origin=POPULAR)
        return Answer(_personalized(items.tolist(), history, k), failed=failed, origin=Origin(personal_of=user_id))

    async def online(self, user_id: int, k: int) -> Answer:
        part = await self._online_scored(user_id, k)
        online = part.scored
        recs = _personalized(online.items, part.history, k)
        origin = Origin(online=online.items, seeds=part.seeds, similar=part.similar)
        return Answer(recs, online_empty=not online.items, failed=part.failed, origin=origin)

    async def blended(self, user_id: int, k: int) -> Answer:
        """Offline (or top popular) blended with online; offline alone when there is no online part."""
        part = await self._online_scored(user_id, k)
        online, history, failed = part.scored, part.history, part.failed
        excluded = set(history.listened) if self.filter_heard else set()
        wanted = self.personal_depth(k, history) + len(excluded)  # enough left after dropping those
        offline_items, offline_scores = self.personal.lookup(user_id, wanted)
        used_default = len(offline_items) == 0
        if used_default:
            offline = ScoredItems(self.popular[:wanted].tolist(), [])
        else:
            offline = ScoredItems(offline_items.tolist(), offline_scores.tolist())
        if excluded:
            offline = _without(offline, excluded)
        depth = self.personal_depth(k, history)
        blended = self.blend(offline, online, depth) if online.items else offline.items[:depth]
        origin = Origin(personal_of=None if used_default else user_id, popular=used_default,
                        online=online.items, seeds=part.seeds, similar=part.similar)
        return Answer(_personalized(blended, history, k), used_default=used_default,
                      online_empty=not online.items, failed=failed, origin=origin)

    @staticmethod
    def personal_depth(k: int, history: History) -> int:
        """How many tracks to draw so that `k` remain after the user's dislikes and skips are handled."""
        return k + len(history.disliked) + len(history.skipped)

    async def _history(self, user_id: int, without: str) -> tuple[History, list[str]]:
        """The user's latest events, or none and "events" failed (warned once per interval)."""
        try:
            return await self.listens.history(user_id, self.events_window), []
        except DependencyUnavailable as exc:
            self.warnings.warn("events", f"{without}: {exc.message}")
            return NO_HISTORY, ["events"]

    @property
    def events_window(self) -> int:
        """Latest events read per answer: the seeds, and every listen `filter_heard` drops."""
        return max(self.online_history, self.heard_window)

    async def _online_scored(self, user_id: int, k: int) -> OnlinePart:
        """Latest events -> one batched similar-tracks call for the latest listens -> merged."""
        history, failed = await self._history(user_id, "answering without online part")
        if failed:
            return OnlinePart(ScoredItems([], []), history, failed)
        listened = history.listened
        if not listened:
            return OnlinePart(ScoredItems([], []), history, [])
        seeds = listened[: self.online_history]
        heard = (listened if self.filter_heard else seeds) + list(history.disliked)
        depth = self.personal_depth(k, history)
        try:
            similar = await self.similar.similar_batch(seeds, max(self.similar_per_listen, depth))
        except DependencyUnavailable as exc:
            self.warnings.warn("features", f"answering without online part: {exc.message}")
            return OnlinePart(ScoredItems([], []), history, ["features"])
        return OnlinePart(self.merge(similar, heard, depth), history, [], seeds, similar)


def _personalized(items: Sequence[int], history: History, k: int) -> list[int]:
    """The first `k` of `items` without the user's disliked tracks, skipped ones moved to the end."""
    skipped = history.skipped
    if not history.disliked and not skipped:
        return list(items[:k])
    kept = [item for item in items if item not in history.disliked and item not in skipped]
    if len(kept) < k:
        kept += [item for item in items if item in skipped and item not in history.disliked]
    return kept[:k]


def _without(scored: ScoredItems, excluded: set[int]) -> ScoredItems:
    """`scored` without the `excluded` items (scores kept aligned when there are any)."""
    keep = [position for position, item in enumerate(scored.items) if item not in excluded]
    scores = [scored.scores[position] for position in keep] if scored.scores else []
    return ScoredItems([scored.items[position] for position in keep], scores)


def build_recommender(
    personal: RankedLists, popular: np.ndarray, listens: UserEvents, similar: SimilarTracks, settings: Settings
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
