"""The event store `[events] backend` names: SQLite on one machine, Redis for replicas."""

from __future__ import annotations

from musicrec.serving.event_store import EventStore
from musicrec.serving.sqlite_events import SqliteEventStore
from musicrec.settings import EventSettings


def open_event_store(settings: EventSettings) -> EventStore:
    """The backend `[events] backend` names, opened with its settings.

    Redis's client is imported only when the settings ask for it.
    """
    if settings.backend == "redis":
        from musicrec.serving.redis_events import RedisEventStore

        return RedisEventStore(settings.redis_url, max_per_user=settings.max_per_user,
                               max_dislikes=settings.max_dislikes_per_user)
    return SqliteEventStore(settings.sqlite_path, max_per_user=settings.max_per_user,
                            max_dislikes=settings.max_dislikes_per_user)
