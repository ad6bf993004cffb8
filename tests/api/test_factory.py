"""The shared app factory: lifespan and readiness, metrics, the error policy, the shared params."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel

from musicrec.api.factory import ERROR_RESPONSES, create_service_app
from musicrec.api.params import ItemId, TopK, UserId, post_and_get, resolve_k
from musicrec.api.prometheus import service_counter
from musicrec.api.state import ServiceState
from musicrec.api.wire import INT32_MAX
from musicrec.errors import ArtifactError, NotFound
from musicrec.settings import Settings, load_settings


class DemoState(ServiceState[Settings]):
    """A service whose plane is the settings its loader was given; it counts the answers of /count."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.answers = service_counter(self.metrics_registry, "demo_answers", "Answers given by /count.")


class Echo(BaseModel):
    user_id: int
    item_id: int
    k: int


def _router() -> APIRouter:
    router = APIRouter(responses=ERROR_RESPONSES)

    @post_and_get(router, "/echo", response_model=Echo)
    def echo(request: Request, user_id: UserId, item_id: ItemId, k: TopK = None) -> Echo:
        return Echo(user_id=user_id, item_id=item_id, k=resolve_k(request, k))

    @router.get("/missing")
    def missing() -> None:
        raise NotFound("track 7 is not in the catalog")

    @router.get("/bug")
    def bug() -> None:
        raise RuntimeError("secret internals")

    @router.get("/count")
    def count(request: Request) -> dict[str, str]:
        DemoState.of(request).answers.inc()
        return {}

    return router


def _app(events: list[str]) -> FastAPI:
    settings = load_settings(environ={"MUSICREC_SERVING__MAX_K": "50", "MUSICREC_SERVING__DEFAULT_K": "7"})

    @asynccontextmanager
    async def load(state: DemoState) -> AsyncIterator[None]:
        events.append("load")
        state.plane = state.settings
        yield
        events.append("close")

    return create_service_app(
        name="demo", title="Demo", state=DemoState, load=load, routers=[_router()], settings=settings
    )


@pytest.fixture()
def events() -> list[str]:
    return []


@pytest.fixture()
def client(events: list[str]) -> Iterator[TestClient]:
    with TestClient(_app(events), raise_server_exceptions=False) as test_client:
        yield test_client


def test_lifespan_loads_once_then_ready_and_closes_at_shutdown(
    events: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    app = _app(events)
    assert TestClient(app).get("/ready").status_code == 503  # no lifespan ran: not loaded
    assert TestClient(app).get("/ready").json() == {"detail": "loading"}
    with caplog.at_level(logging.INFO, logger="musicrec.api.factory"), TestClient(app) as client:
        assert events == ["load"]
        assert DemoState.of_app(app).plane is DemoState.of_app(app).settings
        assert client.get("/ready").status_code == 200
        assert client.get("/health").json() == {"status": "ok"}
        assert client.get("/docs").status_code == 200
    assert events == ["load", "close"]
    assert DemoState.of_app(app).ready is False
    assert any("demo loaded in" in message for message in caplog.messages)


def test_start_up_takes_what_it_loaded_out_of_garbage_collection(events: list[str]) -> None:
    gc.unfreeze()
    with TestClient(_app(events)):
        assert gc.get_freeze_count() > 0  # the collector no longer walks the loaded objects
    gc.unfreeze()


def test_a_failed_load_stops_start_up_with_its_message(caplog: pytest.LogCaptureFixture) -> None:
    @asynccontextmanager
    async def load(state: ServiceState[None]) -> AsyncIterator[None]:
        raise ArtifactError("recommendations.parquet is missing; make it with: make pipeline")
        yield  # pragma: no cover

    app = create_service_app(
        name="demo", title="Demo", state=ServiceState, load=load, routers=[], settings=load_settings(environ={})
    )
    with pytest.raises(ArtifactError), TestClient(app):
        pass  # pragma: no cover
    assert "demo cannot start: recommendations.parquet is missing; make it with: make pipeline" in caplog.messages


def test_post_and_get_answer_the_same(client: TestClient) -> None:
    params = {"user_id": 3, "item_id": INT32_MAX, "k": 50}
    expected = {"user_id": 3, "item_id": INT32_MAX, "k": 50}
    assert client.post("/echo", params=params).json() == expected
    assert client.get("/echo", params=params).json() == expected


def test_k_defaults_from_settings(client: TestClient) -> None:
    assert client.get("/echo", params={"user_id": 1, "item_id": 2}).json()["k"] == 7


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"user_id": -1, "item_id": 2}, "'user_id': Input should be greater than or equal to 0"),
        ({"user_id": 1, "item_id": 2**31}, "'item_id': Input should be less than or equal to 2147483647"),
        ({"user_id": "abc", "item_id": 2}, "'user_id': Input should be a whole number in the digits 0-9"),
        ({"item_id": 2}, "query parameter 'user_id': Field required"),
        ({"user_id": 1, "item_id": 2, "k": 0}, "'k': Input should be greater than or equal to 1"),
        ({"user_id": 1, "item_id": 2, "k": 51}, "'k': must be between 1 and 50, got 51"),
    ],
)
def test_bad_input_is_422_with_a_message_naming_the_parameter(
    client: TestClient, params: dict[str, Any], fragment: str
) -> None:
    response = client.post("/echo", params=params)
    assert response.status_code == 422
    assert fragment in response.json()["detail"]


def test_domain_error_keeps_its_status_and_message(client: TestClient) -> None:
    response = client.get("/missing")
    assert response.status_code == 404
    assert response.json() == {"detail": "track 7 is not in the catalog"}


def test_unexpected_error_is_500_without_internals(client: TestClient) -> None:
    response = client.get("/bug")
    assert response.status_code == 500
    assert "secret" not in response.text
    assert "Traceback" not in response.text


def test_metrics_count_requests_by_route_template_and_status(client: TestClient) -> None:
    client.get("/echo", params={"user_id": 1, "item_id": 2})
    client.post("/echo", params={"user_id": 1, "item_id": 2})
    client.post("/echo", params={"user_id": -1, "item_id": 2})
    client.get("/count")
    client.get("/no/such/page")
    text = client.get("/metrics").text
    assert 'http_requests_total{method="GET",route="/echo",status="200"} 1.0' in text
    assert 'http_requests_total{method="POST",route="/echo",status="200"} 1.0' in text
    assert 'http_requests_total{method="POST",route="/echo",status="422"} 1.0' in text
    assert 'http_requests_total{method="GET",route="<unmatched>",status="404"} 1.0' in text
    assert 'http_request_duration_seconds_count{method="POST",route="/echo"} 2.0' in text
    assert "demo_answers_total 1.0" in text


def test_two_apps_in_one_process_have_separate_metrics(events: list[str]) -> None:
    with TestClient(_app(events)) as first, TestClient(_app(events)) as second:
        first.get("/health")
        assert 'route="/health"' in first.get("/metrics").text
        assert 'route="/health"' not in second.get("/metrics").text


def test_openapi_documents_both_methods_and_the_error_shape(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    echo = spec["paths"]["/echo"]
    assert set(echo) == {"get", "post"}
    assert echo["get"]["operationId"] != echo["post"]["operationId"]
    error_schema = echo["get"]["responses"]["422"]["content"]["application/json"]["schema"]
    assert error_schema == {"$ref": "#/components/schemas/ErrorResponse"}
