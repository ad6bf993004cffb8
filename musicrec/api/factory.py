"""The one way the three services are built: lifespan loading, health, readiness, metrics, errors.

A service supplies what differs (its name, routes on a `service_router`, its `ServiceState` and how
to load its data plane into it) and gets the rest:

    @asynccontextmanager
    async def load(state: FeaturesState) -> AsyncIterator[None]:
        state.plane = load_similar(state.settings.paths.artifacts)   # logs rows and files
        yield
        # release what was opened (files, connections) here

    app = create_service_app(name="features", title="Similar tracks", state=FeaturesState, load=load,
                             routers=[router])

- Data is loaded in the lifespan (when the server starts), never at import time, so importing the
  app is cheap and a missing artifact stops start-up with its own message. The factory logs
  "<name> loaded in X.XX s" and only then does `/ready` answer 200 (503 `{"detail": "loading"}`
  before); `/health` always answers 200 while the process runs. `/ready` is 503 again while a
  dependency the service cannot answer without is down (`ServiceState.dependency_down`).
- `/metrics` is Prometheus text from a per-app registry (see `musicrec.api.prometheus`): per-route
  latency and request counts, plus the counters a service's state adds with `service_counter`.
- One error policy: a `MusicRecError` becomes `{"detail": message}` with its own status; invalid
  query parameters become 422 with a message naming the parameter (and a short preview of the
  value, never the whole input); anything else is logged and becomes a 500 without a traceback (a
  bug, never a response to bad input).
- Handlers reach the settings, counters and data plane through `<TheState>.of(request)`.
- With `[serving] api_key` set, the routes that need it check it (see `musicrec.api.access`).
"""

from __future__ import annotations

import gc
import logging
import reprlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.telemetry import TelemetryConfig
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from musicrec.api.access import document_key, guarded_routes
from musicrec.api.docs import add_docs
from musicrec.api.prometheus import install_request_metrics
from musicrec.api.routing import LeanRoute, dispatch_fixed_paths
from musicrec.api.state import ServiceState
from musicrec.api.wire import ErrorResponse, HealthResponse
from musicrec.errors import MusicRecError
from musicrec.settings import Settings, get_settings

logger = logging.getLogger(__name__)

State = TypeVar("State", bound=ServiceState[Any])
Loader = Callable[[State], AbstractAsyncContextManager[None]]
MAX_PROBLEMS = 5  # validation problems listed in one error answer
# Previews of bad input in error answers: bounded in length and depth, whatever was sent.
_PREVIEW = reprlib.Repr()
_PREVIEW.maxlevel, _PREVIEW.maxlist, _PREVIEW.maxdict = 2, 5, 5
_PREVIEW.maxstring = _PREVIEW.maxother = 60
_PREVIEW.maxlong = 40
# FastAPI's built-in OpenTelemetry hooks ask the global providers on every request; the services
# export their metrics to Prometheus themselves (/metrics), so the hooks are switched off.
NO_OPENTELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


# Documented on every service route (see `service_router`), so clients (and schemathesis) know the
# error shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "Not found"},
    422: {"model": ErrorResponse, "description": "Invalid input; the message names the parameter"},
    503: {"model": ErrorResponse, "description": "Loading, or a dependency is unavailable"},
}


def service_router(tag: str) -> APIRouter:
    """The router a service declares its routes on: documented errors, routes planned once (LeanRoute)."""
    return APIRouter(tags=[tag], responses=ERROR_RESPONSES, route_class=LeanRoute)


def create_service_app(
    *,
    name: str,
    title: str,
    state: Callable[[Settings], State],
    load: Loader[State],
    routers: Sequence[APIRouter],
    settings: Settings | None = None,
) -> FastAPI:
    """Build a service app with `state(settings)` as its state; `load(state)` runs at start-up.

    The routers' routes become the app's own instead of including the routers, because FastAPI
    matches a request against an included router's routes twice (once to pick the router, once
    inside it). Routes that need the API key get its check.
    """
    service = state(settings or get_settings())
    app = FastAPI(title=title, lifespan=_lifespan(name, load, service), telemetry=NO_OPENTELEMETRY,
                  docs_url=None, redoc_url=None)
    service.attach(app)
    install_request_metrics(app, service.metrics_registry)
    _add_error_handlers(app)
    app.router.routes.extend(_operations_router().routes)
    for router in routers:
        app.router.routes.extend(guarded_routes(router.routes, service.settings.serving))
    document_key(app, service.settings.serving, {"$ref": "#/components/schemas/ErrorResponse"})
    add_docs(app)  # FastAPI's Swagger UI page, its assets served here rather than from a CDN
    service_routes_first(app)
    dispatch_fixed_paths(app.router)
    return app


def service_routes_first(app: FastAPI) -> None:
    """Move the routes FastAPI adds when the app is made (`/openapi.json`) after the service's own,
    as the documentation routes (`add_docs`) already are: the router tries routes in order, so a
    request for a service route no longer first tries each of them."""
    app.router.routes.sort(key=lambda route: not isinstance(route, APIRoute))  # stable: order kept within each


def _lifespan(name: str, load: Loader[State], state: State) -> Callable[[FastAPI], Any]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        started = time.perf_counter()
        async with AsyncExitStack() as resources:
            try:
                await resources.enter_async_context(load(state))
            except MusicRecError as error:  # e.g. a missing artifact: one clear line, then the traceback
                logger.error("%s cannot start: %s", name, error.message)
                raise
            logger.info("%s loaded in %.2f s", name, time.perf_counter() - started)
            _freeze_loaded_objects()
            state.ready = True
            try:
                yield
            finally:
                state.ready = False
        logger.info("%s stopped", name)

    return lifespan


def _freeze_loaded_objects() -> None:
    """Exclude everything made until now (imported modules, loaded data) from garbage collection.

    Python's collector walks every tracked object of the oldest generation on each full collection,
    and requests keep triggering collections; the objects of start-up live as long as the process,
    so walking them again and again is pure cost on every request.
    """
    gc.collect()
    gc.freeze()


def _operations_router() -> APIRouter:
    """Routes every service has, for people and for the supervisor: health, readiness, metrics."""
    router = APIRouter(tags=["operations"], route_class=LeanRoute)

    # Answered the way the service routes answer (a LeanRoute returning a ready JSONResponse), so that
    # it stays a fair ceiling for them in the serving benchmark.
    @router.get("/health", response_model=HealthResponse)
    async def health() -> JSONResponse:
        """The process is up (even while loading)."""
        return JSONResponse({"status": "ok"})

    @router.get(
        "/ready",
        response_model=HealthResponse,
        responses={503: {"model": ErrorResponse, "description": "Still loading, or a dependency is down"}},
    )
    async def ready(request: Request) -> JSONResponse:
        """The data is loaded (and its checksums did not turn out wrong) and requests get real answers."""
        state: ServiceState[Any] = ServiceState.of(request)
        if not state.ready:
            return JSONResponse({"detail": "loading"}, status_code=503)
        if state.refused:
            return JSONResponse({"detail": state.refused}, status_code=503)
        if (down := await state.dependency_down()) is not None:
            return JSONResponse({"detail": down}, status_code=503)
        serving = getattr(getattr(state, "plane", None), "artifact_set", None)
        answer = HealthResponse(status="ready", artifact_set=serving) if serving else HealthResponse(status="ready")
        return JSONResponse(answer)

    @router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
    async def metrics(request: Request) -> Response:
        """Prometheus text format (made in microseconds from a few counters: no thread-pool hop)."""
        body = generate_latest(ServiceState.of(request).metrics_registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return router


def _add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(MusicRecError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MusicRecError)
    return JSONResponse({"detail": exc.message}, status_code=exc.status_code, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": validation_message(exc)}, status_code=422)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc,
                 extra={"method": request.method, "path": request.url.path, "status": 500})
    return JSONResponse({"detail": "internal error; see the service log"}, status_code=500)


def validation_message(exc: RequestValidationError) -> str:
    """One line per problem, e.g. "query parameter 'k': Input should be ... (got 'abc')".

    At most `MAX_PROBLEMS` problems, each quoting a short preview of the input: the answer to a
    large bad request stays a few hundred bytes instead of echoing the request back.
    """
    errors = exc.errors()
    problems = [_problem(error) for error in errors[:MAX_PROBLEMS]]
    if len(errors) > MAX_PROBLEMS:
        problems.append(f"and {len(errors) - MAX_PROBLEMS} more problem(s)")
    return "; ".join(problems) or "invalid request"


def _problem(error: Any) -> str:
    location = [str(part) for part in error.get("loc", ())]
    where = f"{location[0]} parameter" if len(location) > 1 else "request"
    name = ".".join(location[1:]) or (location[0] if location else "?")
    problem = f"{where} '{name}': {error.get('msg', 'invalid')}"
    if error.get("type") != "missing":
        problem += f" (got {_PREVIEW.repr(error.get('input'))})"
    return problem
