"""The recommendations service: default, offline, online and blended recommendations (course API).

Routes translate HTTP into `Recommender` calls and answers into `{"recs": [...], "degraded": ...}`;
they also count default, empty-online and degraded answers for Prometheus. With `details=true`
each answer also names every track, its artists and genres (from items.parquet when the set has it)
and why it is there (musicrec.serving.reasons). The web page and its routes are in musicrec.api.page.
Handlers are `async def` although the default and offline ones never await: their work is
microseconds of numpy, less than the thread-pool hop a plain `def` costs per request. They hand
FastAPI a ready `JSONResponse` of the `RecsResponse` shape, because FastAPI would otherwise dump,
re-validate and serialize a model on every request; `response_model` still documents the answer,
and the contract tests check it.

With an A/B experiment configured (`[experiments]`, musicrec.serving.experiments), every answer
for a user comes from the recommender of the user's arm, names the arm (the `X-Experiment-Arm`
header, and `arm` with details), is counted per arm for Prometheus and written to the exposure log
(musicrec.api.exposures). The default list has no user, so it is outside any experiment.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Protocol, TypeVar

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response

from musicrec import schema
from musicrec.api.clients import EventsClient, FeaturesClient, ServiceClient
from musicrec.api.exposures import ExposureLog
from musicrec.api.factory import Loader, create_service_app, service_router
from musicrec.api.loading import describe_source, log_loaded
from musicrec.api.page import ListenRecorder, PagePlane, load_page_plane, page_router, serve_page
from musicrec.api.params import (
    Artist,
    Exclude,
    Filters,
    Genre,
    MaxPerArtist,
    Offset,
    TopK,
    UserId,
    list_options,
    post_and_get,
    resolve_k,
)
from musicrec.api.prometheus import service_counter
from musicrec.api.reloading import ArtifactSetHeader, SetPlane, SetReloader, reload_router, serving_sets
from musicrec.api.state import ServiceState
from musicrec.api.strategies import BLENDED, DEFAULT, OFFLINE, ONLINE
from musicrec.api.wire import RecsResponse, track_info
from musicrec.serving.catalog import TrackCatalog
from musicrec.serving.experiments import Experiment, arm_settings, configured_experiment
from musicrec.serving.facets import TrackFacets
from musicrec.serving.reasons import Explainer
from musicrec.serving.recommender import (
    Answer,
    Recommender,
    SimilarTracks,
    UserEvents,
    build_recommender,
)
from musicrec.serving.set_indexes import SetIndexes, open_set_indexes
from musicrec.settings import Settings

ARM_HEADER = "X-Experiment-Arm"
Details = Annotated[bool, Query(description="Add each track's name, artists, genres and reason.")]


class ListenStore(UserEvents, ListenRecorder, Protocol):
    """The events service as this one uses it: the user's events for the lists, and the page's events."""


@dataclass(frozen=True)
class RecommendationsPlane(SetPlane):
    """What the service answers from, all made from one artifact set: with an experiment, one
    recommender per arm besides the one of `[serving]` (for the default list)."""

    recommender: Recommender
    catalog: TrackCatalog
    explainer: Explainer
    page: PagePlane
    experiment: Experiment | None = None
    arms: Mapping[str, Recommender] = field(default_factory=dict)

    def for_user(self, user_id: int) -> tuple[Recommender, str | None]:
        """The recommender that answers the user, and the user's arm (None without an experiment)."""
        if self.experiment is None:
            return self.recommender, None
        arm = self.experiment.arm_of(user_id)
        return self.arms[arm], arm


class RecommendationsState(ServiceState[RecommendationsPlane]):
    """The recommendations service's state: its plane and the answer counters of `/metrics`."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        registry = self.metrics_registry
        self.default_answers = service_counter(
            registry, "recommendations_default_answers", "Answers from top popular for a user without "
            "personal recommendations.", ["route"])
        self.online_empty_answers = service_counter(
            registry, "recommendations_online_empty_answers", "Answers whose online part was empty.",
            ["route"])
        self.degraded_answers = service_counter(
            registry, "recommendations_degraded_answers", "Answers made without a dependency that failed.",
            ["route", "dependency"])
        self.arm_answers = service_counter(
            registry, "recommendations_experiment_answers", "Answers of each arm of the A/B experiment.",
            ["arm", "route"])
        self.exposures: ExposureLog | None = None  # open while the app runs, with an experiment


router = service_router("recommendations")


def _respond(state: RecommendationsState, plane: RecommendationsPlane, route: str, answer: Answer,
             details: bool, user_id: int | None = None, arm: str | None = None) -> Response:
    """Count what the answer was made of (and its arm, logging the exposure) and shape it for the caller."""
    if answer.used_default:
        state.default_answers.labels(route).inc()
    if answer.online_empty:
        state.online_empty_answers.labels(route).inc()
    for dependency in answer.failed:
        state.degraded_answers.labels(route, dependency).inc()
    content: RecsResponse = {"recs": answer.recs, "degraded": answer.degraded}
    headers = plane.headers
    if arm is not None and user_id is not None:
        state.arm_answers.labels(arm, route).inc()
        if state.exposures is not None:
            state.exposures.record(user_id, arm, route, answer.recs)
        headers = {**headers, ARM_HEADER: arm}
    if details:
        reasons = plane.explainer.reasons(answer.recs, answer.origin, offline_fallback=answer.used_default)
        content["details"] = [track_info(track, reason)
                              for track, reason in zip(plane.catalog.details(answer.recs), reasons)]
        if arm is not None:
            content["arm"] = arm
    return JSONResponse(content, headers=headers)


# Every recommendation route takes the list options (musicrec.serving.selection) as query parameters,
# and on POST an optional JSON body with more of them: `ListFilters`.
@post_and_get(router, DEFAULT.path, response_model=RecsResponse, post_body="filters")
async def recommendations_default(
    request: Request, k: TopK = None, details: Details = False, exclude: Exclude = None, genre: Genre = None,
    artist: Artist = None, offset: Offset = 0, max_per_artist: MaxPerArtist = None, filters: Filters = None,
) -> Response:
    """Top popular tracks: for a new visitor."""
    state = RecommendationsState.of(request)
    plane = state.plane
    options = list_options(exclude, genre, artist, offset, max_per_artist, filters)
    answer = await DEFAULT.ask(plane.recommender, 0, resolve_k(request, k), options)
    return _respond(state, plane, DEFAULT.name, answer, details)


@post_and_get(router, OFFLINE.path, response_model=RecsResponse, post_body="filters")
async def recommendations_offline(
    request: Request, user_id: UserId, k: TopK = None, details: Details = False, exclude: Exclude = None,
    genre: Genre = None, artist: Artist = None, offset: Offset = 0, max_per_artist: MaxPerArtist = None,
    filters: Filters = None,
) -> Response:
    """Personal recommendations computed offline (without the user's dislikes); top popular for an unknown user."""
    state = RecommendationsState.of(request)
    plane = state.plane
    options = list_options(exclude, genre, artist, offset, max_per_artist, filters)
    recommender, arm = plane.for_user(user_id)
    answer = await OFFLINE.ask(recommender, user_id, resolve_k(request, k), options)
    return _respond(state, plane, OFFLINE.name, answer, details, user_id, arm)


@post_and_get(router, ONLINE.path, response_model=RecsResponse, post_body="filters")
async def recommendations_online(
    request: Request, user_id: UserId, k: TopK = None, details: Details = False, exclude: Exclude = None,
    genre: Genre = None, artist: Artist = None, offset: Offset = 0, max_per_artist: MaxPerArtist = None,
    filters: Filters = None,
) -> Response:
    """Tracks similar to the user's latest listens (empty without listens)."""
    state = RecommendationsState.of(request)
    plane = state.plane
    options = list_options(exclude, genre, artist, offset, max_per_artist, filters)
    recommender, arm = plane.for_user(user_id)
    answer = await ONLINE.ask(recommender, user_id, resolve_k(request, k), options)
    return _respond(state, plane, ONLINE.name, answer, details, user_id, arm)


@post_and_get(router, BLENDED.path, response_model=RecsResponse, post_body="filters")
async def recommendations(
    request: Request, user_id: UserId, k: TopK = None, details: Details = False, exclude: Exclude = None,
    genre: Genre = None, artist: Artist = None, offset: Offset = 0, max_per_artist: MaxPerArtist = None,
    filters: Filters = None,
) -> Response:
    """Blended recommendations: offline and online combined by the rule `[serving] blend` names."""
    state = RecommendationsState.of(request)
    plane = state.plane
    options = list_options(exclude, genre, artist, offset, max_per_artist, filters)
    recommender, arm = plane.for_user(user_id)
    answer = await BLENDED.ask(recommender, user_id, resolve_k(request, k), options)
    return _respond(state, plane, BLENDED.name, answer, details, user_id, arm)


def open_set(folder: Path) -> SetIndexes:
    """The serving indexes of the set in `folder` that this service reads, size-checked."""
    return open_set_indexes(folder, required=[schema.RECOMMENDATIONS_FILE, schema.TOP_POPULAR_FILE],
                            optional=[schema.ITEMS_FILE])


def load_plane(indexes: SetIndexes, settings: Settings, listens: ListenStore, similar: SimilarTracks
               ) -> RecommendationsPlane:
    """The plane of one set, mapped and logged; it asks `listens` and `similar`."""
    started = time.perf_counter()
    personal = indexes.recommendations()
    popular = indexes.top_popular()
    catalog = indexes.catalog()
    sources = indexes.offline_sources(personal)
    page = load_page_plane(indexes.set_folder, settings, personal, catalog, indexes.search(catalog, popular),
                           listens)
    log_loaded("recommendations", f"{indexes.set_folder}: {len(personal)} users, {personal.rows} "
               f"recommendations; {len(popular)} top popular; {len(catalog)} named tracks, "
               f"{describe_source(indexes)}; search index {page.search.nbytes / 2**20:.0f} MiB",
               started, personal.nbytes)
    facets = TrackFacets.of(catalog)
    recommender = build_recommender(personal, popular, listens, similar, settings, facets)
    experiment = configured_experiment(settings)
    arms = {arm: build_recommender(personal, popular, listens, similar, arm_settings(settings, arm), facets)
            for arm in (experiment.arms if experiment else ())}
    return RecommendationsPlane(artifact_set=indexes.name, recommender=recommender, catalog=catalog,
                                explainer=Explainer(catalog, sources, frozenset(popular.tolist())), page=page,
                                experiment=experiment, arms=arms)


Client = TypeVar("Client", bound=ServiceClient)


def _closed_at_exit(stack: AsyncExitStack, client: Client) -> Client:
    stack.push_async_callback(client.aclose)
    return client


def _loader(listens: ListenStore | None, similar: SimilarTracks | None) -> Loader[RecommendationsState]:
    @asynccontextmanager
    async def load(state: RecommendationsState) -> AsyncIterator[None]:
        settings = state.settings
        async with AsyncExitStack() as opened:
            urls, serving = settings.urls, settings.serving
            recent = listens or _closed_at_exit(opened, EventsClient(urls.events_store_url, serving))
            tracks = similar or _closed_at_exit(opened, FeaturesClient(urls.features_store_url, serving))
            def build(indexes: SetIndexes) -> RecommendationsPlane:
                return load_plane(indexes, settings, recent, tracks)

            experiment = settings.experiments
            if experiment.name:
                state.exposures = opened.enter_context(
                    ExposureLog(experiment.exposure_log, experiment.name).opened())
            async with serving_sets(SetReloader(state, "recommendations", open_set, build)):
                yield

    return load


def _page_of(request: Request) -> PagePlane:
    return RecommendationsState.of(request).plane.page


def create_app(
    settings: Settings | None = None,
    listens: ListenStore | None = None,
    similar: SimilarTracks | None = None,
) -> FastAPI:
    """The recommendations app; data is loaded when the server starts, not here.

    `listens` and `similar` replace the events and features services in unit tests; the services
    leave them None and get HTTP clients of the URLs in the settings.
    """
    app = create_service_app(
        name="recommendations", title="Recommendations: default, offline, online, blended",
        state=RecommendationsState, load=_loader(listens, similar), settings=settings,
        routers=[router, reload_router(), page_router(_page_of)],
    )
    serve_page(app)
    app.add_middleware(ArtifactSetHeader, state=RecommendationsState.of_app(app))
    return app
