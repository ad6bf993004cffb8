"""The features service: tracks similar to a track, from similar.parquet held in compact arrays.

Routes only translate HTTP: the work is one lookup in `RankedLists` per track. A track the
catalogue (the set's optional items.parquet) names but similar.parquet has no list for, a new
release, gets similar tracks by its album, artists and genres instead (`musicrec.serving.content`);
such an answer also says each track's `relations` to it.
Handlers are `async def` although they never await: their work is microseconds of numpy, less
than the thread-pool hop a plain `def` costs per request.
`/similar_items` is the course route (it now honours `k`); `/similar_items_batch` answers several
tracks in one call, which is how the recommendations service asks for a user's recent listens.
Both answer with a ready `JSONResponse` of their wire type, because FastAPI would otherwise
validate and serialize the answer again on every request.
"""

from __future__ import annotations

import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from musicrec import schema
from musicrec.api.factory import create_service_app, service_router
from musicrec.api.loading import describe_source, log_loaded
from musicrec.api.params import ItemId, TopK, post_and_get, resolve_k
from musicrec.api.reloading import ArtifactSetHeader, SetPlane, SetReloader, reload_router, serving_sets
from musicrec.api.state import ServiceState
from musicrec.api.wire import (
    SimilarItemsBatchRequest,
    SimilarItemsBatchResponse,
    SimilarItemsOfTrack,
    SimilarItemsResponse,
)
from musicrec.errors import InvalidInput
from musicrec.serving.content import SimilarIndex
from musicrec.serving.set_indexes import SetIndexes, open_set_indexes
from musicrec.settings import Settings


@dataclass(frozen=True)
class FeaturesPlane(SetPlane):
    """What the service answers from: the similar tracks of one artifact set, learned or by content."""

    similar: SimilarIndex

    def lookup(self, item_id: int, k: int) -> SimilarItemsOfTrack:
        """The learned list of the track, or its list by content when it is a new one."""
        items, scores, relations = self.similar.lookup(item_id, k)
        answer: SimilarItemsOfTrack = {"item_id": item_id, "item_id_2": items, "score": scores}
        if relations is not None:
            answer["relations"] = relations
        return answer


class FeaturesState(ServiceState[FeaturesPlane]):
    """The features service's state; its plane is made from the current artifact set."""


router = service_router("features")


@post_and_get(router, "/similar_items", response_model=SimilarItemsResponse)
async def similar_items(request: Request, item_id: ItemId, k: TopK = None) -> JSONResponse:
    """Up to `k` tracks similar to `item_id`, best first; an unknown track gets empty lists."""
    plane = FeaturesState.of(request).plane
    found = plane.lookup(item_id, resolve_k(request, k))
    answer: SimilarItemsResponse = {"item_id_2": found["item_id_2"], "score": found["score"]}
    if "relations" in found:
        answer["relations"] = found["relations"]
    return JSONResponse(answer, headers=plane.headers)


@router.post("/similar_items_batch", response_model=SimilarItemsBatchResponse)
async def similar_items_batch(request: Request, body: SimilarItemsBatchRequest) -> JSONResponse:
    """The similar tracks of several tracks in one call (k per track)."""
    state = FeaturesState.of(request)
    max_k = state.settings.serving.max_k
    if body.k > max_k:
        raise InvalidInput(f"body field 'k': must be between 1 and {max_k}, got {body.k}")
    plane = state.plane
    answer: SimilarItemsBatchResponse = {"items": [plane.lookup(item_id, body.k) for item_id in body.item_ids]}
    return JSONResponse(answer, headers=plane.headers)


def open_set(folder: Path) -> SetIndexes:
    """The serving indexes of the set in `folder` that this service reads, size-checked."""
    return open_set_indexes(folder, required=[schema.SIMILAR_FILE], optional=[schema.ITEMS_FILE])


def load_plane(indexes: SetIndexes, settings: Settings) -> FeaturesPlane:
    """The similar-tracks index of one set, mapped and logged, and the new tracks' lists by content."""
    started = time.perf_counter()
    similar = SimilarIndex.of(indexes.similar(), indexes.catalog(), settings.serving.max_k)
    learned = similar.learned
    log_loaded("features", f"{indexes.set_folder / schema.SIMILAR_FILE}: {len(learned)} tracks, {learned.rows} "
               f"similar pairs; {similar.new_tracks} new tracks get similar tracks by content, "
               f"{describe_source(indexes)}", started, learned.nbytes)
    return FeaturesPlane(artifact_set=indexes.name, similar=similar)


def _load(state: FeaturesState) -> AbstractAsyncContextManager[None]:
    return serving_sets(SetReloader(state, "features", open_set,
                                    lambda indexes: load_plane(indexes, state.settings)))


def create_app(settings: Settings | None = None) -> FastAPI:
    """The features app; data is loaded when the server starts, not here."""
    app = create_service_app(
        name="features", title="Features: similar tracks", state=FeaturesState, load=_load,
        routers=[router, reload_router()], settings=settings,
    )
    app.add_middleware(ArtifactSetHeader, state=FeaturesState.of_app(app))
    return app
