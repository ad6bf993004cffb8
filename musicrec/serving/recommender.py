"""The recommendations "data plane": default, offline, online and blended answers.

The HTTP app only translates requests into these calls. The two dependencies (the user's latest
events, similar tracks) are plain async interfaces, so the rules here — unknown user gets top
popular, no history means offline only, a failed dependency means a degraded answer instead of an
error — are tested with fakes, and the app plugs in the real HTTP clients.

Every route that knows the user reads the user's events (`musicrec.serving.history`): a disliked
track never comes back from any of them, a skipped one moves down, and only listens seed the
online part. Each route ranks a pool deeper than `k` (the whole personal list, enough similar
tracks, both blended in full) and `musicrec.serving.selection` makes the answer from it: what the
caller excludes or filters out, and what those rules take out, is replaced from further down.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import numpy as np

from musicrec.errors import DependencyUnavailable
from musicrec.serving.blending import (
    Blend,
    MaxMerge,
    OnlineMerge,
    ScoredItems,
    SimilarList,
    configured_blend,
    configured_merge,
)
from musicrec.serving.catalog import TrackCatalog
from musicrec.serving.facets import TrackFacets
from musicrec.serving.history import NO_HISTORY, History
from musicrec.serving.indexes import RankedLists
from musicrec.serving.selection import NO_OPTIONS, ListOptions, Selector
from musicrec.settings import Settings
from musicrec.throttled_log import ThrottledWarnings

logger = logging.getLogger(__name__)


class UserEvents(Protocol):
    async def history(self, user_id: int, k: int) -> History:
        """The user's latest `k` events and dislikes; DependencyUnavailable when it cannot say."""
        ...


class SimilarTracks(Protocol):
    async def similar_batch(self, item_ids: list[int], k: int) -> list[SimilarList]:
        """Per track: similar tracks and scores, best first (with their relations when found by content);
        DependencyUnavailable when it cannot say."""
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
    similar: Sequence[SimilarList] = ()  # each seed's similar tracks and scores


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
    similar: Sequence[SimilarList] = ()  # their similar tracks and scores


@dataclass
class Recommender:
    """Answers from the loaded indexes and the two dependencies.

    The user's latest `heard_window` events are read (all the events service keeps); the latest
    `online_history` listens among them seed the online answers, each asked for at least
    `similar_per_listen` similar tracks (more when the list asked for is longer or has tracks taken
    out, up to `max_similar`, the most the features service gives). `merge` combines those lists
    (best score by default). With `filter_heard`, every listen of the window is dropped from offline
    and blended answers (offline lists were made before those listens, and a track just played is a
    wasted slot); online answers always drop their seeds, and with `filter_heard` every listen of the
    window.
    `selector` takes a route's ranking to the answer (exclusions, filters, skips, the artist cap,
    the page: `musicrec.serving.selection`); `max_per_artist` is the blended lists' cap per 10 tracks
    (0: none), the other routes cap only when asked.
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
    selector: Selector | None = None  # None: one without a catalogue (filters match nothing, no cap)
    max_per_artist: int = 0
    max_similar: int = 100
    # A dependency that is down degrades every answer: one warning per kind and interval, not per answer.
    warnings: ThrottledWarnings = field(
        default_factory=lambda: ThrottledWarnings(logger), repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.selector is None:
            self.selector = Selector(TrackFacets.of(TrackCatalog.empty()), self.popular)

    @property
    def _select(self) -> Selector:
        assert self.selector is not None
        return self.selector

    def default(self, k: int, options: ListOptions = NO_OPTIONS) -> Answer:
        return Answer(self._select.select(self.popular, k, options), origin=POPULAR)

    async def offline(self, user_id: int, k: int, options: ListOptions = NO_OPTIONS) -> Answer:
        """Personal recommendations, or top popular for a user the pipeline did not know.

        With `filter_heard`, the user's latest listens are left out (and replaced from deeper down):
        the list was made before them, and a track just played at the top of it is a wasted slot.
        """
        history, failed = await self._history(user_id, "answering without the user's latest events")
        heard = history.listened if self.filter_heard else ()
        start, stop = self.personal.span(user_id)
        if start == stop:
            recs = self._select.select(self.popular, k, options, history, removed=heard)
            return Answer(recs, used_default=True, failed=failed, origin=POPULAR)
        recs = self._select.select(self.personal.items[start:stop], k, options, history, removed=heard)
        return Answer(recs, failed=failed, origin=Origin(personal_of=user_id))

    async def online(self, user_id: int, k: int, options: ListOptions = NO_OPTIONS) -> Answer:
        part = await self._online_scored(user_id, k, options)
        online = part.scored
        recs = self._select.select(online.items, k, options, part.history, tail=False)
        origin = Origin(online=online.items, seeds=part.seeds, similar=part.similar)
        return Answer(recs, online_empty=not online.items, failed=part.failed, origin=origin)

    async def blended(self, user_id: int, k: int, options: ListOptions = NO_OPTIONS) -> Answer:
        """Offline (or top popular) blended with online; offline alone when there is no online part."""
        part = await self._online_scored(user_id, k, options, self.blend.stable_depth)
        online, history, failed = part.scored, part.history, part.failed
        heard = frozenset(history.listened) if self.filter_heard else frozenset()
        start, stop = self.personal.span(user_id)
        used_default = start == stop
        if used_default:
            offline = ScoredItems(self.popular.tolist(), [])
        else:
            offline = ScoredItems(self.personal.items[start:stop].tolist(),
                                  self.personal.scores[start:stop].tolist())
        if heard:
            offline = _without(offline, heard)
        pool = (self.blend(offline, online, len(offline.items) + len(online.items)) if online.items
                else offline.items)
        recs = self._select.select(pool, k, options, history, removed=heard, cap=self.max_per_artist)
        origin = Origin(personal_of=None if used_default else user_id, popular=used_default,
                        online=online.items, seeds=part.seeds, similar=part.similar)
        return Answer(recs, used_default=used_default, online_empty=not online.items, failed=failed,
                      origin=origin)

    def _similar_depth(self, k: int, options: ListOptions, history: History, stable: int) -> int:
        """Similar tracks to ask per seed: enough for the page after what will be taken out."""
        if options.filters:
            return self.max_similar
        wanted = options.offset + k + len(options.exclude) + len(history.disliked) + len(history.skipped)
        return min(self.max_similar, max(self.similar_per_listen, stable, wanted))

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

    async def _online_scored(self, user_id: int, k: int, options: ListOptions, stable: int = 0) -> OnlinePart:
        """Latest events -> one batched similar-tracks call for the latest listens -> merged."""
        history, failed = await self._history(user_id, "answering without online part")
        if failed:
            return OnlinePart(ScoredItems([], []), history, failed)
        listened = history.listened
        if not listened:
            return OnlinePart(ScoredItems([], []), history, [])
        seeds = listened[: self.online_history]
        heard = (listened if self.filter_heard else seeds) + list(history.disliked)
        depth = self._similar_depth(k, options, history, stable)
        try:
            similar = await self.similar.similar_batch(seeds, depth)
        except DependencyUnavailable as exc:
            self.warnings.warn("features", f"answering without online part: {exc.message}")
            return OnlinePart(ScoredItems([], []), history, ["features"])
        return OnlinePart(self.merge(similar, heard, depth * len(seeds)), history, [], seeds, similar)


def _without(scored: ScoredItems, excluded: frozenset[int]) -> ScoredItems:
    """`scored` without the `excluded` items (scores kept aligned when there are any)."""
    keep = [position for position, item in enumerate(scored.items) if item not in excluded]
    scores = [scored.scores[position] for position in keep] if scored.scores else []
    return ScoredItems([scored.items[position] for position in keep], scores)


def build_recommender(
    personal: RankedLists, popular: np.ndarray, listens: UserEvents, similar: SimilarTracks, settings: Settings,
    facets: TrackFacets | None = None,
) -> Recommender:
    """A Recommender configured by `[serving]`: the one place settings become blending options.

    The service and the replay's in-process mode both build theirs here, so they run the same rules.
    `facets` are the catalogue's artists and genres (filters and the artist cap); None: no catalogue.
    """
    serving = settings.serving
    return Recommender(
        personal=personal, popular=popular, listens=listens, similar=similar,
        blend=configured_blend(serving),
        online_history=serving.online_history, similar_per_listen=serving.similar_per_listen,
        merge=configured_merge(serving), filter_heard=serving.filter_heard,
        heard_window=settings.events.max_per_user,
        selector=Selector(facets or TrackFacets.of(TrackCatalog.empty()), popular),
        max_per_artist=serving.max_per_artist, max_similar=serving.max_k,
    )
