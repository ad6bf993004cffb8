"""The features service answers the course contract from the tiny artifact set."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from musicrec import schema
from musicrec.api.features_app import create_app
from musicrec.artifacts import ArtifactSetWriter
from musicrec.errors import ArtifactError
from musicrec.manifest import build_manifest, write_manifest
from musicrec.settings import Settings, load_settings
from tests.artifact_factory import write_artifact_set, write_similar


def _settings(artifacts: Path) -> Settings:
    environ = {"MUSICREC_PATHS__ARTIFACTS": str(artifacts), "MUSICREC_SERVING__MAX_K": "50"}
    return load_settings(environ=environ)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    artifacts = write_artifact_set(tmp_path_factory.mktemp("artifacts"))
    with TestClient(create_app(_settings(artifacts))) as test_client:
        yield test_client


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_similar_items_honours_k(client: TestClient, method: str) -> None:
    answer = client.request(method, "/similar_items", params={"item_id": 10, "k": 2})
    assert answer.status_code == 200
    assert answer.json() == {"item_id_2": [11, 12], "score": [0.8999999761581421, 0.5]}


def test_similar_items_default_k_returns_all_when_fewer(client: TestClient) -> None:
    assert client.post("/similar_items", params={"item_id": 20}).json() == {
        "item_id_2": [21, 42], "score": [0.875, 0.625]
    }


def test_unknown_track_gets_empty_lists(client: TestClient) -> None:
    answer = client.post("/similar_items", params={"item_id": 99, "k": 5})
    assert answer.json() == {"item_id_2": [], "score": []}


def test_a_new_track_gets_similar_tracks_by_content(client: TestClient) -> None:
    # 41 is in items.parquet but has no learned list: its Artist E's 40, then pop tracks by popularity
    answer = client.get("/similar_items", params={"item_id": 41}).json()
    assert answer["item_id_2"] == [40, 10, 11, 20]
    assert answer["relations"] == ["artist", "genre", "genre", "genre"]
    assert answer["score"] == pytest.approx([0.4, 0.2, 0.199, 0.198])
    batch = client.post("/similar_items_batch", json={"item_ids": [41, 10], "k": 2}).json()["items"]
    assert batch[0] == {"item_id": 41, "item_id_2": [40, 10], "score": pytest.approx([0.4, 0.2]),
                        "relations": ["artist", "genre"]}
    assert "relations" not in batch[1]  # a learned list, as before
    spec = client.get("/openapi.json").json()["components"]["schemas"]["SimilarItemsResponse"]
    assert spec["properties"]["relations"]["items"]["enum"] == ["album", "artist", "genre"]


@pytest.mark.parametrize(
    ("params", "named"),
    [({"item_id": -1}, "item_id"), ({"item_id": 10, "k": 0}, "k"), ({"item_id": 10, "k": 51}, "k"),
     ({}, "item_id"), ({"item_id": "x"}, "item_id"), ({"item_id": 2**31}, "item_id")],
)
def test_bad_input_is_422_naming_the_parameter(client: TestClient, params: dict, named: str) -> None:
    answer = client.post("/similar_items", params=params)
    assert answer.status_code == 422
    assert f"'{named}'" in answer.json()["detail"]


def test_batch_answers_in_order_asked(client: TestClient) -> None:
    answer = client.post("/similar_items_batch", json={"item_ids": [40, 99, 11], "k": 1})
    assert answer.status_code == 200
    assert answer.json() == {"items": [
        {"item_id_2": [41], "score": [1.0], "item_id": 40},
        {"item_id_2": [], "score": [], "item_id": 99},
        {"item_id_2": [10], "score": [0.75], "item_id": 11},
    ]}


@pytest.mark.parametrize(
    "body", [{"item_ids": [1], "k": 51}, {"item_ids": [-1], "k": 1}, {"item_ids": "1"}, {"k": 1},
             {"item_ids": list(range(1001))}],
)
def test_bad_batch_is_422(client: TestClient, body: dict) -> None:
    answer = client.post("/similar_items_batch", json=body)
    assert answer.status_code == 422
    assert answer.json()["detail"]


@pytest.mark.parametrize("not_an_id", [1.0, "5", True, 10.5])
def test_batch_ids_are_json_integers_only(client: TestClient, not_an_id: object) -> None:
    answer = client.post("/similar_items_batch", json={"item_ids": [10, not_an_id], "k": 1})
    assert answer.status_code == 422
    assert "body parameter 'item_ids.1': Input should be a valid integer" in answer.json()["detail"]


def test_a_batch_of_a_thousand_bad_ids_gets_a_short_answer(client: TestClient) -> None:
    answer = client.post("/similar_items_batch", json={"item_ids": ["x" * 20] * 1000})
    assert answer.status_code == 422
    assert len(answer.content) < 1000
    assert answer.json()["detail"].endswith("; and 995 more problem(s)")


def test_nested_json_is_a_400_not_a_500(client: TestClient) -> None:
    nested = b'{"item_ids": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    answer = client.post("/similar_items_batch", content=nested, headers={"content-type": "application/json"})
    assert answer.status_code == 400
    assert "recursion limit exceeded" in answer.json()["detail"]


def test_a_body_over_the_limit_is_a_413(client: TestClient) -> None:
    huge = {"item_ids": list(range(10_000))}
    answer = client.post("/similar_items_batch", json=huge)
    assert answer.status_code == 413
    assert "[serving] max_body_bytes" in answer.json()["detail"]


def test_missing_artifact_stops_start_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"similar\.parquet.*python -m musicrec pipeline"), \
            TestClient(create_app(_settings(tmp_path))):
        pass


def test_start_is_logged_with_rows(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    with TestClient(create_app(_settings(write_artifact_set(tmp_path)))) as test_client:
        assert test_client.get("/ready").status_code == 200
    assert "similar.parquet: 4 tracks, 9 similar pairs; 4 new tracks get similar tracks by content, mapped from" \
        in caplog.text
    assert "0 MiB of arrays" in caplog.text


def test_file_changed_after_its_manifest_stops_start(tmp_path: Path) -> None:
    """Still valid parquet, so it loads; the checksum made alongside the loading must stop start-up."""
    write_artifact_set(tmp_path)
    write_manifest(tmp_path, build_manifest(tmp_path))
    write_similar(tmp_path, row_group_size=2)  # same rows, different bytes
    with pytest.raises(ArtifactError, match=r"corrupt artifact .*similar\.parquet"), \
            TestClient(create_app(_settings(tmp_path))):
        pass


def test_a_mapped_file_changed_after_its_manifest_makes_ready_fail_naming_it(tmp_path: Path) -> None:
    """Checksums are verified right after start (hashing is slower than the whole start-up)."""
    artifacts = tmp_path / "artifacts"
    with ArtifactSetWriter(artifacts) as folder:
        write_artifact_set(folder)
    items = folder / schema.SERVING_INDEX_FOLDER / "similar" / "items.npy"
    content = bytearray(items.read_bytes())
    content[-1] ^= 0x01  # same size, so only the checksum can tell
    items.write_bytes(bytes(content))
    with TestClient(create_app(_settings(artifacts))) as test_client:
        deadline = time.monotonic() + 10
        while (ready := test_client.get("/ready")).status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert ready.status_code == 503
    assert re.search(r"corrupt artifact .*similar/items\.npy: sha256", ready.json()["detail"])
