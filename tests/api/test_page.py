"""The web page's routes on the recommendations service, on the tiny artifact set, dependencies faked.

Tracks are named "Track <id>"; 40 and 41 are by Artist E; users 1, 2 and 5 have personal lists.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from musicrec import schema
from musicrec.api.recommendations_app import create_app
from musicrec.artifacts import ArtifactSetWriter
from musicrec.errors import DependencyUnavailable
from musicrec.serving.history import EventKind, History
from musicrec.settings import load_settings
from tests.api.test_recommendations_app import FakeSimilar
from tests.artifact_factory import COURSE_RULE_ENV, write_artifact_set
from tests.serving.test_listeners import write_listening_log


class RecordingListens:
    """The events service in memory: what `put` stores (newest first), `history` answers."""

    def __init__(self, down: bool = False) -> None:
        self.down = down
        self.stored: dict[int, list[int]] = {}
        self.kinds: dict[int, list[EventKind]] = {}

    async def history(self, user_id: int, k: int) -> History:
        kinds = self.kinds.get(user_id, [])[:k]
        disliked = {item for item, kind in zip(self.stored.get(user_id, []), self.kinds.get(user_id, []))
                    if kind == "dislike"}
        return History(self.stored.get(user_id, [])[:k], kinds, frozenset(disliked))

    async def put(self, user_id: int, item_id: int, kind: EventKind = "listen") -> None:
        if self.down:
            raise DependencyUnavailable("events service at http://events/put: refused")
        self.stored.setdefault(user_id, []).insert(0, item_id)
        self.kinds.setdefault(user_id, []).insert(0, kind)


def _client(artifacts: Path, listens: RecordingListens) -> TestClient:
    settings = load_settings(environ={**COURSE_RULE_ENV, "MUSICREC_PATHS__ARTIFACTS": str(artifacts)})
    return TestClient(create_app(settings, listens, FakeSimilar()))


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_artifact_set(tmp_path_factory.mktemp("artifacts"))


@pytest.fixture()
def listens() -> RecordingListens:
    return RecordingListens()


@pytest.fixture()
def client(artifacts: Path, listens: RecordingListens) -> Iterator[TestClient]:
    with _client(artifacts, listens) as test_client:
        yield test_client


def test_the_page_and_its_files(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'src="web/app.js"' in page.text
    script = client.get("/web/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert client.get("/web/style.css").headers["content-type"].startswith("text/css")
    assert client.get("/web/missing.js").status_code == 404


def test_search_by_track_or_artist_name(client: TestClient) -> None:
    found = client.get("/search_tracks", params={"q": "TRACK 4"}).json()["tracks"]
    assert [track["item_id"] for track in found] == [40, 41]
    assert found[0] == {"item_id": 40, "name": "Track 40", "artists": ["Artist E"], "genres": ["pop"]}
    by_artist = client.get("/search_tracks", params={"q": "artist a"}).json()["tracks"]
    assert [track["item_id"] for track in by_artist][:2] == [10, 11]  # then tracks with both words apart
    assert [track["item_id"] for track in by_artist][2:] == [30, 20, 40, 41, 12]  # top popular first
    assert client.get("/search_tracks", params={"q": "track", "k": 2}).json()["tracks"][0]["item_id"] == 30
    assert client.get("/search_tracks", params={"q": "nothing like it"}).json() == {"tracks": []}


@pytest.mark.parametrize(("params", "named"), [({}, "q"), ({"q": ""}, "q"), ({"q": "x" * 101}, "q"),
                                               ({"q": "a", "k": 0}, "k"), ({"q": "a", "k": 101}, "k")])
def test_bad_search_is_422(client: TestClient, params: dict, named: str) -> None:
    answer = client.get("/search_tracks", params=params)
    assert answer.status_code == 422 and f"'{named}'" in answer.json()["detail"]


def test_sample_users(client: TestClient) -> None:
    for _ in range(5):
        known = client.get("/sample_user", params={"kind": "known"}).json()
        assert known["user_id"] in (1, 2, 5) and known["kind"] == "known"
        cold = client.get("/sample_user", params={"kind": "cold"}).json()
        assert 5 < cold["user_id"] <= 5 + 1_000_001
    long = client.get("/sample_user", params={"kind": "long"})
    assert long.status_code == 404 and "events.parquet is missing" in long.json()["detail"]
    assert client.get("/sample_user", params={"kind": "famous"}).status_code == 422


def test_long_history_users_come_from_the_listening_log(tmp_path: Path) -> None:
    folder = write_artifact_set(tmp_path)
    write_listening_log(folder, [1] * 3 + [2] * 5 + [3] * 9)  # 3 listens most, but has no personal list
    with _client(folder, RecordingListens()) as test_client:
        picked = test_client.get("/sample_user", params={"kind": "long"}).json()
    assert picked in ({"user_id": 2, "kind": "long", "listens": 5},
                      {"user_id": 1, "kind": "long", "listens": 3})


def test_about_names_the_set_and_its_quality(tmp_path: Path) -> None:
    folder = write_artifact_set(tmp_path / "20260101T000000Z")
    with _client(folder, RecordingListens()) as test_client:
        about = test_client.get("/about").json()
    assert about["artifact_set"] == {"name": "20260101T000000Z", "created_at": None, "tuned": None}
    assert about["quality"] is None
    assert about["docs"] == {"recommendations": "/docs", "features": "http://127.0.0.1:8010/docs",
                             "events": "http://127.0.0.1:8020/docs"}
    assert about["serving"] == {"max_per_artist": 2, "filter_heard": False}
    quality = {"models": {"als": {"ndcg@10": 0.1}}}
    (folder / schema.METRICS_FILE).write_text(json.dumps(quality))
    with _client(folder, RecordingListens()) as test_client:
        assert test_client.get("/about").json()["quality"] == quality


@pytest.mark.parametrize("tune", [True, False])
def test_about_says_whether_the_sets_settings_were_tuned(tmp_path: Path, tune: bool) -> None:
    """`make run` serves a quick (untuned) set first and switches to a tuned one: the page says which."""
    with ArtifactSetWriter(tmp_path / "artifacts", parameters={"tune": tune}) as folder:
        write_artifact_set(folder)
    with _client(tmp_path / "artifacts", RecordingListens()) as test_client:
        shown = test_client.get("/about").json()["artifact_set"]
    assert shown["name"] == folder.name and shown["created_at"] and shown["tuned"] is tune


def test_a_listen_goes_to_the_events_service_and_changes_online(client: TestClient, listens: RecordingListens
                                                                 ) -> None:
    assert client.post("/listen", params={"user_id": 9, "item_id": 40}).json() == {"result": "ok"}
    assert listens.stored == {9: [40]}
    online = client.get("/recommendations_online", params={"user_id": 9, "details": "true"}).json()
    assert online["recs"] == [41, 10]
    assert online["details"][0]["reason"]["because_of"] == 40
    assert client.get("/listen", params={"user_id": 9, "item_id": 40}).status_code == 405  # writes: POST only
    assert client.post("/listen", params={"user_id": 9, "item_id": -1}).status_code == 422


def test_a_dislike_from_the_page_goes_to_the_events_service(client: TestClient, listens: RecordingListens
                                                           ) -> None:
    assert client.post("/listen", params={"user_id": 9, "item_id": 41, "kind": "dislike"}).json() == {
        "result": "ok"}
    assert listens.kinds == {9: ["dislike"]}
    # user 9's offline list (top popular: 30 10 20 40 41) without 41, made up from the catalogue
    assert client.get("/recommendations_offline", params={"user_id": 9}).json()["recs"] == [30, 10, 20, 40, 11]
    assert client.post("/listen", params={"user_id": 9, "item_id": 41, "kind": "love"}).status_code == 422


def test_a_listen_when_events_is_down_is_503(artifacts: Path) -> None:
    with _client(artifacts, RecordingListens(down=True)) as test_client:
        answer = test_client.post("/listen", params={"user_id": 9, "item_id": 40})
    assert answer.status_code == 503 and "events service" in answer.json()["detail"]


def test_writes_need_the_key_when_one_is_set_and_the_page_stays_open(artifacts: Path) -> None:
    environ = {**COURSE_RULE_ENV, "MUSICREC_PATHS__ARTIFACTS": str(artifacts),
               "MUSICREC_SERVING__API_KEY": "s3cret", "MUSICREC_SERVING__OPEN_READS": "false"}
    with TestClient(create_app(load_settings(environ=environ), RecordingListens(), FakeSimilar())) as client:
        assert client.get("/").status_code == 200 and client.get("/web/app.js").status_code == 200
        listen = client.post("/listen", params={"user_id": 9, "item_id": 40})
        assert listen.status_code == 401 and "X-API-Key" in listen.json()["detail"]
        assert client.get("/about").status_code == 401  # reads too, with open_reads = false
        keyed = {"X-API-Key": "s3cret"}
        assert client.post("/listen", params={"user_id": 9, "item_id": 40}, headers=keyed).status_code == 200
        assert client.get("/about", headers=keyed).status_code == 200
