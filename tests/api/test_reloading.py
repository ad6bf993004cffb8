"""Hot reload in process: a new set is verified beside the old one and swapped in; a bad one is refused."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from musicrec import schema
from musicrec.api import features_app, recommendations_app
from musicrec.artifacts import prune_sets
from musicrec.serving.blending import SimilarList
from musicrec.serving.history import EventKind, History
from musicrec.settings import Settings, load_settings
from tests.artifact_factory import COURSE_RULE_ENV, publish_artifact_set


class NoListens:
    async def history(self, user_id: int, k: int) -> History:
        return History()

    async def put(self, user_id: int, item_id: int, kind: EventKind = "listen") -> None:
        raise AssertionError("these tests store no events")


class NoSimilar:
    async def similar_batch(self, item_ids: list[int], k: int) -> list[SimilarList]:
        return [([], []) for _ in item_ids]


def settings(artifacts: Path, **serving: str) -> Settings:
    environ = {**COURSE_RULE_ENV, "MUSICREC_PATHS__ARTIFACTS": str(artifacts),
               "MUSICREC_SERVING__RELOAD_INTERVAL": "0"}
    environ.update({f"MUSICREC_SERVING__{key.upper()}": value for key, value in serving.items()})
    return load_settings(environ=environ)


def recommendations_client(artifacts: Path, **serving: str) -> TestClient:
    app = recommendations_app.create_app(settings(artifacts, **serving), NoListens(), NoSimilar())
    return TestClient(app)


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    return tmp_path / "data" / "artifacts"


def test_admin_reload_switches_to_the_new_set_and_every_answer_names_it(artifacts: Path) -> None:
    first = publish_artifact_set(artifacts, [30, 10, 20])
    with recommendations_client(artifacts) as client:
        answer = client.get("/recommendations_default", params={"k": 2})
        assert answer.json()["recs"] == [30, 10] and answer.headers["X-Artifact-Set"] == first
        assert client.get("/ready").json() == {"status": "ready", "artifact_set": first}
        assert client.post("/admin/reload").json() == {"artifact_set": first, "switched": False}

        second = publish_artifact_set(artifacts, [41, 40])
        assert client.post("/admin/reload").json() == {"artifact_set": second, "switched": True}
        answer = client.get("/recommendations_default", params={"k": 2})
        assert answer.json()["recs"] == [41, 40] and answer.headers["X-Artifact-Set"] == second
        assert client.get("/health").headers["X-Artifact-Set"] == second  # every answer, not only data
        metrics = client.get("/metrics").text
        assert f'artifact_set_info{{set="{second}"}} 1.0' in metrics and first not in metrics
        assert 'artifact_set_reloads_total{outcome="switched"} 1.0' in metrics


def test_a_set_that_fails_its_checksums_is_refused_and_the_old_one_keeps_serving(
    artifacts: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = publish_artifact_set(artifacts, [30, 10, 20])
    with recommendations_client(artifacts) as client:
        bad = publish_artifact_set(artifacts, [41, 40])
        scores = artifacts.resolve() / schema.SERVING_INDEX_FOLDER / "recommendations" / "scores.npy"
        content = bytearray(scores.read_bytes())
        content[-1] ^= 0x01  # the same size: only the checksum can tell
        scores.write_bytes(bytes(content))

        refused = client.post("/admin/reload")
        assert refused.status_code == 409
        assert f"still serving {first}" in refused.json()["detail"]
        assert "recommendations/scores.npy: sha256" in refused.json()["detail"]
        assert f"artifact set {bad} refused" in caplog.text and "scores.npy" in caplog.text
        answer = client.get("/recommendations_default", params={"k": 2})
        assert answer.json()["recs"] == [30, 10] and answer.headers["X-Artifact-Set"] == first
        assert client.get("/ready").status_code == 200
        assert 'artifact_set_reloads_total{outcome="refused"} 1.0' in client.get("/metrics").text


def test_a_missing_file_in_the_new_set_is_refused_naming_it(artifacts: Path) -> None:
    first = publish_artifact_set(artifacts, [30, 10, 20])
    with TestClient(features_app.create_app(settings(artifacts))) as client:
        publish_artifact_set(artifacts, [41, 40])
        (artifacts.resolve() / schema.SERVING_INDEX_FOLDER / "similar" / "items.npy").unlink()
        refused = client.post("/admin/reload")
        assert refused.status_code == 409 and "similar/items.npy" in refused.json()["detail"]
        answer = client.get("/similar_items", params={"item_id": 10, "k": 1})
        assert answer.json()["item_id_2"] == [11] and answer.headers["X-Artifact-Set"] == first


def test_the_pointer_is_polled(artifacts: Path) -> None:
    publish_artifact_set(artifacts, [30, 10, 20])
    with TestClient(features_app.create_app(settings(artifacts, reload_interval="0.05"))) as client:
        second = publish_artifact_set(artifacts, [41, 40])
        deadline = time.monotonic() + 10
        while client.get("/ready").json().get("artifact_set") != second:
            assert time.monotonic() < deadline, "the new set was not picked up"
            time.sleep(0.02)
        assert client.post("/similar_items_batch", json={"item_ids": [10], "k": 1}).headers[
            "X-Artifact-Set"] == second


def test_pruning_never_removes_the_set_a_service_serves(artifacts: Path) -> None:
    first = publish_artifact_set(artifacts, [30, 10, 20])
    with recommendations_client(artifacts) as client:
        for _ in range(3):
            publish_artifact_set(artifacts, [41, 40], keep=1)
        assert (artifacts.parent / "artifact_sets" / first).is_dir()  # still served: kept
        assert client.get("/recommendations_default", params={"k": 1}).json()["recs"] == [30]
        client.post("/admin/reload")
    assert [path.name for path in prune_sets(artifacts, keep=1)] == [first]  # released: pruned now


def test_with_an_api_key_the_admin_route_needs_it(artifacts: Path) -> None:
    publish_artifact_set(artifacts, [30, 10, 20])
    with recommendations_client(artifacts, api_key="s3cret") as client:
        assert client.post("/admin/reload").status_code == 401
        assert client.post("/admin/reload", headers={"X-API-Key": "s3cret"}).status_code == 200
        assert client.get("/admin/reload", headers={"X-API-Key": "s3cret"}).status_code == 405
