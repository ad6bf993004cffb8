"""The events service: each user's latest listens, on the course API (`/put`, `/get`), port 8020.

The routes only translate HTTP into calls on the configured `EventStore` (SQLite by default, Redis
with `[events] backend = redis`); `/put` answers only after the store made the listen durable, so
an acknowledged listen survives a restart or a kill. The store is opened in the lifespan and
closed at shutdown. `/ready` is 503 while the store cannot be reached (a Redis server down), and
200 again once it can: the store reconnects by itself. `/put` takes POST only and, like `/get` (a
user's history is private), needs the API key when one is configured (`musicrec.api.access`).

`/put` is a plain `def` route, run in the thread pool: its commit waits for the disk (fsync) and
must not stall the event loop. `/get` is `async def`: it is on every blended request, and a
thread-pool hop cost more CPU than the read itself. A store whose reads are quick local lookups
(`quick_reads`, SQLite: a few rows, never waiting for the writer under WAL) is read inline on the
event loop; any other (Redis: a network round trip) is still read in the thread pool. It answers
with a ready `JSONResponse` of the `EventsResponse` shape: FastAPI would dump, re-validate and
serialize the model again on every request.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from musicrec.api.factory import create_service_app, service_router
from musicrec.api.access import Access
from musicrec.api.params import ItemId, TopK, UserId, post_and_get, post_only, resolve_k
from musicrec.api.state import ServiceState
from musicrec.api.wire import EventsResponse, PutResponse
from musicrec.serving.event_store import EventStore, open_event_store
from musicrec.settings import Settings

logger = logging.getLogger(__name__)

router = service_router("events")


class EventsState(ServiceState[EventStore]):
    """The events service's state; its plane is the opened event store."""

    async def dependency_down(self) -> str | None:
        """The store, when it cannot be reached (Redis down): no listen can be stored or read then."""
        store = self.plane
        if store.quick_reads:
            return store.unreachable()
        return await run_in_threadpool(store.unreachable)


@post_only(router, "/put", response_model=PutResponse)
def put_listen(request: Request, user_id: UserId, item_id: ItemId) -> PutResponse:
    """Record that the user just listened to the track."""
    EventsState.of(request).plane.put(user_id, item_id)
    return {"result": "ok"}


@post_and_get(router, "/get", response_model=EventsResponse, access=Access.PRIVATE)
async def get_listens(request: Request, user_id: UserId, k: TopK = None) -> JSONResponse:
    """The user's latest listens, newest first (empty for a user with none)."""
    store, count = EventsState.of(request).plane, resolve_k(request, k)
    if store.quick_reads:
        listens = store.get(user_id, count)
    else:
        listens = await run_in_threadpool(store.get, user_id, count)
    answer: EventsResponse = {
        "events": [listen.item_id for listen in listens],
        "listened_at": [listen.listened_at for listen in listens],
    }
    return JSONResponse(answer)


@asynccontextmanager
async def open_store(state: EventsState) -> AsyncIterator[None]:
    """Open the configured store for the app's lifetime and log what it holds."""
    store = open_event_store(state.settings.events)
    try:
        logger.info("events store opened: %s", store.describe())
        state.plane = store
        yield
    finally:
        store.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        name="events",
        title="Events service: recent listens per user",
        state=EventsState,
        load=open_store,
        routers=[router],
        settings=settings,
    )
