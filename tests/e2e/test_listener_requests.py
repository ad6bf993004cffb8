"""What listeners ask of the trio beyond the course API, against the three real services (issue 23).

Expected lists are worked out from tests/artifact_factory.py and the course rule the trio runs with
(alternate blend, three listens, no filter_heard). Users 7001 and up are used by this module only;
the pipeline does not know them, so their offline list is top popular: 30, 10, 20, 40, 41.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from musicrec import schema
from musicrec.settings import PROJECT_ROOT
from tests.e2e.conftest import Trio, started_trio

pytestmark = pytest.mark.slow
ROUTES = ("/recommendations_offline", "/recommendations_online", "/recommendations")


def put(trio: Trio, user_id: int, item_id: int, kind: str | None = None) -> None:
    params: dict[str, Any] = {"user_id": user_id, "item_id": item_id}
    if kind:
        params["kind"] = kind
    answer = httpx.post(f"{trio.url('events')}/put", params=params)
    assert answer.json() == {"result": "ok"}, answer.text


def recs(trio: Trio, path: str, **params: Any) -> list[int]:
    answer = httpx.get(f"{trio.url('recommendations')}{path}", params=params)
    assert answer.status_code == 200, answer.text
    assert answer.json()["degraded"] is False
    return answer.json()["recs"]


def test_a_disliked_track_comes_back_from_no_route(shared_trio: Trio) -> None:
    put(shared_trio, 7001, 10)
    put(shared_trio, 7001, 20, "dislike")
    put(shared_trio, 7001, 12, "dislike")
    events = httpx.get(f"{shared_trio.url('events')}/get", params={"user_id": 7001}).json()
    assert (events["events"], events["kinds"], events["disliked"]) == (
        [12, 20, 10], ["dislike", "dislike", "listen"], [12, 20])
    # as long as before: the catalogue (by id: 10, 11, (12), (20), 21, ...) makes up for 20
    assert recs(shared_trio, "/recommendations_offline", user_id=7001) == [30, 10, 40, 41, 11]
    # the only listen, 10 -> 11, (12), 40
    assert recs(shared_trio, "/recommendations_online", user_id=7001) == [11, 40]
    # popular 30 10 (20) 40 41 / online 11 40 -> 30 11 10 40 41, and 21 for 20
    assert recs(shared_trio, "/recommendations", user_id=7001) == [30, 11, 10, 40, 41, 21]


def test_a_skipped_track_is_no_anchor_and_moves_down(shared_trio: Trio) -> None:
    put(shared_trio, 7002, 10)
    put(shared_trio, 7002, 40, "skip")  # as an anchor it would bring 41
    assert recs(shared_trio, "/recommendations_online", user_id=7002) == [11, 12, 40]
    assert recs(shared_trio, "/recommendations_offline", user_id=7002) == [30, 10, 20, 41, 40]
    assert recs(shared_trio, "/recommendations_offline", user_id=7002, k=4) == [30, 10, 20, 41]


def test_exclusions_filters_and_pages_on_every_route(shared_trio: Trio) -> None:
    # top popular 30 10 20 40 41 without 30 and 20, made up from the catalogue by id: 11, 12
    assert recs(shared_trio, "/recommendations_default", exclude="30,20") == [10, 40, 41, 11, 12]
    assert recs(shared_trio, "/recommendations_default", exclude=["30", "20"]) == [10, 40, 41, 11, 12]
    assert recs(shared_trio, "/recommendations_default", k=2, offset=2) == [20, 40]
    answer = httpx.post(f"{shared_trio.url('recommendations')}/recommendations_offline",
                        params={"user_id": 5, "exclude": "31"}, json={"exclude": [30]})
    assert answer.json()["recs"] == [10, 20]  # user 5's list is 30, 31: top popular makes it up
    put(shared_trio, 7003, 20)  # 20 -> 21 (Artist-less), 42 (unnamed)
    assert recs(shared_trio, "/recommendations_online", user_id=7003, exclude="21") == [42]
    # popular 30 10 20 40 41 blended with 21 42; Artist E's tracks are 40 and 41
    assert recs(shared_trio, "/recommendations", user_id=7003, artist="artist e") == [40, 41]
    assert recs(shared_trio, "/recommendations", user_id=7003, genre="jazz") == []
    pages = [recs(shared_trio, "/recommendations", user_id=7003, k=3, offset=offset) for offset in (0, 3, 6)]
    assert pages == [[30, 21, 10], [42, 20, 40], [41]]
    bad = httpx.get(f"{shared_trio.url('recommendations')}/recommendations", params={"user_id": 1, "offset": "x"})
    assert bad.status_code == 422 and "'offset'" in bad.json()["detail"]


def test_a_listen_of_a_new_release_brings_tracks_that_share_its_artist(shared_trio: Trio) -> None:
    # 41 is in items.parquet without a learned list: the features service finds its tracks by content
    put(shared_trio, 7004, 41)
    answer = httpx.get(f"{shared_trio.url('recommendations')}/recommendations_online",
                       params={"user_id": 7004, "details": "true"}).json()
    assert answer["recs"] == [40, 10, 11, 20]
    assert answer["details"][0]["reason"]["text"] == "by Artist E, whose new release 'Track 41' you just played"


def test_a_track_added_by_a_catalogue_update_gets_similar_tracks_while_the_trio_runs(
        tmp_path: Path) -> None:
    update = tmp_path / "update"
    update.mkdir()
    pq.write_table(pa.table({schema.TRACK_ID: [50], schema.ALBUMS: [[400]], schema.ARTISTS: [[500]],
                             schema.GENRES: [[600]]}), update / schema.TRACKS_FILE)
    names = {schema.ID: [50, 400, 500, 600], schema.TYPE: ["track", "album", "artist", "genre"],
             schema.NAME: ["New Song", "Album 40", "Artist E", "pop"]}
    pq.write_table(pa.table(names), update / schema.CATALOG_NAMES_FILE)
    with started_trio(tmp_path, MUSICREC_SERVING__RELOAD_INTERVAL="0.5") as trio:
        features = trio.url("features")
        assert httpx.get(f"{features}/similar_items", params={"item_id": 50}).json()["item_id_2"] == []
        env = {**trio.env, "MUSICREC_PATHS__RAW": str(tmp_path / "no-raw-files")}
        done = subprocess.run([sys.executable, "-m", "musicrec", "catalog", "--add", str(update)],
                              env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and "added 1 tracks" in done.stdout, done.stdout + done.stderr
        deadline = time.monotonic() + 30
        while not (similar := httpx.get(f"{features}/similar_items", params={"item_id": 50}).json())["item_id_2"]:
            assert time.monotonic() < deadline, "the features service did not switch to the updated set"
            time.sleep(0.2)
        # by content: 40 of its album, then the pop tracks with a learned list by popularity
        assert (similar["item_id_2"], similar["relations"]) == ([40, 10, 11, 20], ["album", "genre", "genre", "genre"])
        deadline = time.monotonic() + 30  # the recommendations service switches on its own too
        search = f"{trio.url('recommendations')}/search_tracks"
        while httpx.get(search, params={"q": "new song"}).json()["tracks"] == []:
            assert time.monotonic() < deadline, "the recommendations service did not switch to the updated set"
            time.sleep(0.2)
        put(trio, 7005, 50)
        answer = httpx.get(f"{trio.url('recommendations')}/recommendations_online",
                           params={"user_id": 7005, "details": "true"}).json()
        assert answer["recs"] == [40, 10, 11, 20]
        reason = answer["details"][0]["reason"]["text"]
        assert reason == "from the album of 'New Song', the new release you just played"


def test_an_experiment_names_each_answers_arm_and_logs_it(tmp_path: Path) -> None:
    log = tmp_path / "exposures.jsonl"
    experiment = {"MUSICREC_EXPERIMENTS__NAME": "cap-test", "MUSICREC_EXPERIMENTS__ARMS": "uncapped:1, capped:1",
                  "MUSICREC_EXPERIMENTS__ARM_UNCAPPED": "max_per_artist=0",
                  "MUSICREC_EXPERIMENTS__ARM_CAPPED": "max_per_artist=1",
                  "MUSICREC_EXPERIMENTS__EXPOSURE_LOG": str(log)}
    with started_trio(tmp_path, **experiment) as trio:
        base = trio.url("recommendations")
        capped = httpx.get(f"{base}/recommendations", params={"user_id": 1, "k": 4, "details": "true"})
        assert capped.headers["x-experiment-arm"] == "capped" and capped.json()["arm"] == "capped"
        assert capped.json()["recs"] == [10, 12, 13, 30]  # one of Artist A's tracks per list of 4
        uncapped = httpx.get(f"{base}/recommendations", params={"user_id": 2, "k": 4})
        assert uncapped.headers["x-experiment-arm"] == "uncapped"
        metrics = httpx.get(f"{base}/metrics").text
        assert 'recommendations_experiment_answers_total{arm="capped",route="blended"} 1.0' in metrics
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(line["user_id"], line["arm"], line["route"]) for line in lines] == [
        (1, "capped", "blended"), (2, "uncapped", "blended")]
