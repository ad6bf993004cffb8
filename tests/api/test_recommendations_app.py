"""The recommendations service on the tiny artifact set, with its two dependencies faked in-process.

The fakes answer like the real services would: listens from a dict, similar tracks from the
artifact factory's table, or DependencyUnavailable to play a dependency that is down or slow (the
HTTP clients turn refused, slow and malformed answers into it: tests/api/test_clients.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from musicrec.api.recommendations_app import create_app
from musicrec.errors import ArtifactError, DependencyUnavailable
from musicrec.serving.blending import SimilarList
from musicrec.serving.experiments import Experiment
from musicrec.serving.history import EventKind, History
from musicrec.settings import load_settings
from tests.artifact_factory import COURSE_RULE_ENV, SIMILAR, write_artifact_set

# user -> latest listens, newest first
HISTORY: dict[int, list[int]] = {1: [40, 10], 3: [20], 7: [99]}


class FakeListens:
    def __init__(self, down: bool = False, kinds: dict[int, list[EventKind]] | None = None,
                 disliked: dict[int, set[int]] | None = None) -> None:
        self.down = down
        self.kinds = kinds or {}
        self.disliked = disliked or {}

    async def history(self, user_id: int, k: int) -> History:
        if self.down:
            raise DependencyUnavailable("events service at http://events/get: timed out")
        items = HISTORY.get(user_id, [])[:k]
        kinds = self.kinds.get(user_id, ["listen"] * len(items))[:k]
        return History(items, kinds, frozenset(self.disliked.get(user_id, ())))

    async def put(self, user_id: int, item_id: int, kind: EventKind = "listen") -> None:
        raise AssertionError("these tests store no events (tests/api/test_page.py does)")


class FakeSimilar:
    def __init__(self, down: bool = False) -> None:
        self.down = down

    async def similar_batch(self, item_ids: list[int], k: int) -> list[SimilarList]:
        if self.down:
            raise DependencyUnavailable("features service at http://features/similar_items_batch: refused")
        pairs = [SIMILAR.get(item_id, [])[:k] for item_id in item_ids]
        return [([item for item, _ in track], [score for _, score in track]) for track in pairs]


def _client(artifacts: Path, listens: FakeListens | None = None, similar: FakeSimilar | None = None,
            **environ: str) -> TestClient:
    environ = {**COURSE_RULE_ENV, "MUSICREC_PATHS__ARTIFACTS": str(artifacts), **environ}
    settings = load_settings(environ=environ)
    return TestClient(create_app(settings, listens or FakeListens(), similar or FakeSimilar()))


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_artifact_set(tmp_path_factory.mktemp("artifacts"))


@pytest.fixture(scope="module")
def client(artifacts: Path) -> Iterator[TestClient]:
    with _client(artifacts) as test_client:
        yield test_client


def _recs(client: TestClient, path: str, method: str = "POST", **params: Any) -> list[int]:
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
    # k=3: the default cap of 2 per 10 allows one track of Artist A, so 11 gives its place to 12
    assert _recs(client, "/recommendations", "GET", user_id=1, k=3) == [10, 41, 12]
    assert _recs(client, "/recommendations", "GET", user_id=1, k=3, max_per_artist=0) == [10, 41, 11]
    # unknown user with a listen: top popular blended with the similar tracks of 20
    assert _recs(client, "/recommendations", user_id=3) == [30, 21, 10, 42, 20, 40, 41]
    # no listens: offline only
    assert _recs(client, "/recommendations", user_id=2) == [20, 10, 21]


def test_a_disliked_track_comes_back_from_no_route(artifacts: Path) -> None:
    with _client(artifacts, FakeListens(disliked={1: {11}, 3: {30}})) as test_client:
        # as many tracks as before: top popular makes up for the disliked one where a list runs out
        assert _recs(test_client, "/recommendations_offline", user_id=1) == [10, 12, 13, 30]
        assert _recs(test_client, "/recommendations_online", user_id=1) == [41, 12]
        assert _recs(test_client, "/recommendations", user_id=1) == [10, 41, 12, 13, 30]
        assert _recs(test_client, "/recommendations_offline", user_id=3, k=2) == [10, 20]  # popular, less 30


def test_excluded_tracks_are_replaced(client: TestClient) -> None:
    # user 1's list 10 11 12 13 without 10 and 12, as long as before: top popular makes up the rest
    assert _recs(client, "/recommendations_offline", user_id=1, exclude="10,12") == [11, 13, 30, 20]
    assert _recs(client, "/recommendations_offline", "GET", user_id=1, exclude=["10", "12"]) == [11, 13, 30, 20]
    # top popular 30 10 20 40 41 without 30 and 20, then the catalogue by id: 11, 12
    assert _recs(client, "/recommendations_default", exclude=["30", "20"]) == [10, 40, 41, 11, 12]
    # online 41 11 12 without 11; blended 10 41 11 12 13 without 41
    assert _recs(client, "/recommendations_online", user_id=1, exclude="11") == [41, 12]
    assert _recs(client, "/recommendations", user_id=1, exclude="41") == [10, 11, 12, 13, 30]


def test_a_post_body_adds_exclusions_and_filters(client: TestClient) -> None:
    answer = client.post("/recommendations_offline", params={"user_id": 1, "exclude": "11"},
                         json={"exclude": [10, 12]})
    assert answer.json()["recs"] == [13, 30, 20, 40]
    answer = client.post("/recommendations_default", json={"artist": ["artist e"]})
    assert answer.json()["recs"] == [40, 41]
    assert client.post("/recommendations_default", json={}).json()["recs"] == [30, 10, 20, 40, 41]


def test_genre_and_artist_filters_fill_the_list_from_the_catalogue(client: TestClient) -> None:
    # user 1's 11 and 12 are by Artist B; nothing else in the set is
    assert _recs(client, "/recommendations_offline", user_id=1, artist="Artist B") == [11, 12]
    assert _recs(client, "/recommendations_offline", user_id=1, artist=["artist b", "Artist D"]) == [11, 12, 30]
    # every named track is pop: top popular, then the catalogue's other tracks by id
    assert _recs(client, "/recommendations_default", genre="POP") == [30, 10, 20, 40, 41, 11, 12, 21]
    for path in ("/recommendations_default", "/recommendations_offline", "/recommendations_online",
                 "/recommendations"):
        assert _recs(client, path, user_id=1, genre="jazz") == []
    assert _recs(client, "/recommendations_online", user_id=1, artist="Artist E") == [41]


def test_the_cap_per_artist_is_on_for_blended_lists_and_asked_for_elsewhere(client: TestClient) -> None:
    # user 1: offline 10 (A) 11 (A) 12 (B) 13; at most ceil(2 * 2 / 10) = 1 of an artist in lists of 2
    assert _recs(client, "/recommendations_offline", user_id=1, k=2) == [10, 11]
    assert _recs(client, "/recommendations_offline", user_id=1, k=2, max_per_artist=2) == [10, 12]
    # the next page starts with the track the cap held back
    assert _recs(client, "/recommendations_offline", user_id=1, k=2, offset=2, max_per_artist=2) == [11, 13]
    assert _recs(client, "/recommendations", user_id=1, k=4, max_per_artist=10) == [10, 41, 11, 12]


def test_offset_pages_through_the_same_ranking(client: TestClient) -> None:
    assert _recs(client, "/recommendations_default", k=2, offset=2) == [20, 40]
    pages = [_recs(client, "/recommendations", user_id=1, k=2, offset=offset) for offset in (0, 2, 4, 6)]
    assert pages == [[10, 41], [11, 12], [13], []]
    assert _recs(client, "/recommendations_offline", user_id=1, offset=3) == [13]


@pytest.mark.parametrize(
    ("params", "body", "message"),
    [({"exclude": "10,x"}, None, "query parameter 'exclude': each id should be a whole number"),
     ({"exclude": "-1"}, None, "query parameter 'exclude': each id"),
     ({"exclude": ",".join(["1"] * 1001)}, None, "query parameter 'exclude': at most 1000 track ids"),
     ({"offset": -1}, None, "query parameter 'offset'"),
     ({"offset": 1001}, None, "query parameter 'offset': Input should be less than or equal to 1000"),
     ({"max_per_artist": 11}, None, "query parameter 'max_per_artist'"),
     ({"genre": ""}, None, "query parameter 'genre': a name of 1 to 200 characters"),
     ({"artist": ["x"] * 21}, None, "query parameter 'artist': at most 20 names"),
     ({}, {"exclude": [-1]}, "body parameter 'exclude.0'"),
     ({}, {"exclud": [1]}, "body parameter 'exclud': Extra inputs are not permitted"),
     ({}, {"genre": "pop"}, "body parameter 'genre': Input should be a valid list")],
)
def test_bad_list_options_are_422_with_a_message(client: TestClient, params: dict, body: object,
                                                 message: str) -> None:
    answer = client.post("/recommendations", params={"user_id": 1, **params}, json=body)
    assert answer.status_code == 422
    assert message in answer.json()["detail"]


def test_list_options_are_in_the_openapi_schema(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/recommendations_default", "/recommendations_offline", "/recommendations_online",
                 "/recommendations"):
        for method in ("get", "post"):
            operation = spec["paths"][path][method]
            names = {parameter["name"] for parameter in operation["parameters"]}
            assert {"exclude", "genre", "artist", "offset", "max_per_artist"} <= names, (path, method)
            assert ("requestBody" in operation) == (method == "post")
        assert not spec["paths"][path]["post"]["requestBody"].get("required", False)
    assert set(spec["components"]["schemas"]["ListFilters"]["properties"]) == {"exclude", "genre", "artist"}


OFFLINE = {"source": "offline", "text": "in your personal list, made offline from your listening history",
           "because_of": None, "proposed_by": None}
POPULAR = {"source": "popular", "text": "one of the most played tracks", "because_of": None,
           "proposed_by": None}


def _online(text: str, because_of: int) -> dict:
    return {"source": "online", "text": text, "because_of": because_of, "proposed_by": None}


def test_details_name_each_track(client: TestClient) -> None:
    answer = client.post("/recommendations_offline", params={"user_id": 2, "details": "true"}).json()
    assert answer == {"recs": [20, 10, 21], "degraded": False, "details": [
        {"item_id": 20, "name": "Track 20", "artists": ["Artist C"], "genres": ["pop"], "reason": OFFLINE},
        {"item_id": 10, "name": "Track 10", "artists": ["Artist A"], "genres": ["pop"], "reason": OFFLINE},
        {"item_id": 21, "name": "Track 21", "artists": [], "genres": ["pop"], "reason": OFFLINE},
    ]}


def test_details_say_where_the_filling_came_from(client: TestClient) -> None:
    answer = client.get("/recommendations_offline", params={"user_id": 1, "exclude": "10,11,12",
                                                            "artist": ["Artist A", "Artist D"], "details": "true"})
    assert answer.json()["recs"] == [30]  # 10 and 11, Artist A's, are excluded
    answer = client.get("/recommendations_default", params={"genre": "pop", "k": 7, "details": "true"}).json()
    assert [track["reason"]["source"] for track in answer["details"]] == ["popular"] * 5 + ["catalog"] * 2


def test_details_say_why_each_track_is_there(client: TestClient) -> None:
    # user 1 just played 40, and 10 before it: blended [10, 41, 11, 12, 13] as above
    answer = client.get("/recommendations", params={"user_id": 1, "details": "true"}).json()
    after_40 = _online("similar to 'Track 40' by Artist E, which you just played", 40)
    after_10 = _online("similar to 'Track 10' by Artist A, which you played recently", 10)
    reasons = [track["reason"] for track in answer["details"]]
    assert reasons == [OFFLINE, after_40, after_10, after_10, OFFLINE]
    online = client.get("/recommendations_online", params={"user_id": 1, "details": "true"}).json()
    assert [track["reason"] for track in online["details"]] == [after_40, after_10, after_10]
    default = client.get("/recommendations_default", params={"k": 1, "details": "true"}).json()
    assert default["details"][0]["reason"] == POPULAR


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
    ("listens", "similar", "dependency"),
    [(FakeListens(), FakeSimilar(down=True), "features"), (FakeListens(down=True), FakeSimilar(), "events")],
)
def test_failed_dependency_gives_degraded_offline_answer(
    artifacts: Path, listens: FakeListens, similar: FakeSimilar, dependency: str
) -> None:
    with _client(artifacts, listens, similar) as test_client:
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
    unnamed: dict[str, Any] = {"name": None, "artists": [], "genres": [], "reason": OFFLINE}
    assert answer["details"] == [{"item_id": 30, **unnamed}, {"item_id": 31, **unnamed}]


@pytest.mark.parametrize("missing", ["recommendations.parquet", "top_popular.parquet"])
def test_missing_artifact_stops_start(tmp_path: Path, missing: str) -> None:
    write_artifact_set(tmp_path)
    (tmp_path / missing).unlink()
    with pytest.raises(ArtifactError, match=rf"{missing}.*python -m musicrec pipeline"), _client(tmp_path):
        pass


def test_with_an_experiment_each_user_gets_an_arm_and_its_answers(artifacts: Path, tmp_path: Path) -> None:
    log = tmp_path / "exposures.jsonl"
    environ = {"MUSICREC_EXPERIMENTS__NAME": "cap-test", "MUSICREC_EXPERIMENTS__ARMS": "uncapped:1, capped:1",
               "MUSICREC_EXPERIMENTS__ARM_CAPPED": "max_per_artist=1", "MUSICREC_EXPERIMENTS__ARM_UNCAPPED":
               "max_per_artist=0", "MUSICREC_EXPERIMENTS__EXPOSURE_LOG": str(log)}
    experiment = Experiment("cap-test", ("uncapped", "capped"), (1.0, 1.0))
    assert (experiment.arm_of(1), experiment.arm_of(2)) == ("capped", "uncapped")
    with _client(artifacts, None, None, **environ) as test_client:
        # user 1, blended k=4: 10 (A) 41 (E) 11 (A) 12 (B) without a cap; capped at 1 per 10, 11 waits
        answer = test_client.get("/recommendations", params={"user_id": 1, "k": 4, "details": "true"})
        assert answer.headers["x-experiment-arm"] == "capped"
        assert answer.json()["recs"] == [10, 41, 12, 13] and answer.json()["arm"] == "capped"
        plain = test_client.get("/recommendations_offline", params={"user_id": 2})
        assert plain.headers["x-experiment-arm"] == "uncapped" and "arm" not in plain.json()
        assert "x-experiment-arm" not in test_client.get("/recommendations_default").headers  # no user
        assert _metric(test_client, 'recommendations_experiment_answers_total{arm="capped",route="blended"}') == 1.0
        assert _metric(test_client, 'recommendations_experiment_answers_total{arm="uncapped",route="offline"}') == 1.0
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(line["user_id"], line["arm"], line["route"], line["recs"]) for line in lines] == [
        (1, "capped", "blended", [10, 41, 12, 13]), (2, "uncapped", "offline", [20, 10, 21])]
    assert all(line["experiment"] == "cap-test" and line["time"].endswith("+00:00") for line in lines)


def test_without_an_experiment_answers_name_no_arm(client: TestClient, artifacts: Path) -> None:
    answer = client.get("/recommendations", params={"user_id": 1, "details": "true"})
    assert "x-experiment-arm" not in answer.headers and "arm" not in answer.json()
