"""The web page at the recommendations service's `/`, and the few read routes it needs besides the API.

The page (static files in musicrec/web/, no build step) calls only public routes: the course routes
with `details=true`, and these:

- `GET /search_tracks?q=&k=`: tracks whose name or artists contain `q` (musicrec.serving.search);
- `GET /sample_user?kind=known|cold|long`: a user to try;
- `GET /about`: the artifact set's name and date, its offline quality (metrics.json), the docs links,
  and the serving options the page shows (the cap per artist of blended lists);
- `POST /listen?user_id=&item_id=[&kind=skip|dislike]`: records a listen (or a skip, or a dislike)
  through the events service, so the page never calls another origin (no cross-origin requests, no
  CORS to configure).

They follow the API's key rules (musicrec.api.access): `/listen` is a write and needs the key when
one is set, the reads need it with `open_reads = false`; the page asks for the key when it gets a 401.
The page and its files stay open, as `/docs` does. What the routes answer from is one `PagePlane`,
made from the same artifact set as the lists.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Protocol

import numpy as np
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from musicrec import schema
from musicrec.api.factory import service_router
from musicrec.api.params import ItemId, TopK, UserId, post_only, resolve_k
from musicrec.api.wire import AboutResponse, ListenerResponse, PutResponse, TracksResponse, track_info
from musicrec.errors import ArtifactError
from musicrec.manifest import read_manifest, settings_tuned
from musicrec.serving.catalog import TrackCatalog
from musicrec.serving.history import LISTEN, EventKind
from musicrec.serving.indexes import RankedLists
from musicrec.serving.listeners import Kind, ListenerSampler, load_listener_sampler
from musicrec.serving.search import TrackSearch
from musicrec.settings import Settings

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
STATIC_PATH = "/web"

SearchText = Annotated[str, Query(min_length=1, max_length=100,
                                  description="Words of a track or artist name; the last may be unfinished.")]
ListenerKind = Annotated[Kind, Query(description="known: has a personal list; cold: a new user; "
                                                 "long: one of the heaviest listeners.")]


EventKindParam = Annotated[EventKind, Query(description="listen (the default), skip or dislike.")]


class ListenRecorder(Protocol):
    async def put(self, user_id: int, item_id: int, kind: EventKind = LISTEN) -> None:
        """Store an event; DependencyUnavailable when the events service cannot."""
        ...


@dataclass(frozen=True)
class PagePlane:
    """What the page's routes answer from, made from one artifact set."""

    catalog: TrackCatalog
    search: TrackSearch
    listeners: ListenerSampler
    about: AboutResponse
    recorder: ListenRecorder
    rng: np.random.Generator


def load_page_plane(folder: Path, settings: Settings, personal: RankedLists, catalog: TrackCatalog,
                    search: TrackSearch, recorder: ListenRecorder) -> PagePlane:
    """The page's indexes (search, listeners) and what it shows about the set in `folder`."""
    return PagePlane(
        catalog=catalog, search=search,
        listeners=load_listener_sampler(folder, personal), about=_about(folder, settings),
        recorder=recorder, rng=np.random.default_rng(),
    )


def _about(folder: Path, settings: Settings) -> AboutResponse:
    manifest = read_manifest(folder) or {}
    urls = settings.urls
    serving = settings.serving
    return AboutResponse(
        artifact_set={"name": folder.name, "created_at": manifest.get("created_at"),
                      "tuned": settings_tuned(manifest)},
        quality=_quality(folder / schema.METRICS_FILE),
        docs={"recommendations": "/docs", "features": f"{urls.features_store_url}/docs",
              "events": f"{urls.events_store_url}/docs"},
        serving={"max_per_artist": serving.max_per_artist, "filter_heard": serving.filter_heard},
    )


def _quality(path: Path) -> dict[str, Any] | None:
    """metrics.json as the pipeline wrote it (optional: a course folder has none)."""
    if not path.is_file():
        return None
    try:
        quality = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{path} is unreadable ({exc}); make it with: {schema.MAKE_ARTIFACTS_COMMAND}"
                            ) from None
    return quality if isinstance(quality, dict) else None


def page_router(page_of: Callable[[Request], PagePlane]) -> APIRouter:
    """The page's routes; `page_of(request)` is the current plane."""
    router = service_router("web page")

    @router.get("/search_tracks", response_model=TracksResponse)
    async def search_tracks(request: Request, q: SearchText, k: TopK = None) -> Response:
        """Tracks whose name or artists contain `q` (any case): titles starting with it first."""
        plane = page_of(request)
        found = plane.search.find(q, resolve_k(request, k))
        tracks = [track_info(track) for track in plane.catalog.details(found)]
        return JSONResponse(TracksResponse(tracks=tracks))

    @router.get("/sample_user", response_model=ListenerResponse)
    async def sample_user(request: Request, kind: ListenerKind = "known") -> Response:
        """A user to try the service with (404 when the artifact set has none of that kind)."""
        plane = page_of(request)
        listener = plane.listeners.pick(kind, plane.rng)
        return JSONResponse(ListenerResponse(user_id=listener.user_id, kind=listener.kind,
                                             listens=listener.listens))

    @router.get("/about", response_model=AboutResponse)
    async def about(request: Request) -> Response:
        """The artifact set served, its offline quality (metrics.json), and each service's docs."""
        return JSONResponse(page_of(request).about)

    @post_only(router, "/listen", response_model=PutResponse)
    async def listen(request: Request, user_id: UserId, item_id: ItemId, kind: EventKindParam = LISTEN
                     ) -> Response:
        """Record that the user listened to (or skipped, or disliked) the track, through the events
        service (503 if it is down)."""
        await page_of(request).recorder.put(user_id, item_id, kind)
        return JSONResponse(PutResponse(result="ok"))

    return router


def serve_page(app: FastAPI) -> None:
    """The page at `/` and its scripts and styles under /web/, open like /docs (no key needed).

    Added after the service's routes, so the mount shadows none of them.
    """
    async def page() -> Response:
        return FileResponse(WEB_DIR / "index.html")

    app.add_api_route("/", page, methods=["GET"], include_in_schema=False)
    app.mount(STATIC_PATH, StaticFiles(directory=WEB_DIR), name="web")
