"""LeanRoute answers exactly as FastAPI's own route would, and leaves routes it cannot plan alone.

Each request goes to the same endpoints twice: once registered as plain `APIRoute`s, once as
`LeanRoute`s, in apps with the services' error handlers; status and body must be equal.
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from typing import Annotated, AsyncIterator, Iterator

import pytest
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from musicrec.api.factory import create_service_app
from musicrec.api.params import TopK, UserId
from musicrec.api.routing import FixedPathDispatch, LeanRoute
from musicrec.api.state import ServiceState
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


@pytest.mark.parametrize(("body", "content_type"), BODIES)
def test_json_bodies_answer_as_fastapi_does(
    clients: tuple[TestClient, TestClient], body: object, content_type: str
) -> None:
    fastapi_own, lean = clients
    content = b"" if body is None else json.dumps(body).encode()
    request = {"content": content, "headers": {"content-type": content_type}}
    expected = fastapi_own.post("/body", **request)
    answer = lean.post("/body", **request)
    assert (answer.status_code, answer.json()) == (expected.status_code, expected.json())


def test_broken_json_is_a_422_that_says_where(clients: tuple[TestClient, TestClient]) -> None:
    _, lean = clients
    answer = lean.post("/body", content=b'{"item_ids": [1,', headers={"content-type": "application/json"})
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith("request 'body': JSON decode error: Expecting value")


def _dependency() -> int:
    return 1


def _unplannable_router() -> APIRouter:
    router = APIRouter(route_class=LeanRoute)

    @router.get("/model")
    async def returns_a_model(k: TopK = None) -> Batch:
        return Batch(item_ids=[], k=k or 1)

    @router.get("/sync")
    def synchronous(k: TopK = None) -> JSONResponse:
        return JSONResponse({})

    @router.get("/dependency")
    async def with_dependency(value: Annotated[int, Depends(_dependency)]) -> JSONResponse:
        return JSONResponse({"value": value})

    @router.get("/list")
    async def with_a_list(ids: Annotated[list[int], Query()]) -> JSONResponse:
        return JSONResponse({"ids": ids})

    @router.get("/planned")
    async def planned(k: TopK = None) -> JSONResponse:
        return JSONResponse({"k": k})

    return router


def test_only_routes_it_can_plan_leave_fastapis_handler() -> None:
    routes = {route.path: route for route in _unplannable_router().routes}
    planned = routes.pop("/planned")
    assert planned.app.__qualname__.startswith("_planned_app")
    for path, route in routes.items():
        assert not route.app.__qualname__.startswith("_planned_app"), path


def test_all_routes_work_also_in_an_included_router_with_a_prefix() -> None:
    app = FastAPI()
    app.include_router(_unplannable_router(), prefix="/v1")
    with TestClient(app) as client:
        assert client.get("/v1/model?k=2").json() == {"item_ids": [], "k": 2}
        assert client.get("/v1/dependency").json() == {"value": 1}
        assert client.get("/v1/list?ids=1&ids=2").json() == {"ids": [1, 2]}
        assert client.get("/v1/planned?k=3").json() == {"k": 3}
        assert client.get("/planned?k=3").status_code == 404


def _app_with_a_path_parameter(dispatch: bool) -> FastAPI:
    """A service app whose routes include one with a path parameter that shadows a later fixed path."""
    router = _router(LeanRoute)

    @router.get("/tracks/{track_id}")
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
    dispatch = _app_with_a_path_parameter(dispatch=True).router.middleware_stack
    assert isinstance(dispatch, FixedPathDispatch)
    paths = {path for path, _ in dispatch.table}
    assert {"/health", "/ready", "/metrics", "/query", "/body", "/docs", "/openapi.json"} <= paths
    assert "/tracks/popular" not in paths
    assert dispatch.table[("/query", "GET")].path == "/query"
