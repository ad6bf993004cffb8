"""The events service over HTTP (TestClient, so the lifespan opens a temp SQLite store), and a fuzz run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import redis
import schemathesis
from fastapi.testclient import TestClient
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from musicrec.api.events_app import create_app
from musicrec.cluster.redis_server import running_redis_server
from musicrec.settings import Settings, load_settings


def _settings(tmp_path: Path, max_per_user: int = 3, extra: dict[str, str] | None = None) -> Settings:
    return load_settings(
        environ={
            "MUSICREC_EVENTS__BACKEND": "sqlite",
            "MUSICREC_EVENTS__SQLITE_PATH": str(tmp_path / "events.sqlite3"),
            "MUSICREC_EVENTS__MAX_PER_USER": str(max_per_user),
            **(extra or {}),
        }
    )


@pytest.fixture()
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(tmp_path))) as test_client:
        yield test_client


def test_put_then_get_newest_first_with_post_and_get(client: TestClient) -> None:
    assert client.post("/put", params={"user_id": 1, "item_id": 10}).json() == {"result": "ok"}
    assert client.post("/put", params={"user_id": 1, "item_id": 11}).json() == {"result": "ok"}
    for call in (client.post, client.get):
        answer = call("/get", params={"user_id": 1, "k": 5}).json()
        assert answer["events"] == [11, 10]
        assert len(answer["listened_at"]) == 2 and answer["listened_at"][0] >= answer["listened_at"][1]


def test_events_have_a_kind_and_get_lists_the_dislikes(client: TestClient) -> None:
    client.post("/put", params={"user_id": 3, "item_id": 30, "kind": "dislike"})
    for item, kind in ((31, "listen"), (32, "skip"), (33, "listen")):
        client.post("/put", params={"user_id": 3, "item_id": item, "kind": kind})
    answer = client.get("/get", params={"user_id": 3}).json()
    # three events kept (max_per_user = 3), the dislike among them no more, but still disliked
    assert (answer["events"], answer["kinds"], answer["disliked"]) == (
        [33, 32, 31], ["listen", "skip", "listen"], [30])
    assert client.post("/put", params={"user_id": 3, "item_id": 34}).json() == {"result": "ok"}
    assert client.get("/get", params={"user_id": 3, "k": 1}).json()["kinds"] == ["listen"]  # the default


def test_the_kind_is_in_the_docs(client: TestClient) -> None:
    parameters = client.get("/openapi.json").json()["paths"]["/put"]["post"]["parameters"]
    kind = next(parameter for parameter in parameters if parameter["name"] == "kind")
    assert kind["schema"]["enum"] == ["listen", "skip", "dislike"] and not kind["required"]


def test_keeps_the_latest_max_per_user_and_honours_k(client: TestClient) -> None:
    for item in range(1, 6):
        client.post("/put", params={"user_id": 2, "item_id": item})
    assert client.post("/get", params={"user_id": 2, "k": 10}).json()["events"] == [5, 4, 3]
    assert client.post("/get", params={"user_id": 2, "k": 1}).json()["events"] == [5]


def test_put_is_post_only_so_a_link_stores_nothing(client: TestClient) -> None:
    answer = client.get("/put", params={"user_id": 1, "item_id": 11})
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"
    assert client.post("/get", params={"user_id": 1}).json()["events"] == []
    assert "get" not in client.get("/openapi.json").json()["paths"]["/put"]


KEY = "s3cret-key"


@pytest.fixture()
def keyed(tmp_path: Path) -> Iterator[TestClient]:
    settings = _settings(tmp_path, extra={"MUSICREC_SERVING__API_KEY": KEY})
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.mark.parametrize("headers", [{"X-API-Key": KEY}, {"Authorization": f"Bearer {KEY}"}],
                         ids=["x-api-key", "bearer"])
def test_with_a_key_configured_put_and_get_take_it(keyed: TestClient, headers: dict[str, str]) -> None:
    assert keyed.post("/put", params={"user_id": 1, "item_id": 10}, headers=headers).json() == {"result": "ok"}
    assert keyed.get("/get", params={"user_id": 1}, headers=headers).json()["events"] == [10]


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "this route needs the API key: send it in the X-API-Key header"),
        ({"X-API-Key": "s3cret"}, "wrong API key"),
        ({"Authorization": "Basic czNjcmV0LWtleQ=="}, "this route needs the API key"),
    ],
    ids=["none", "wrong", "not-bearer"],
)
def test_with_a_key_configured_put_and_get_refuse_without_it(
    keyed: TestClient, headers: dict[str, str], message: str
) -> None:
    for path in ("/put", "/get"):
        answer = keyed.post(path, params={"user_id": 1, "item_id": 10}, headers=headers)
        assert answer.status_code == 401
        assert answer.json()["detail"].startswith(message)
        assert answer.headers["www-authenticate"].startswith("Bearer")
    assert keyed.get("/get", params={"user_id": 1}, headers={"X-API-Key": KEY}).json()["events"] == []
    assert keyed.get("/health").status_code == 200  # operations routes stay open
    assert keyed.get("/metrics").status_code == 200


def test_the_docs_show_which_routes_need_the_key(keyed: TestClient, client: TestClient) -> None:
    spec = keyed.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["APIKeyHeader"] == {
        "type": "apiKey", "in": "header", "name": "X-API-Key"}
    for operation in (spec["paths"]["/put"]["post"], spec["paths"]["/get"]["get"]):
        assert operation["security"] == [{"APIKeyHeader": []}]
        assert "401" in operation["responses"]
    assert "security" not in spec["paths"]["/health"]["get"]
    assert "securitySchemes" not in client.get("/openapi.json").json().get("components", {})


def test_unknown_user_gets_an_empty_list(client: TestClient) -> None:
    assert client.post("/get", params={"user_id": 99}).json() == {
        "events": [], "listened_at": [], "kinds": [], "disliked": []}


@pytest.mark.parametrize(
    ("path", "params", "fragment"),
    [
        ("/put", {"user_id": -1, "item_id": 1}, "'user_id'"),
        ("/put", {"user_id": 1, "item_id": 2**31}, "'item_id'"),
        ("/put", {"user_id": 1}, "'item_id': Field required"),
        ("/get", {"user_id": 1, "k": 0}, "'k'"),
        ("/get", {"user_id": 1, "k": 101}, "'k': must be between 1 and 100"),
        ("/get", {"user_id": "x"}, "'user_id': Input should be a whole number in the digits 0-9 only"),
        ("/put", {"user_id": "1_000", "item_id": 1}, "'user_id': Input should be a whole number"),
        ("/put", {"user_id": "+5", "item_id": 1}, "(got '+5')"),
        ("/put", {"user_id": 1, "item_id": "1.0"}, "'item_id': Input should be a whole number"),
        ("/put", {"user_id": 1, "item_id": " 7"}, "'item_id': Input should be a whole number"),
        ("/put", {"user_id": "9" * 5000, "item_id": 1}, "'user_id': Input should be at most 2147483647"),
        ("/put", {"user_id": 1, "item_id": 1, "kind": "love"},
         "query parameter 'kind': Input should be 'listen', 'skip' or 'dislike'"),
    ],
)
def test_bad_input_is_422_and_stores_nothing(
    client: TestClient, path: str, params: dict[str, Any], fragment: str
) -> None:
    response = client.post(path, params=params)
    assert response.status_code == 422
    assert fragment in response.json()["detail"]
    assert client.post("/get", params={"user_id": 1}).json()["events"] == []


def test_listens_survive_a_restart_of_the_app(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with TestClient(create_app(settings)) as first:
        first.post("/put", params={"user_id": 4, "item_id": 40})
    with TestClient(create_app(settings)) as second:
        assert second.post("/get", params={"user_id": 4}).json()["events"] == [40]


def test_redis_backend_serves_the_same_api(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as server:
        server.flushdb()
    settings = load_settings(environ={"MUSICREC_EVENTS__BACKEND": "redis", "MUSICREC_EVENTS__REDIS_URL": redis_url})
    with TestClient(create_app(settings)) as client:
        client.post("/put", params={"user_id": 8, "item_id": 80})
        client.post("/put", params={"user_id": 8, "item_id": 81, "kind": "dislike"})
        answer = client.post("/get", params={"user_id": 8}).json()
        assert (answer["events"], answer["kinds"], answer["disliked"]) == ([81, 80], ["dislike", "listen"], [81])


def test_ready_is_503_while_redis_is_down_and_200_again_once_it_is_back(tmp_path: Path) -> None:
    with running_redis_server(tmp_path / "redis") as server:
        settings = load_settings(environ={"MUSICREC_EVENTS__BACKEND": "redis",
                                          "MUSICREC_EVENTS__REDIS_URL": server.url})
        with TestClient(create_app(settings)) as client:
            assert client.get("/ready").status_code == 200
            server.stop()
            down = client.get("/ready")
            assert down.status_code == 503
            assert down.json()["detail"].startswith(f"cannot reach the Redis event store at {server.url}")
            assert client.post("/put", params={"user_id": 8, "item_id": 80}).status_code == 503
            server.start()
            assert client.get("/ready").status_code == 200  # no restart of the app: the store reconnected
            assert client.post("/put", params={"user_id": 8, "item_id": 81}).json() == {"result": "ok"}
            assert client.post("/get", params={"user_id": 8}).json()["events"] == [81]


def test_start_up_logs_what_it_opened(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="musicrec.api"), TestClient(create_app(_settings(tmp_path))):
        pass
    assert any("events store opened: sqlite" in message for message in caplog.messages)


def test_metrics_show_the_event_routes(client: TestClient) -> None:
    client.post("/put", params={"user_id": 1, "item_id": 1})
    assert 'route="/put",status="200"' in client.get("/metrics").text


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzzed_requests_never_get_a_server_error(tmp_path: Path, mode: GenerationMode) -> None:
    """Schemathesis: valid and invalid requests from the OpenAPI spec; no 5xx, answers match the spec."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(_settings(tmp_path)))

    @hypothesis.given(case=schema.as_strategy(mode))
    @hypothesis.settings(max_examples=150, deadline=None, database=None)
    def call(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])

    call()
