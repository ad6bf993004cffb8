"""The events service: each user's latest events, on the course API (`/put`, `/get`), port 8020.

An event is a listen unless `/put` says `kind=skip` or `kind=dislike` (`musicrec.serving.history`);
`/get` answers each event's kind and every track the user disliked besides the course's `events`.

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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from musicrec.api.access import Access
from musicrec.api.factory import create_service_app, service_router
from musicrec.api.params import ItemId, TopK, UserId, post_and_get, post_only, resolve_k
from musicrec.api.routing import on_fastapis_handler
from musicrec.api.state import ServiceState
from musicrec.api.wire import EventsResponse, PutResponse
from musicrec.serving.event_backends import open_event_store
from musicrec.serving.event_store import EventStore, Listen
from musicrec.serving.history import LISTEN, EventKind
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


Kind = Annotated[EventKind, Query(
    description="listen (the default), skip (never an online anchor; moves down in the user's lists) or "
                "dislike (never recommended to the user again).")]


@post_only(router, "/put", response_model=PutResponse)
@on_fastapis_handler("a plain def: the store's write blocks (SQLite commits to disk), so FastAPI runs it in its "
                     "thread pool")
def put_listen(request: Request, user_id: UserId, item_id: ItemId, kind: Kind = LISTEN) -> PutResponse:
    """Record that the user just listened to the track (or skipped or disliked it)."""
    EventsState.of(request).plane.put(user_id, item_id, kind=kind)
    return {"result": "ok"}


@post_and_get(router, "/get", response_model=EventsResponse, access=Access.PRIVATE)
async def get_listens(request: Request, user_id: UserId, k: TopK = None) -> JSONResponse:
    """The user's latest events, newest first, with their kinds, and the tracks the user disliked."""
    store, count = EventsState.of(request).plane, resolve_k(request, k)
    if store.quick_reads:
        listens, disliked = store.get(user_id, count), store.disliked(user_id)
    else:
        listens, disliked = await run_in_threadpool(_read, store, user_id, count)
    answer: EventsResponse = {
        "events": [listen.item_id for listen in listens],
        "listened_at": [listen.listened_at for listen in listens],
        "kinds": [listen.kind for listen in listens],
        "disliked": disliked,
    }
    return JSONResponse(answer)


def _read(store: EventStore, user_id: int, k: int) -> tuple[list[Listen], list[int]]:
    """Both reads of `/get` in one trip to the thread pool."""
    return store.get(user_id, k), store.disliked(user_id)


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
