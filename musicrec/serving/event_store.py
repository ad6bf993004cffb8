"""Where the events service keeps each user's latest events, and how to open the configured one.

An event is a listen (the course's only kind), a skip or a dislike (`musicrec.serving.history`).
Two backends keep the same promise: `put` returns only once the event is stored durably (SQLite:
committed and synced; Redis: accepted by the server, durable per its own persistence settings),
each user keeps exactly the latest `[events] max_per_user` events, newest first, and every disliked
track (up to `[events] max_dislikes_per_user`, the latest kept) in a set of its own, so that a
dislike outlives the window of latest events. SQLite is the default (one process, no server to
run); Redis lets several replicas share one store.

The interface is synchronous on purpose, so a store only has to be thread-safe, not async: the
service runs `put` (which waits for the disk) in FastAPI's thread pool, and `get` on the event loop
itself when the store says its reads are quick (`quick_reads`), saving a thread hop per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

from musicrec.serving.history import LISTEN, EventKind


@dataclass(frozen=True)
class Listen:
    """One event: which track, when (unix seconds), and its kind (a listen unless said otherwise)."""

    item_id: int
    listened_at: float
    kind: EventKind = LISTEN


class EventStore(Protocol):
    """A user's recent listens. Implementations must be safe to call from many threads at once."""

    quick_reads: ClassVar[bool]
    """True when `get` never waits on the network or a lock, so it may run on the event loop."""

    def put(self, user_id: int, item_id: int, listened_at: float | None = None, kind: EventKind = LISTEN) -> None:
        """Store an event (now, if no time is given); a dislike joins the disliked set too. Durable on return."""

    def get(self, user_id: int, k: int) -> list[Listen]:
        """At most `k` latest events of the user, newest first; `[]` for an unknown user or `k < 1`."""

    def disliked(self, user_id: int) -> list[int]:
        """Every track the user disliked (the latest `max_dislikes_per_user`), newest first."""

    def describe(self) -> str:
        """What was opened and what it holds, for the start-up log (may scan: call it once)."""

    def unreachable(self) -> str | None:
        """Why the store cannot be used right now, or None when it can; asked by `/ready`, so cheap."""

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
