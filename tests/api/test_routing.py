"""LeanRoute answers exactly as FastAPI's own route would, and leaves routes it cannot plan alone.

Each request goes to the same endpoints twice: once registered as plain `APIRoute`s, once as
`LeanRoute`s, in apps with the services' error handlers; status and body must be equal.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import pytest
from fastapi import APIRouter, Body, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message

from musicrec.api import events_app, features_app, recommendations_app
from musicrec.api.factory import create_service_app
from musicrec.api.params import TopK, UserId
from musicrec.api.routing import (
    FixedPathDispatch,
    LeanRoute,
    UnplannedRoute,
    on_fastapis_handler,
    runs_on_fastapis_handler,
)
from musicrec.api.state import ServiceState
from musicrec.api.wire import INT32_MAX, MAX_BATCH
from musicrec.settings import load_settings


class Batch(BaseModel):
    item_ids: list[Annotated[int, Field(ge=0)]] = Field(max_length=3)
    k: int = Field(10, ge=1)


def _router(route_class: type[APIRoute]) -> APIRouter:
    router = APIRouter(route_class=route_class)

    @router.get("/query")
    async def query(
        request: Request, user_id: UserId, k: TopK = None, flag: Annotated[bool, Query()] = False,
        name: Annotated[str, Query(alias="track-name")] = "none",
    ) -> JSONResponse:
        answer = {"user_id": user_id, "k": k, "flag": flag, "name": name, "app": request.app.title}
        return JSONResponse(answer)

    @router.post("/body")
    async def body(batch: Batch) -> JSONResponse:
        return JSONResponse(batch.model_dump())

    @router.post("/lists")
    async def lists(
        ids: Annotated[list[int] | None, Query()] = None, names: Annotated[list[str], Query()] = ["none"],  # noqa: B006 (the case under test; FastAPI copies it)
        batch: Annotated[Batch | None, Body()] = None,
    ) -> JSONResponse:
        return JSONResponse({"ids": ids, "names": names, "batch": batch and batch.model_dump()})

    return router


@asynccontextmanager
async def _nothing_to_load(state: ServiceState[None]) -> AsyncIterator[None]:
    yield


def _app(route_class: type[APIRoute]) -> FastAPI:
    return create_service_app(
        name="routing", title="routing", state=ServiceState, load=_nothing_to_load,
        routers=[_router(route_class)], settings=load_settings(environ={}),
    )


@pytest.fixture(scope="module")
def clients() -> Iterator[tuple[TestClient, TestClient]]:
    with TestClient(_app(APIRoute)) as fastapi_own, TestClient(_app(LeanRoute)) as lean:
        yield fastapi_own, lean


QUERIES = [
    "user_id=5",
    "user_id=5&k=3&flag=true&track-name=x",
    "user_id=5&k=3&k=4",  # repeated: the last one counts
    "",  # missing
    "user_id=abc",
    "user_id=-1&k=0",  # two problems in one answer
    "user_id=2147483648",
    "user_id=5&k=",
    "user_id=5&flag=maybe",
    "user_id=5&unknown=1",
]


@pytest.mark.parametrize("query", QUERIES)
def test_query_parameters_answer_as_fastapi_does(clients: tuple[TestClient, TestClient], query: str) -> None:
    fastapi_own, lean = clients
    expected = fastapi_own.get(f"/query?{query}")
    answer = lean.get(f"/query?{query}")
    assert (answer.status_code, answer.json()) == (expected.status_code, expected.json())


BODIES = [
    ({"item_ids": [1, 2], "k": 4}, "application/json"),
    ({"item_ids": [1]}, "application/json; charset=utf-8"),
    ({"item_ids": [1, -2, 3, 4], "k": 0}, "application/json"),
    ({"k": 4}, "application/json"),
    ([1, 2], "application/json"),
    ({"item_ids": [1]}, "text/plain"),
    (None, "application/json"),  # no body at all
]


LISTS = [
    ("", None),
    ("ids=1&ids=2&names=a", None),
    ("ids=1&names=a&ids=x", None),  # a bad value among good ones
    ("ids=&names=", None),
    ("names=a&names=b", {"item_ids": [1]}),
    ("", {"item_ids": [-1]}),
    ("ids=3", b"null"),
]


@pytest.mark.parametrize(("query", "body"), LISTS)
def test_list_parameters_and_an_optional_body_answer_as_fastapi_does(
    clients: tuple[TestClient, TestClient], query: str, body: object
) -> None:
    fastapi_own, lean = clients
    content = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
    request: dict[str, Any] = {"content": content, "headers": {"content-type": "application/json"}}
    expected = fastapi_own.post(f"/lists?{query}", **request)
    answer = lean.post(f"/lists?{query}", **request)
    assert (answer.status_code, answer.json()) == (expected.status_code, expected.json())


@pytest.mark.parametrize(("body", "content_type"), BODIES)
def test_json_bodies_answer_as_fastapi_does(
    clients: tuple[TestClient, TestClient], body: object, content_type: str
) -> None:
    fastapi_own, lean = clients
    content = b"" if body is None else json.dumps(body).encode()
    request: dict[str, Any] = {"content": content, "headers": {"content-type": content_type}}
    expected = fastapi_own.post("/body", **request)
    answer = lean.post("/body", **request)
    assert (answer.status_code, answer.json()) == (expected.status_code, expected.json())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"item_ids": [1,', "request body is not valid JSON: EOF while parsing a value at line 1 column 16"),
        (b'{"item_ids": ' + b"[" * 1000 + b"]" * 1000 + b"}", "recursion limit exceeded"),
        (b'{"item_ids": [NaN]}', "request body is not valid JSON"),
        (b'{"item_ids": [1]} trailing', "trailing characters"),
        (b"\xff\xfe", "request body is not valid JSON"),
    ],
    ids=["truncated", "nested-1000-deep", "nan", "trailing", "not-utf8"],
)
def test_malformed_json_is_a_400_that_says_what(
    clients: tuple[TestClient, TestClient], content: bytes, message: str
) -> None:
    _, lean = clients
    answer = lean.post("/body", content=content, headers={"content-type": "application/json"})
    assert answer.status_code == 400
    assert message in answer.json()["detail"]


def test_a_body_over_the_limit_is_a_413(clients: tuple[TestClient, TestClient]) -> None:
    _, lean = clients
    limit = _max_body_bytes(lean)
    content = json.dumps({"item_ids": [1] * limit}).encode()
    answer = lean.post("/body", content=content, headers={"content-type": "application/json"})
    assert answer.status_code == 413
    assert answer.json() == {"detail": f"request body too large: the limit is {limit} bytes "
                                       "([serving] max_body_bytes)"}
    assert answer.headers["connection"] == "close"  # the server drops the rest instead of reading it


def test_errors_about_a_large_bad_body_stay_short(clients: tuple[TestClient, TestClient]) -> None:
    _, lean = clients
    content = json.dumps({"item_ids": ["x" * 5000, [[[[[[[[1] * 1000]]]]]]], 3], "k": "9" * 5000}).encode()
    answer = lean.post("/body", content=content, headers={"content-type": "application/json"})
    assert answer.status_code == 422
    assert len(answer.content) < 600
    assert "(got [[[...]]])" in answer.json()["detail"]


def _max_body_bytes(client: TestClient) -> int:
    assert isinstance(client.app, FastAPI)
    return ServiceState.of_app(client.app).settings.serving.max_body_bytes


async def _call(app: ASGIApp, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, int]:
    """Send one POST /body straight to the ASGI app; (status, how many body chunks it read)."""
    read = 0

    async def receive() -> Message:
        nonlocal read
        read += 1
        return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks)}

    status = 0

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {"type": "http", "method": "POST", "path": "/body", "raw_path": b"/body", "query_string": b"",
             "headers": [(b"content-type", b"application/json"), *headers], "root_path": "",
             "scheme": "http", "server": ("test", 80), "client": ("test", 1), "http_version": "1.1"}
    await app(scope, receive, send)
    return status, read


def test_a_declared_length_over_the_limit_is_refused_before_reading(
    clients: tuple[TestClient, TestClient]
) -> None:
    _, lean = clients
    status, read = asyncio.run(_call(lean.app, [(b"content-length", b"50000000")], [b"[" * 1000] * 50_000))
    assert (status, read) == (413, 0)


def test_a_chunked_body_is_read_only_up_to_the_limit(clients: tuple[TestClient, TestClient]) -> None:
    _, lean = clients
    limit = _max_body_bytes(lean)
    status, read = asyncio.run(_call(lean.app, [], [b" " * 1000] * 50_000))
    assert status == 413
    assert read == limit // 1000 + 1


def test_the_largest_valid_batch_fits_the_default_limit() -> None:
    """The default `[serving] max_body_bytes` is sized to the features service's largest batch."""
    settings = load_settings(environ={})
    batch = {"item_ids": [INT32_MAX] * MAX_BATCH, "k": settings.serving.max_k}
    assert len(json.dumps(batch, indent=2)) < settings.serving.max_body_bytes


def _dependency() -> int:
    return 1


async def returns_a_model(k: TopK = None) -> Batch:
    return Batch(item_ids=[], k=k or 1)


def synchronous(k: TopK = None) -> JSONResponse:
    return JSONResponse({})


async def with_dependency(value: Annotated[int, Depends(_dependency)]) -> JSONResponse:
    return JSONResponse({"value": value})


async def with_a_default_factory(ids: Annotated[list[int], Query(default_factory=list)]) -> JSONResponse:
    return JSONResponse({"ids": ids})


UNPLANNABLE: dict[str, Callable[..., Any]] = {
    "/model": returns_a_model, "/sync": synchronous, "/dependency": with_dependency, "/factory": with_a_default_factory,
}


def _unplannable_router() -> APIRouter:
    """Routes LeanRoute cannot plan, each marked to run on FastAPI's handler, and two it plans."""
    router = APIRouter(route_class=LeanRoute)
    for path, endpoint in UNPLANNABLE.items():
        router.get(path)(on_fastapis_handler("the test's")(endpoint))

    @router.get("/planned")
    async def planned(k: TopK = None) -> JSONResponse:
        return JSONResponse({"k": k})

    @router.get("/list")
    async def with_a_list(ids: Annotated[list[int], Query()]) -> JSONResponse:
        return JSONResponse({"ids": ids})

    @router.get("/literal")
    async def with_a_literal(kind: Literal["known", "cold"] = "known") -> JSONResponse:
        return JSONResponse({"kind": kind})

    return router


@pytest.mark.parametrize("path", list(UNPLANNABLE))
def test_a_route_it_cannot_plan_is_refused_when_built_unless_marked(path: str) -> None:
    router = APIRouter(route_class=LeanRoute)
    with pytest.raises(UnplannedRoute, match=f"route {path} .*on_fastapis_handler"):
        router.get(path)(UNPLANNABLE[path])


def test_only_routes_it_can_plan_leave_fastapis_handler() -> None:
    routes = {route.path: route for route in _unplannable_router().routes if isinstance(route, APIRoute)}
    for path in ("/planned", "/list", "/literal"):
        assert not runs_on_fastapis_handler(routes.pop(path)), path
    for path, route in routes.items():
        assert runs_on_fastapis_handler(route), path


def test_the_services_leave_only_the_events_write_to_fastapis_handler() -> None:
    """Every service route is planned but /put (marked: its write blocks, so it runs in the thread pool)."""
    handled = [(app.title, route.path) for app in (events_app.create_app(), features_app.create_app(),
                                                   recommendations_app.create_app())
               for route in app.routes if isinstance(route, LeanRoute) and runs_on_fastapis_handler(route)]
    assert [path for _, path in handled] == ["/put"]


def test_all_routes_work_also_in_an_included_router_with_a_prefix() -> None:
    app = FastAPI()
    app.include_router(_unplannable_router(), prefix="/v1")
    with TestClient(app) as client:
        assert client.get("/v1/model?k=2").json() == {"item_ids": [], "k": 2}
        assert client.get("/v1/dependency").json() == {"value": 1}
        assert client.get("/v1/list?ids=1&ids=2").json() == {"ids": [1, 2]}
        assert client.get("/v1/planned?k=3").json() == {"k": 3}
        assert client.get("/v1/literal?kind=cold").json() == {"kind": "cold"}
        assert client.get("/v1/literal?kind=hot").status_code == 422
        assert client.get("/planned?k=3").status_code == 404


def _app_with_a_path_parameter(dispatch: bool) -> FastAPI:
    """A service app whose routes include one with a path parameter that shadows a later fixed path."""
    router = _router(LeanRoute)

    @router.get("/tracks/{track_id}")
    @on_fastapis_handler("a path parameter")
    async def track(track_id: int) -> JSONResponse:
        return JSONResponse({"track": track_id})

    @router.get("/tracks/popular")
    async def popular() -> JSONResponse:  # never reached: /tracks/{track_id} comes first
        return JSONResponse({"popular": True})

    app = create_service_app(
        name="routing", title="routing", state=ServiceState, load=_nothing_to_load, routers=[router],
        settings=load_settings(environ={}),
    )
    if not dispatch:
        app.router.middleware_stack = app.router.app  # the router's own loop over its routes
    return app


REQUESTS = [
    ("GET", "/query?user_id=5"),
    ("HEAD", "/query?user_id=5"),
    ("POST", "/query?user_id=5"),  # a known path, a method it does not take: 405
    ("GET", "/query/?user_id=5"),  # trailing slash: redirected
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/openapi.json"),
    ("GET", "/nowhere"),
    ("GET", "/tracks/7"),
    ("GET", "/tracks/popular"),  # the route with the path parameter answers (422)
]


@pytest.mark.parametrize(("method", "url"), REQUESTS)
def test_fixed_path_dispatch_answers_as_the_routers_loop_does(method: str, url: str) -> None:
    with TestClient(_app_with_a_path_parameter(dispatch=False)) as loop, \
            TestClient(_app_with_a_path_parameter(dispatch=True)) as dispatch:
        expected = loop.request(method, url, follow_redirects=False)
        answer = dispatch.request(method, url, follow_redirects=False)
    assert answer.status_code == expected.status_code
    assert answer.content == expected.content
    assert answer.headers.get("location") == expected.headers.get("location")
    assert answer.headers.get("allow") == expected.headers.get("allow")


def test_the_dispatch_table_holds_fixed_paths_up_to_the_first_route_with_a_parameter() -> None:
    """The service's routes come first, FastAPI's documentation routes after them."""
    dispatch = _app_with_a_path_parameter(dispatch=True).router.middleware_stack
    assert isinstance(dispatch, FixedPathDispatch)
    paths = {path for path, _ in dispatch.table}
    assert {"/health", "/ready", "/metrics", "/query", "/body"} <= paths
    assert not {"/tracks/popular", "/docs", "/openapi.json"} & paths  # after /tracks/{track_id}
    assert dispatch.table[("/query", "GET")].path == "/query"
