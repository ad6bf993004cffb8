"""The features service: tracks similar to a track, from similar.parquet held in compact arrays.

Routes only translate HTTP: the work is one binary search in `RankedLists.lookup`.
Handlers are `async def` although they never await: their work is microseconds of numpy, and a
plain `def` would cost a thread-pool hop per request (a third of the offline route's throughput).
`/similar_items` is the course route (it now honours `k`); `/similar_items_batch` answers several
tracks in one call, which is how the recommendations service asks for a user's recent listens.
Both answer with a ready `JSONResponse` of their response model's shape: FastAPI would dump,
re-validate and serialize the model again on every request.
"""

from __future__ import annotations

import time
from contextlib import asynccontextmanager
from typing import Annotated, AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from musicrec import schema
from musicrec.api.factory import create_service_app, service_router
from musicrec.api.loading import log_loaded, verified_while_loading
from musicrec.api.params import INT32_MAX, ItemId, TopK, post_and_get, resolve_k
from musicrec.artifacts import current_set
from musicrec.errors import InvalidInput
from musicrec.serving.indexes import RankedLists, load_similar
from musicrec.settings import Settings

MAX_BATCH = 1000  # tracks per batch call: bounds the work one request can ask for


class SimilarItemsResponse(BaseModel):
    """The course answer: similar tracks and their scores, best first."""

    item_id_2: list[int]
    score: list[float]


class SimilarItemsBatchRequest(BaseModel):
    item_ids: list[Annotated[int, Field(ge=0, le=INT32_MAX)]] = Field(max_length=MAX_BATCH)
    k: int = Field(10, ge=1, description="Similar tracks per track: 1..[serving] max_k.")


class SimilarItemsOfTrack(SimilarItemsResponse):
    item_id: int


class SimilarItemsBatchResponse(BaseModel):
    """One entry per asked track, in the order asked (unknown tracks get empty lists)."""

    items: list[SimilarItemsOfTrack]


router = service_router("features")


def _similar(request: Request) -> RankedLists:
    return request.app.state.similar


@post_and_get(router, "/similar_items", response_model=SimilarItemsResponse)
async def similar_items(request: Request, item_id: ItemId, k: TopK = None) -> JSONResponse:
    """Up to `k` tracks similar to `item_id`, best first; an unknown track gets empty lists."""
    items, scores = _similar(request).lookup(item_id, resolve_k(request, k))
    return JSONResponse({"item_id_2": items.tolist(), "score": scores.tolist()})


@router.post("/similar_items_batch", response_model=SimilarItemsBatchResponse)
async def similar_items_batch(request: Request, body: SimilarItemsBatchRequest) -> JSONResponse:
    """The similar tracks of several tracks in one call (k per track)."""
    max_k = request.app.state.settings.serving.max_k
    if body.k > max_k:
        raise InvalidInput(f"body field 'k': must be between 1 and {max_k}, got {body.k}")
    similar = _similar(request)
    answers = []
    for item_id in body.item_ids:
        items, scores = similar.lookup(item_id, body.k)
        answers.append({"item_id": item_id, "item_id_2": items.tolist(), "score": scores.tolist()})
    return JSONResponse({"items": answers})


@asynccontextmanager
async def _load(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    started = time.perf_counter()
    folder = current_set(settings.paths.artifacts)
    with verified_while_loading(folder, required=[schema.SIMILAR_FILE], loaded=[schema.SIMILAR_FILE]):
        app.state.similar = similar = load_similar(folder)
    log_loaded("features", f"{folder / schema.SIMILAR_FILE}: {len(similar)} tracks, {similar.rows} similar "
               "pairs", started, similar.nbytes)
    yield


def create_app(settings: Settings | None = None) -> FastAPI:
    """The features app; data is loaded when the server starts, not here."""
    return create_service_app(
        name="features", title="Features: similar tracks", load=_load, routers=[router], settings=settings
    )
