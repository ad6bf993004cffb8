"""The replicated setup under load, with real processes: nginx, redis-server, two uvicorn replicas
per service (`musicrec.cluster`), clients that only talk to nginx.

(a) kill -9 of a recommendations replica under load: no request fails;
(b) a new set published under load: every replica switches within the poll interval, no errors, and
    every answer comes whole from the set its `X-Artifact-Set` names;
(c) Redis killed and restarted (append-only file): acknowledged listens are all there, answers are
    degraded only while it is down.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from musicrec.api.launcher import free_port, wait_ready
from musicrec.cluster.supervisor import RunningCluster, plan_cluster, running_cluster
from musicrec.settings import load_settings
from tests.artifact_factory import publish_artifact_set

pytestmark = pytest.mark.slow

REPLICAS = 2
POLL_INTERVAL_S = 0.5
FIRST_TOP, SECOND_TOP = [30, 10, 20, 40, 41], [41, 40, 21, 12, 11]
LOAD_THREADS = 4


@dataclass
class Cluster:
    running: RunningCluster
    artifacts: Path
    first_set: str

    def url(self, service: str) -> str:
        return self.running.plan.public[service]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("cluster")
    artifacts = root / "data" / "artifacts"
    first = publish_artifact_set(artifacts, FIRST_TOP)
    env = {
        "MUSICREC_URLS__RECOMMENDATIONS_URL": f"http://127.0.0.1:{free_port()}",
        "MUSICREC_URLS__FEATURES_STORE_URL": f"http://127.0.0.1:{free_port()}",
        "MUSICREC_URLS__EVENTS_STORE_URL": f"http://127.0.0.1:{free_port()}",
        "MUSICREC_EVENTS__REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "MUSICREC_PATHS__ARTIFACTS": str(artifacts),
        "MUSICREC_SERVING__RELOAD_INTERVAL": str(POLL_INTERVAL_S),
        "MUSICREC_SERVING__ONLINE_HISTORY": "3",
    }
    settings = load_settings(environ={**os.environ, **env})
    with running_cluster(plan_cluster(settings, REPLICAS, root / "cluster"), env) as running:
        yield Cluster(running, artifacts, first)


@dataclass
class Load:
    """Threads sending GETs through nginx until stopped; every answer is recorded."""

    urls: list[str]
    answers: list[httpx.Response] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def run(self, worker: int) -> None:
        with httpx.Client(timeout=10.0) as client:
            count = 0
            while not self.stop.is_set() and count < 20_000:  # bounded, whatever happens
                url = self.urls[(worker + count) % len(self.urls)]
                count += 1
                try:
                    response = client.get(url)
                except httpx.HTTPError as error:
                    self.failures.append(f"{url}: {error!r}")
                    continue
                self.answers.append(response)
                if response.status_code != 200:
                    self.failures.append(f"{url}: {response.status_code} {response.text[:200]}")

    def __enter__(self) -> "Load":
        self.threads = [threading.Thread(target=self.run, args=(n,)) for n in range(LOAD_THREADS)]
        for thread in self.threads:
            thread.start()
        time.sleep(0.5)  # under load before anything happens
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.5)  # and after
        self.stop.set()
        for thread in self.threads:
            thread.join()


def test_kill_9_of_a_recommendations_replica_fails_no_request(cluster: Cluster) -> None:
    base = cluster.url("recommendations")
    urls = [f"{base}/recommendations?user_id={user}" for user in (1, 2, 5, 7)] + \
           [f"{base}/recommendations_offline?user_id=1", f"{base}/recommendations_default"]
    victim = cluster.running.replicas["recommendations"][0]
    with Load(urls) as load:
        time.sleep(0.5)
        os.kill(victim.process.pid, signal.SIGKILL)
        victim.process.wait()
        time.sleep(1.5)
    assert load.failures == []
    assert len(load.answers) > 100
    supervisor = cluster.running.supervisor
    assert supervisor is not None
    deadline = time.monotonic() + 10
    while supervisor.restarts[victim.spec.name] == 0:  # started again, as under `serve --replicas`
        assert time.monotonic() < deadline, "the killed replica was not started again"
        supervisor.check()
        time.sleep(0.1)
    wait_ready(next(entry.service for entry in supervisor.watched if entry.name == victim.spec.name))


def test_a_set_published_under_load_reaches_every_replica_without_errors(cluster: Cluster) -> None:
    top_of = {cluster.first_set: FIRST_TOP[:3]}
    replicas = cluster.running.replicas["recommendations"] + cluster.running.replicas["features"]
    urls = [f"{cluster.url('recommendations')}/recommendations_default?k=3",
            f"{cluster.url('features')}/similar_items?item_id=10&k=2"]
    with Load(urls) as load, httpx.Client(timeout=5.0) as client:
        published_at = time.monotonic()
        second = publish_artifact_set(cluster.artifacts, SECOND_TOP)
        top_of[second] = SECOND_TOP[:3]
        switched_after: dict[str, float] = {}
        while len(switched_after) < len(replicas) and time.monotonic() - published_at < 30:
            for replica in replicas:
                if replica.spec.name not in switched_after and \
                        client.get(f"{replica.url}/ready").json().get("artifact_set") == second:
                    switched_after[replica.spec.name] = time.monotonic() - published_at
            time.sleep(0.02)
        time.sleep(0.5)
    assert load.failures == []
    assert sorted(switched_after) == sorted(replica.spec.name for replica in replicas)
    assert max(switched_after.values()) <= POLL_INTERVAL_S + 1.0, switched_after  # loading takes ms
    served = [answer for answer in load.answers if "recommendations_default" in str(answer.url)]
    for answer in served:  # each answer wholly from the set it names, never a mix
        assert answer.json()["recs"] == top_of[answer.headers["X-Artifact-Set"]]
    assert {answer.headers["X-Artifact-Set"] for answer in served} == {cluster.first_set, second}
    assert all(answer.headers["X-Artifact-Set"] == second for answer in load.answers[-20:])


def test_acknowledged_listens_survive_a_redis_restart_and_answers_degrade_only_meanwhile(
    cluster: Cluster,
) -> None:
    events, recommendations = cluster.url("events"), cluster.url("recommendations")
    redis = cluster.running.redis
    assert redis is not None and redis.process is not None
    acknowledged: dict[int, list[int]] = {}
    with httpx.Client(timeout=5.0) as client:
        for number in range(60):
            user, item = 100 + number % 6, [10, 11, 20, 40][number % 4]
            answer = client.post(f"{events}/put", params={"user_id": user, "item_id": item})
            assert answer.json() == {"result": "ok"}
            acknowledged.setdefault(user, []).append(item)
        assert client.get(f"{recommendations}/recommendations?user_id=100").json()["degraded"] is False

        redis.process.kill()  # kill -9: only what the append-only file holds survives
        redis.process.wait()
        while_down = client.get(f"{recommendations}/recommendations?user_id=100")
        assert while_down.status_code == 200 and while_down.json()["degraded"] is True
        assert client.post(f"{events}/put", params={"user_id": 100, "item_id": 10}).status_code == 503

        redis.start()
        deadline = time.monotonic() + 15
        while client.get(f"{recommendations}/recommendations?user_id=100").json()["degraded"]:
            assert time.monotonic() < deadline, "answers still degraded after Redis came back"
            time.sleep(0.1)
        after = [client.get(f"{recommendations}/recommendations?user_id={user}").json()
                 for user in acknowledged for _ in range(5)]
        assert not any(answer["degraded"] for answer in after)
        for user, items in acknowledged.items():
            found = client.get(f"{events}/get", params={"user_id": user, "k": 100}).json()["events"]
            assert found == items[::-1], f"user {user}"  # newest first, nothing lost, nothing extra
