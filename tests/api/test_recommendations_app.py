"""The recommendations service on the tiny artifact set, with its two dependencies faked in-process.

The fakes answer like the real services (httpx.MockTransport): events from a dict, similar tracks
from the artifact factory's table, or a connection error to play a dependency that is down.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from musicrec.api.recommendations_app import create_app
from musicrec.errors import ArtifactError
from musicrec.settings import load_settings
from tests.artifact_factory import COURSE_RULE_ENV, SIMILAR, write_artifact_set

# user -> latest listens, newest first
HISTORY: dict[int, list[int]] = {1: [40, 10], 3: [20], 7: [99]}
Handler = Callable[[httpx.Request], httpx.Response]


def events_handler(request: httpx.Request) -> httpx.Response:
    assert request.url.path == "/get"
    user_id, k = int(request.url.params["user_id"]), int(request.url.params["k"])
    return httpx.Response(200, json={"events": HISTORY.get(user_id, [])[:k]})


def features_handler(request: httpx.Request) -> httpx.Response:
    assert request.url.path == "/similar_items_batch"
    body = json.loads(request.content)
    items = []
    for item_id in body["item_ids"]:
        pairs = SIMILAR.get(item_id, [])[: body["k"]]
        items.append({"item_id": item_id, "item_id_2": [p[0] for p in pairs], "score": [p[1] for p in pairs]})
    return httpx.Response(200, json={"items": items})


def down(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def too_slow(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


def wrong_shape(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"unexpected": True})


def _client(artifacts: Path, events: Handler = events_handler, features: Handler = features_handler,
            **environ: str) -> TestClient:
    environ = {**COURSE_RULE_ENV, "MUSICREC_PATHS__ARTIFACTS": str(artifacts), **environ}
    settings = load_settings(environ=environ)
    app = create_app(settings, httpx.MockTransport(events), httpx.MockTransport(features))
    return TestClient(app)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_artifact_set(tmp_path_factory.mktemp("artifacts"))


@pytest.fixture(scope="module")
def client(artifacts: Path) -> Iterator[TestClient]:
    with _client(artifacts) as test_client:
        yield test_client


def _recs(client: TestClient, path: str, method: str = "POST", **params: object) -> list[int]:
    answer = client.request(method, path, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()["recs"]


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_default_is_top_popular(client: TestClient, method: str) -> None:
    assert _recs(client, "/recommendations_default", method, k=3) == [30, 10, 20]
    assert client.get("/recommendations_default").json() == {"recs": [30, 10, 20, 40, 41], "degraded": False}


def test_offline_for_known_and_unknown_users(client: TestClient) -> None:
    assert _recs(client, "/recommendations_offline", user_id=1, k=2) == [10, 11]
    assert _recs(client, "/recommendations_offline", user_id=2) == [20, 10, 21]
    assert _recs(client, "/recommendations_offline", user_id=3, k=2) == [30, 10]  # unknown: top popular


def test_online_merges_similar_without_tracks_just_heard(client: TestClient) -> None:
    # 40 -> 41 (1.0), 10 (0.125); 10 -> 11 (0.9), 12 (0.5), 40 (0.25); 40 and 10 were just heard
    assert _recs(client, "/recommendations_online", user_id=1) == [41, 11, 12]
    assert _recs(client, "/recommendations_online", user_id=1, k=2) == [41, 11]
    assert _recs(client, "/recommendations_online", user_id=2) == []  # no listens
    assert _recs(client, "/recommendations_online", user_id=7) == []  # a listen without similar tracks


def test_blended_alternates_offline_and_online(client: TestClient) -> None:
    # offline [10, 11, 12, 13] + online [41, 11, 12] -> 10 41 11 (11) 12 (12) then 13
    assert _recs(client, "/recommendations", user_id=1) == [10, 41, 11, 12, 13]
    assert _recs(client, "/recommendations", "GET", user_id=1, k=3) == [10, 41, 11]
    # unknown user with a listen: top popular blended with the similar tracks of 20
    assert _recs(client, "/recommendations", user_id=3) == [30, 21, 10, 42, 20, 40, 41]
    # no listens: offline only
    assert _recs(client, "/recommendations", user_id=2) == [20, 10, 21]


def test_details_name_each_track(client: TestClient) -> None:
    answer = client.post("/recommendations_offline", params={"user_id": 2, "details": "true"}).json()
    assert answer == {"recs": [20, 10, 21], "degraded": False, "details": [
        {"item_id": 20, "name": "Track 20", "artists": ["Artist C"]},
        {"item_id": 10, "name": "Track 10", "artists": ["Artist A"]},
        {"item_id": 21, "name": "Track 21", "artists": []},
    ]}


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [("/recommendations", {"user_id": -1}, "user_id"), ("/recommendations_offline", {}, "user_id"),
     ("/recommendations_online", {"user_id": 1, "k": 0}, "k"), ("/recommendations_default", {"k": 101}, "k"),
     ("/recommendations", {"user_id": 1, "details": "maybe"}, "details")],
)
def test_bad_input_is_422(client: TestClient, path: str, params: dict, named: str) -> None:
    answer = client.post(path, params=params)
    assert answer.status_code == 422
    assert f"'{named}'" in answer.json()["detail"]


def _metric(client: TestClient, line_start: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.parametrize(
    ("events", "features", "dependency"),
    [(events_handler, down, "features"), (down, features_handler, "events"),
     (events_handler, too_slow, "features"), (too_slow, features_handler, "events"),
     (events_handler, wrong_shape, "features"), (wrong_shape, features_handler, "events")],
)
def test_failed_dependency_gives_degraded_offline_answer(
    artifacts: Path, events: Handler, features: Handler, dependency: str
) -> None:
    with _client(artifacts, events, features) as test_client:
        blended = test_client.post("/recommendations", params={"user_id": 1}).json()
        assert blended == {"recs": [10, 11, 12, 13], "degraded": True}
        online = test_client.post("/recommendations_online", params={"user_id": 1}).json()
        assert online == {"recs": [], "degraded": True}
        series = f'recommendations_degraded_answers_total{{dependency="{dependency}",route="blended"}}'
        assert _metric(test_client, series) == 1.0


def test_counters_for_default_and_empty_online_answers(artifacts: Path) -> None:
    with _client(artifacts) as test_client:
        _recs(test_client, "/recommendations_offline", user_id=3)
        _recs(test_client, "/recommendations", user_id=4)
        _recs(test_client, "/recommendations_offline", user_id=1)
        assert _metric(test_client, 'recommendations_default_answers_total{route="offline"}') == 1.0
        assert _metric(test_client, 'recommendations_default_answers_total{route="blended"}') == 1.0
        assert _metric(test_client, 'recommendations_online_empty_answers_total{route="blended"}') == 1.0


def test_without_items_parquet_answers_carry_ids_only(tmp_path: Path) -> None:
    with _client(write_artifact_set(tmp_path, with_items=False)) as test_client:
        answer = test_client.get("/recommendations_offline", params={"user_id": 5, "details": True}).json()
    assert answer["details"] == [{"item_id": 30, "name": None, "artists": []},
                                 {"item_id": 31, "name": None, "artists": []}]


@pytest.mark.parametrize("missing", ["recommendations.parquet", "top_popular.parquet"])
def test_missing_artifact_stops_start(tmp_path: Path, missing: str) -> None:
    write_artifact_set(tmp_path)
    (tmp_path / missing).unlink()
    with pytest.raises(ArtifactError, match=rf"{missing}.*python -m musicrec pipeline"):
        with _client(tmp_path):
            pass
