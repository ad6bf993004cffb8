"""The recommendations service: default, offline, online and blended recommendations (course API).

Routes translate HTTP into `Recommender` calls and answers into `{"recs": [...], "degraded": ...}`;
they also count default, empty-online and degraded answers for Prometheus. With `details=true`
each answer also names every track and its artists (from items.parquet when the set has it).
Handlers are `async def` although they never await: their work is microseconds of numpy, and a
plain `def` would cost a thread-pool hop per request (a third of the offline route's throughput).
They hand FastAPI a ready `JSONResponse` of the `RecsResponse` shape instead of the model: FastAPI
would otherwise dump, re-validate and serialize the model on every request (3% of the offline
route's CPU); `response_model` still documents the answer, and the contract tests check it.
"""

from __future__ import annotations

import time
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Annotated, AsyncIterator, TypeVar

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from musicrec import schema
from musicrec.api.clients import EventsClient, FeaturesClient, ServiceClient
from musicrec.api.factory import Loader, create_service_app, service_router
from musicrec.api.loading import log_loaded, verified_while_loading
from musicrec.api.metrics import service_counter
from musicrec.api.params import TopK, UserId, post_and_get, resolve_k
from musicrec.artifacts import current_set
from musicrec.serving.catalog import Catalog, load_catalog
from musicrec.serving.indexes import load_recommendations, load_top_popular
from musicrec.serving.recommender import (
    Answer,
    RecentListens,
    Recommender,
    SimilarTracks,
    build_recommender,
)
from musicrec.settings import Settings

Details = Annotated[bool, Query(description="Add each track's name and artists to the answer.")]


class TrackInfo(BaseModel):
    item_id: int
    name: str | None
    artists: list[str]


class RecsResponse(BaseModel):
    """The course answer `recs`, plus `degraded` (a dependency failed) and optional `details`."""

    recs: list[int]
    degraded: bool = False
    details: list[TrackInfo] | None = None


router = service_router("recommendations")


def _respond(request: Request, route: str, answer: Answer, details: bool) -> Response:
    """Count what the answer was made of and shape it for the caller."""
    state = request.app.state
    if answer.used_default:
        state.default_answers.labels(route).inc()
    if answer.online_empty:
        state.online_empty_answers.labels(route).inc()
    for dependency in answer.failed:
        state.degraded_answers.labels(route, dependency).inc()
    content: dict[str, object] = {"recs": answer.recs, "degraded": answer.degraded}
    if details:
        catalog: Catalog = state.catalog
        content["details"] = [vars(track) for track in catalog.details(answer.recs)]
    return JSONResponse(content)


def _recommender(request: Request) -> Recommender:
    return request.app.state.recommender


@post_and_get(router, "/recommendations_default", response_model=RecsResponse)
async def recommendations_default(request: Request, k: TopK = None, details: Details = False) -> Response:
    """Top popular tracks: for a new visitor."""
    answer = _recommender(request).default(resolve_k(request, k))
    return _respond(request, "default", answer, details)


@post_and_get(router, "/recommendations_offline", response_model=RecsResponse)
async def recommendations_offline(
    request: Request, user_id: UserId, k: TopK = None, details: Details = False
) -> Response:
    """Personal recommendations computed offline; top popular for an unknown user."""
    answer = _recommender(request).offline(user_id, resolve_k(request, k))
    return _respond(request, "offline", answer, details)


@post_and_get(router, "/recommendations_online", response_model=RecsResponse)
async def recommendations_online(
    request: Request, user_id: UserId, k: TopK = None, details: Details = False
) -> Response:
    """Tracks similar to the user's latest listens (empty without listens)."""
    answer = await _recommender(request).online(user_id, resolve_k(request, k))
    return _respond(request, "online", answer, details)


@post_and_get(router, "/recommendations", response_model=RecsResponse)
async def recommendations(
    request: Request, user_id: UserId, k: TopK = None, details: Details = False
) -> Response:
    """Offline and online blended by `[serving] blend` (the course rule by default)."""
    answer = await _recommender(request).blended(user_id, resolve_k(request, k))
    return _respond(request, "blended", answer, details)


def _add_counters(app: FastAPI) -> None:
    state = app.state
    state.default_answers = service_counter(
        app, "recommendations_default_answers", "Answers from top popular for a user without personal "
        "recommendations.", ["route"])
    state.online_empty_answers = service_counter(
        app, "recommendations_online_empty_answers", "Answers whose online part was empty.", ["route"])
    state.degraded_answers = service_counter(
        app, "recommendations_degraded_answers", "Answers made without a dependency that failed.",
        ["route", "dependency"])


Client = TypeVar("Client", bound=ServiceClient)


def _closed_at_exit(stack: AsyncExitStack, client: Client) -> Client:
    stack.push_async_callback(client.aclose)
    return client


def _loader(listens: RecentListens | None, similar: SimilarTracks | None) -> Loader:
    @asynccontextmanager
    async def load(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
        started = time.perf_counter()
        folder = current_set(settings.paths.artifacts)
        required = [schema.RECOMMENDATIONS_FILE, schema.TOP_POPULAR_FILE]
        with verified_while_loading(folder, required=required, loaded=[*required, schema.ITEMS_FILE]):
            personal = load_recommendations(folder)
            popular = load_top_popular(folder)
            app.state.catalog = catalog = load_catalog(folder)
        log_loaded("recommendations", f"{folder}: {len(personal)} users, {personal.rows} recommendations; "
                   f"{len(popular)} top popular; {len(catalog)} named tracks", started, personal.nbytes)
        async with AsyncExitStack() as opened:
            urls, serving = settings.urls, settings.serving
            recent = listens or _closed_at_exit(opened, EventsClient(urls.events_store_url, serving))
            tracks = similar or _closed_at_exit(opened, FeaturesClient(urls.features_store_url, serving))
            app.state.recommender = build_recommender(personal, popular, recent, tracks, settings)
            yield

    return load


def create_app(
    settings: Settings | None = None,
    listens: RecentListens | None = None,
    similar: SimilarTracks | None = None,
) -> FastAPI:
    """The recommendations app; data is loaded when the server starts, not here.

    `listens` and `similar` replace the events and features services in unit tests; the services
    leave them None and get HTTP clients of the URLs in the settings.
    """
    app = create_service_app(
        name="recommendations", title="Recommendations: default, offline, online, blended",
        load=_loader(listens, similar), routers=[router], settings=settings,
    )
    _add_counters(app)
    return app
