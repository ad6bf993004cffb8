"""A user's latest events as the recommender reads them: listens, skips and dislikes.

The events service stores each event with its kind (`/put?kind=`): a listen (the course's only
kind, still the default), a skip (the user moved on: a weak "not now") or a dislike (a firm "never").
The recommender treats them differently:

- listens are the online part's seeds (anchors) and what `[serving] filter_heard` drops;
- a skipped track is never a seed, and moves to the end of that user's lists;
- a disliked track is never recommended to that user again, from any route.

Dislikes are kept apart from the latest events (both stores keep up to `[events] max_dislikes_per_user`
of them), so a dislike is not forgotten when newer events push it out of the `[events] max_per_user`
window of latest events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, get_args

EventKind = Literal["listen", "skip", "dislike"]
EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)
LISTEN: EventKind = "listen"
SKIP: EventKind = "skip"
DISLIKE: EventKind = "dislike"


@dataclass(frozen=True)
class History:
    """The user's latest events (newest first, every kind) and every track the user disliked."""

    items: Sequence[int] = ()
    kinds: Sequence[EventKind] = ()  # aligned with `items`; an events service without kinds sends listens
    disliked: frozenset[int] = field(default_factory=frozenset)

    @cached_property
    def listened(self) -> list[int]:
        """Tracks of the latest listens (not skips or dislikes), newest first."""
        if not self.kinds:
            return list(self.items)
        return [item for item, kind in zip(self.items, self.kinds) if kind == LISTEN]

    @cached_property
    def skipped(self) -> frozenset[int]:
        """Tracks skipped among the latest events, unless listened to since (a later listen wins)."""
        skipped: set[int] = set()
        listened: set[int] = set()
        for item, kind in zip(self.items, self.kinds):  # newest first: the first event of a track counts
            if kind == SKIP and item not in listened:
                skipped.add(item)
            elif kind == LISTEN:
                listened.add(item)
        return frozenset(skipped)


NO_HISTORY = History()
