"""Online recommendations and blend rules, as pure functions over short lists.

Kept free of HTTP and of the indexes so that each rule is tested with exact hand-made lists, and so
that a new blend strategy (for example one that the replay evaluation finds better) is one function
added to `BLENDS`, chosen by `[serving] blend` in the config.
The lists here hold at most a few hundred ids, so plain Python is both clearer and faster than numpy.
"""

from __future__ import annotations

from typing import Callable, Iterable, NamedTuple, Sequence

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


BLENDS: dict[str, BlendFunction] = {"alternate": blend_alternate}


def blend_named(name: str) -> BlendFunction:
    """The blend strategy `[serving] blend` names; a name without an implementation fails at start."""
    try:
        return BLENDS[name]
    except KeyError:
        known = ", ".join(sorted(BLENDS))
        raise SettingsError(
            f"[serving] blend (or MUSICREC_SERVING__BLEND): {name!r} is not implemented; choose one of {known}"
        ) from None
