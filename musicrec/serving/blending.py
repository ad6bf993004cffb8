"""Online merges and blend rules: one small class per rule, registered by the name `[serving]` gives it.

Kept free of HTTP and of the indexes so that each rule is tested with exact hand-made lists. The
registries (`MERGES`, `BLENDS`) are the one place a rule is known: settings accept only the names
they hold, the service builds the configured rule from them, and the replay tunes every rule in
them. A new rule is one subclass added to its registry; a rule with options reads them from
`[serving]` in `from_settings` and names the values the replay tries in `tuning_grid`.
The lists here hold at most a few hundred ids, so plain Python is both clearer and faster than numpy.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal, NamedTuple, Self

if TYPE_CHECKING:  # settings validate their names against the registries here
    from musicrec.settings import ServingSettings


class ScoredItems(NamedTuple):
    """Items best first, with the score each was ranked by (scores may be empty when unknown)."""

    items: list[int]
    scores: list[float]


# What a track found by content shares with the track it was found for (musicrec.serving.content).
Relation = Literal["album", "artist", "genre"]
# One listen's similar tracks and scores, best first; a list found by content (the listen is a new
# track) also says each track's relation to it.
SimilarList = tuple[Sequence[int], Sequence[float]] | tuple[Sequence[int], Sequence[float], Sequence[Relation]]
SimilarLists = Sequence[SimilarList]


def dedup(items: Iterable[int]) -> list[int]:
    """Items without repeats, each kept at its first (best) place."""
    return list(dict.fromkeys(items))


class Rule(ABC):
    """A rule that `[serving] <key>` chooses by `name`; without options unless a subclass reads some."""

    key: ClassVar[str]  # the [serving] key naming the rule
    name: ClassVar[str]  # its value for this rule

    @classmethod
    def from_settings(cls, serving: ServingSettings) -> Self:
        return cls()

    @classmethod
    def tuning_grid(cls) -> tuple[Self, ...]:
        """The configurations of this rule that the replay's tuning tries."""
        return (cls(),)

    def serving_values(self) -> dict[str, object]:
        """The `[serving]` values that choose this configuration (inverse of `from_settings`)."""
        return {self.key: self.name}

    @property
    def label(self) -> str:
        """How reports name this configuration."""
        return self.name


class OnlineMerge(Rule):
    """Merges the similar tracks of the recent listens into the online list."""

    key = "online_merge"

    @abstractmethod
    def __call__(self, similar_lists: SimilarLists, heard: Iterable[int], k: int) -> ScoredItems:
        """`similar_lists` holds one (items, scores) pair per recent listen, newest listen first."""


class Blend(Rule):
    """Makes the blended list from the offline and online lists."""

    key = "blend"
    # How deep the online list must be for the first places of the blend not to change when it is
    # deeper still (the recommender asks for at least this many similar tracks per listen).
    stable_depth: ClassVar[int] = 0

    @abstractmethod
    def __call__(self, offline: ScoredItems, online: ScoredItems, k: int) -> list[int]:
        """The first `k` blended items."""


@dataclass(frozen=True)
class MaxMerge(OnlineMerge):
    """Tracks similar to recent listens, ranked by their best similarity, top `k`.

    A track similar to several listens keeps its best score; tracks the user just heard are dropped
    (the course version recommended them back). Equal scores keep the newest listen's track first.
    """

    name = "max"

    def __call__(self, similar_lists: SimilarLists, heard: Iterable[int], k: int) -> ScoredItems:
        pairs = [
            (int(item), float(score))
            for items, scores, *_ in similar_lists
            for item, score in zip(items, scores)
        ]
        pairs.sort(key=lambda pair: -pair[1])  # stable sort: ties keep their newest-listen-first order
        excluded = {int(item) for item in heard}
        best: dict[int, float] = {}
        for item, score in pairs:
            if item not in excluded and item not in best:
                best[item] = score
                if len(best) == k:
                    break
        return ScoredItems(list(best), list(best.values()))


@dataclass(frozen=True)
class SumMerge(OnlineMerge):
    """Tracks similar to recent listens, ranked by the SUM of their similarities, top `k`.

    A track close to several recent listens fits the session better than one close to a single
    listen, so its scores add up (a track appears at most once per listen's list). Tracks the user
    just heard are dropped; equal sums keep the newest listen's track first.
    """

    name = "sum"

    def __call__(self, similar_lists: SimilarLists, heard: Iterable[int], k: int) -> ScoredItems:
        excluded = {int(item) for item in heard}
        total: dict[int, float] = {}
        for items, scores, *_ in similar_lists:
            for item, score in zip(items, scores):
                item = int(item)
                if item not in excluded:
                    total[item] = total.get(item, 0.0) + float(score)
        ranked = sorted(total.items(), key=lambda pair: -pair[1])[:k]  # stable: ties keep first-seen order
        return ScoredItems([item for item, _ in ranked], [score for _, score in ranked])


@dataclass(frozen=True)
class AlternateBlend(Blend):
    """The course rule: offline at even positions (0, 2, ...), online at odd ones, then the rest.

    The two lists are interleaved while both have items, the longer list's remainder follows,
    repeats are dropped (first place wins), and the first `k` are kept.
    """

    name = "alternate"

    def __call__(self, offline: ScoredItems, online: ScoredItems, k: int) -> list[int]:
        shared = min(len(offline.items), len(online.items))
        interleaved = [item for pair in zip(offline.items[:shared], online.items[:shared]) for item in pair]
        longer = offline.items if len(offline.items) >= len(online.items) else online.items
        return dedup(interleaved + list(longer[shared:]))[:k]


# The places of each list that the weighted blend scales its scores over: fixed, so that the blend
# ranks the first places alike however deep the lists are (pages stay stable); the replay tuned
# `online_weight` on lists of this depth.
NORMALIZED_DEPTH = 20


def normalized_scores(items: ScoredItems, depth: int = NORMALIZED_DEPTH) -> list[float]:
    """Scores rescaled to 0..1 (best = 1) over the first `depth` places, 0 below them.

    Offline scores come from the ranker and online ones from item similarity: only their order
    within a list means something, so each list is min-max scaled. A list without scores (top
    popular) gets evenly spaced scores by rank. A track deeper than `depth` counts as absent from
    the list, so a longer list never changes the first places' scores.
    """
    count = len(items.items)
    if count == 0:
        return []
    top = min(count, depth)
    if len(items.scores) != count:
        return [max(0.0, 1.0 - position / top) for position in range(count)]
    high, low = max(items.scores[:top]), min(items.scores[:top])
    if high == low:
        return [1.0] * top + [0.0] * (count - top)
    return [max(0.0, (score - low) / (high - low)) if position < top else 0.0
            for position, score in enumerate(items.scores)]


@dataclass(frozen=True)
class WeightedBlend(Blend):
    """Score-weighted blend: each track scores (1 - w) * offline + w * online, normalized 0..1.

    A track in both lists gets both parts, so agreement between the long-term taste and the
    current session moves it up; equal totals keep offline's order first (so below the places the
    scores are scaled over, the rest of the offline list follows, then the rest of the online one).
    `w` is `[serving] online_weight`.
    """

    name = "weighted"
    TUNED_WEIGHTS: ClassVar[tuple[float, ...]] = (0.3, 0.5, 0.7, 0.85)
    stable_depth = NORMALIZED_DEPTH

    online_weight: float = 0.5

    @classmethod
    def from_settings(cls, serving: ServingSettings) -> Self:
        return cls(online_weight=serving.online_weight)

    @classmethod
    def tuning_grid(cls) -> tuple[Self, ...]:
        return tuple(cls(online_weight=weight) for weight in cls.TUNED_WEIGHTS)

    def serving_values(self) -> dict[str, object]:
        return {**super().serving_values(), "online_weight": self.online_weight}

    @property
    def label(self) -> str:
        return f"{self.name} {self.online_weight:g}"

    def __call__(self, offline: ScoredItems, online: ScoredItems, k: int) -> list[int]:
        total: dict[int, float] = {}
        for weight, part in ((1.0 - self.online_weight, offline), (self.online_weight, online)):
            for item, score in zip(part.items, normalized_scores(part)):
                total[item] = total.get(item, 0.0) + weight * score
        return [item for item, _ in sorted(total.items(), key=lambda pair: -pair[1])[:k]]


MERGES: dict[str, type[OnlineMerge]] = {merge.name: merge for merge in (MaxMerge, SumMerge)}
BLENDS: dict[str, type[Blend]] = {blend.name: blend for blend in (AlternateBlend, WeightedBlend)}


def configured_merge(serving: ServingSettings) -> OnlineMerge:
    """The online merge `[serving] online_merge` names, with its options."""
    return MERGES[serving.online_merge].from_settings(serving)


def configured_blend(serving: ServingSettings) -> Blend:
    """The blend `[serving] blend` names, with its options (e.g. `online_weight`)."""
    return BLENDS[serving.blend].from_settings(serving)
