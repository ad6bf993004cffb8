"""Online recommendations and blend rules, as pure functions over short lists.

Kept free of HTTP and of the indexes so that each rule is tested with exact hand-made lists, and so
that a new blend strategy (for example one that the replay evaluation finds better) is one function
added to `BLENDS`, chosen by `[serving] blend` in the config.
The lists here hold at most a few hundred ids, so plain Python is both clearer and faster than numpy.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Iterable, NamedTuple, Sequence

from musicrec.settings import SettingsError


class ScoredItems(NamedTuple):
    """Items best first, with the score each was ranked by (scores may be empty when unknown)."""

    items: list[int]
    scores: list[float]


BlendFunction = Callable[[ScoredItems, ScoredItems, int], list[int]]


def dedup(items: Iterable[int]) -> list[int]:
    """Items without repeats, each kept at its first (best) place."""
    return list(dict.fromkeys(items))


def merge_similar(
    similar_lists: Sequence[tuple[Sequence[int], Sequence[float]]], heard: Iterable[int], k: int
) -> ScoredItems:
    """Online recommendations: the tracks similar to recent listens, merged by score, top `k`.

    `similar_lists` holds one (items, scores) pair per recent listen, newest listen first. A track
    similar to several listens keeps its best score; tracks the user just heard are dropped (the
    course version recommended them back). Equal scores keep the newest listen's track first.
    """
    pairs = [
        (int(item), float(score))
        for items, scores in similar_lists
        for item, score in zip(items, scores)
    ]
    pairs.sort(key=lambda pair: -pair[1])  # stable sort: ties keep their newest-listen-first order
    excluded = set(int(item) for item in heard)
    best: dict[int, float] = {}
    for item, score in pairs:
        if item not in excluded and item not in best:
            best[item] = score
            if len(best) == k:
                break
    return ScoredItems(list(best), list(best.values()))


def blend_alternate(offline: ScoredItems, online: ScoredItems, k: int) -> list[int]:
    """The course rule: offline at even positions (0, 2, ...), online at odd ones, then the rest.

    The two lists are interleaved while both have items, the longer list's remainder follows,
    repeats are dropped (first place wins), and the first `k` are kept.
    """
    shared = min(len(offline.items), len(online.items))
    interleaved = [item for pair in zip(offline.items[:shared], online.items[:shared]) for item in pair]
    longer = offline.items if len(offline.items) >= len(online.items) else online.items
    return dedup(interleaved + list(longer[shared:]))[:k]


def merge_similar_sum(
    similar_lists: Sequence[tuple[Sequence[int], Sequence[float]]], heard: Iterable[int], k: int
) -> ScoredItems:
    """Online recommendations ranked by the SUM of a track's similarity to the recent listens.

    A track close to several recent listens fits the session better than one close to a single
    listen, so its scores add up (a track appears at most once per listen's list). Tracks the user
    just heard are dropped; equal sums keep the newest listen's track first.
    """
    excluded = set(int(item) for item in heard)
    total: dict[int, float] = {}
    for items, scores in similar_lists:
        for item, score in zip(items, scores):
            item = int(item)
            if item not in excluded:
                total[item] = total.get(item, 0.0) + float(score)
    ranked = sorted(total.items(), key=lambda pair: -pair[1])[:k]  # stable: ties keep first-seen order
    return ScoredItems([item for item, _ in ranked], [score for _, score in ranked])


MergeFunction = Callable[[Sequence[tuple[Sequence[int], Sequence[float]]], Iterable[int], int], ScoredItems]
MERGES: dict[str, MergeFunction] = {"max": merge_similar, "sum": merge_similar_sum}


def _registered(registry: dict[str, Any], name: str, key: str) -> Any:
    """The function `[serving] <key>` names; an unknown name fails at start with the choices."""
    try:
        return registry[name]
    except KeyError:
        known = ", ".join(sorted(registry))
        raise SettingsError(
            f"[serving] {key} (or MUSICREC_SERVING__{key.upper()}): {name!r} is not implemented; "
            f"choose one of {known}"
        ) from None


def merge_named(name: str) -> MergeFunction:
    """The online merge `[serving] online_merge` names (max: best score, sum: summed scores)."""
    return _registered(MERGES, name, "online_merge")


def normalized_scores(items: ScoredItems) -> list[float]:
    """Scores rescaled to 0..1 (best = 1) so lists scored on different scales can be added.

    Offline scores come from the ranker and online ones from item similarity: only their order
    within a list means something, so each list is min-max scaled. A list without scores (top
    popular) gets evenly spaced scores by rank.
    """
    count = len(items.items)
    if count == 0:
        return []
    if len(items.scores) != count:
        return [1.0 - position / count for position in range(count)]
    high, low = max(items.scores), min(items.scores)
    if high == low:
        return [1.0] * count
    return [(score - low) / (high - low) for score in items.scores]


def blend_weighted(offline: ScoredItems, online: ScoredItems, k: int, online_weight: float = 0.5) -> list[int]:
    """Score-weighted blend: each track scores (1 - w) * offline + w * online, normalized 0..1.

    A track in both lists gets both parts, so agreement between the long-term taste and the
    current session moves it up; equal totals keep offline's order first.
    """
    total: dict[int, float] = {}
    for weight, part in ((1.0 - online_weight, offline), (online_weight, online)):
        for item, score in zip(part.items, normalized_scores(part)):
            total[item] = total.get(item, 0.0) + weight * score
    return [item for item, _ in sorted(total.items(), key=lambda pair: -pair[1])[:k]]


BLENDS: dict[str, BlendFunction] = {"alternate": blend_alternate, "weighted": blend_weighted}


def blend_named(name: str) -> BlendFunction:
    """The blend strategy `[serving] blend` names; a name without an implementation fails at start."""
    return _registered(BLENDS, name, "blend")


def configured_blend(name: str, online_weight: float) -> BlendFunction:
    """The blend `[serving] blend` names, with `[serving] online_weight` for the weighted one."""
    blend = blend_named(name)
    if blend is blend_weighted:
        return partial(blend_weighted, online_weight=online_weight)
    return blend
