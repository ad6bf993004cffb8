"""The replicated setup under load, with real processes: nginx, redis-server, two uvicorn replicas
per service (`musicrec.cluster`), clients that only talk to nginx, and the cluster's supervisor
checking in a thread as under `serve --replicas`.

(a) kill -9 of a recommendations replica under load: no request fails;
(b) a new set published under load: every replica switches within the poll interval, no errors, and
    every answer comes whole from the set its `X-Artifact-Set` names;
(c) redis-server killed with SIGKILL under load (`bench.redis_outage`): the supervisor starts it
    again, writes meanwhile are refused, none acknowledged is lost or out of order, the events
    replicas are not ready meanwhile and need no restart, answers are degraded only meanwhile.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from bench.redis_outage import MAX_PER_USER, WRITERS, run_outage, supervising
from musicrec.cluster.replicas import RunningCluster, plan_cluster, running_cluster
from musicrec.runtime.launcher import free_port, wait_ready
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
        "MUSICREC_EVENTS__MAX_PER_USER": str(MAX_PER_USER),
    }
    settings = load_settings(environ={**os.environ, **env})
    with running_cluster(plan_cluster(settings, REPLICAS, root / "cluster"), env) as running, \
            supervising(running):
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

    def __enter__(self) -> Load:
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


def test_a_redis_killed_under_load_comes_back_and_no_acknowledged_listen_is_lost(cluster: Cluster) -> None:
    outage = run_outage(cluster.running)

    assert outage.redis_restarts == 1  # by the supervisor, on the same port and files
    assert outage.failed == []  # every write got an answer: acknowledged, or refused with a 503
    assert outage.refused, "no write was refused: Redis was not down"
    assert all(put.returned >= outage.killed_at for put in outage.refused)  # refused only for the outage
    assert all(put.sent < outage.redis_back_at + 1.0 for put in outage.refused)
    assert outage.recovered_at - outage.killed_at < 5.0, outage.figures()  # writes work again within seconds
    assert outage.lost == [], outage.figures()  # every acknowledged listen is in /get afterwards ...
    assert outage.out_of_order == []  # ... in the order it was put, none twice
    assert len(outage.refused_yet_stored) <= WRITERS  # at most the puts in flight at the kill, one a writer
    acknowledged, stored_anyway = outage.acknowledged(), set(outage.refused_yet_stored)
    for user, found in outage.found.items():  # nothing else: acknowledged, or refused at the kill
        assert {(user, item) for item in found} - {(user, item) for item in acknowledged.get(user, [])} \
            <= stored_anyway

    # The events replicas said they were not ready while Redis was down, and came back on their own.
    assert [status for status, _ in outage.ready_while_down] == [503] * REPLICAS
    assert all("cannot reach the Redis event store" in detail for _, detail in outage.ready_while_down)
    supervisor = cluster.running.supervisor
    assert supervisor is not None
    assert all(supervisor.restarts[service.spec.name] == 0 for service in cluster.running.replicas["events"])

    # Blended answers: always 200, degraded only around the outage.
    assert {read.status for read in outage.reads} == {200}
    assert any(read.degraded for read in outage.reads)
    assert not [read for read in outage.reads if read.degraded and read.returned < outage.killed_at]
