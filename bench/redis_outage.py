"""A dead Redis under load, through nginx: `python -m bench.redis_outage [--writers W]`.

Starts a cluster as `serve --replicas 2` does (`musicrec.cluster`: its own redis-server with
`appendfsync always`, two replicas per service, nginx) on the tiny test artifact set, with its
supervisor running. Writers put listens through nginx's `/put`, each user's listens from one
thread, one after another, each item id higher than the one before, so the order they must come
back in is known; a reader asks for blended answers meanwhile. Once the load runs, redis-server is
killed with SIGKILL and the supervisor starts it again; the events replicas' `/ready` is watched
meanwhile. Afterwards every user's listens are read back through `/get` and compared with what
the writers were told.

`run_outage` is the experiment; `tests/e2e/test_cluster.py` runs it on its own cluster and asserts
on it, and `main` runs it and writes the figures to `bench/results/redis_outage.md`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from musicrec.cluster.redis_server import RedisServer
from musicrec.cluster.replicas import RunningCluster, plan_cluster, running_cluster
from musicrec.commands.serve import SUPERVISE_EVERY
from musicrec.runtime.launcher import free_port
from musicrec.runtime.supervisor import FIRST_DELAY
from musicrec.settings import PROJECT_ROOT, load_settings

RESULTS = PROJECT_ROOT / "bench" / "results" / "redis_outage.md"
WRITERS = 4
USERS_PER_WRITER = 50
# Listens kept per user: at most `[serving] max_k` (the recommendations service asks for that many),
# and no user gets more puts here, so nothing is trimmed and every acknowledged listen must be found.
MAX_PER_USER = 100
REFUSED_PAUSE = 0.01  # a writer told 503 waits this long before its next listen, as a client would
ACKNOWLEDGED_BEFORE_KILL = 200
ACKNOWLEDGED_AFTER_RECOVERY = 200
REDIS_POLL_S = 0.01  # how often the benchmark asks whether redis-server answers again
DEADLINE_S = 20.0  # for each wait: the kill, the recovery, the load after it
READ_USERS = (1, 1000)  # a user with personal recommendations, and the first writer's first user


@dataclass(frozen=True)
class Put:
    """One `/put` as its writer saw it: the answer's status (0: no answer) and when (monotonic s)."""

    user: int
    item: int
    sent: float
    returned: float
    status: int


@dataclass(frozen=True)
class Read:
    """One blended answer: its status and whether it said it was degraded."""

    returned: float
    status: int
    degraded: bool


@dataclass
class Outage:
    """What happened: every put and read, the moments that matter, and what `/get` found after."""

    puts: list[Put]
    reads: list[Read]
    killed_at: float
    redis_back_at: float  # redis-server answered again (started by the supervisor, AOF replayed)
    ready_while_down: list[tuple[int, str]]  # each events replica's /ready while Redis was down
    found: dict[int, list[int]]  # per user, what /get answered, oldest first
    redis_restarts: int

    def acknowledged(self) -> dict[int, list[int]]:
        """Per user, the items whose put answered 200, in the order they were put."""
        per_user: dict[int, list[int]] = {}
        for put in sorted(self.puts, key=lambda put: put.sent):
            if put.status == 200:
                per_user.setdefault(put.user, []).append(put.item)
        return per_user

    @property
    def recovered_at(self) -> float:
        """When the first put sent after the kill was acknowledged: the end of the outage writers saw."""
        return min(put.returned for put in self.puts if put.status == 200 and put.sent >= self.killed_at)

    @property
    def refused(self) -> list[Put]:
        return [put for put in self.puts if put.status == 503]

    @property
    def failed(self) -> list[Put]:
        """Puts that got neither an acknowledgment nor a refusal: nginx or a replica failed."""
        return [put for put in self.puts if put.status not in (200, 503)]

    @property
    def lost(self) -> list[tuple[int, int]]:
        """(user, item) acknowledged but not found afterwards."""
        return [(user, item) for user, items in self.acknowledged().items()
                for item in items if item not in set(self.found.get(user, []))]

    @property
    def out_of_order(self) -> list[int]:
        """Users whose listens do not come back in the order they were put (or come back twice)."""
        return [user for user, items in self.found.items() if items != sorted(set(items))]

    @property
    def refused_yet_stored(self) -> list[tuple[int, int]]:
        """Refused puts that were stored all the same: the kill came after Redis applied them but
        before their answer reached the replica. Refused, so no client counted on them."""
        stored = {(user, item) for user, items in self.found.items() for item in items}
        return [(put.user, put.item) for put in self.refused if (put.user, put.item) in stored]

    def figures(self) -> dict[str, str]:
        """The table of `bench/results/redis_outage.md`: figure name -> value."""
        acknowledged = [put.returned - self.killed_at for put in self.puts if put.status == 200]
        refused = [put.returned - self.killed_at for put in self.refused]
        all_200 = all(read.status == 200 for read in self.reads)
        return {
            "writes acknowledged before the kill": f"{sum(at < 0 for at in acknowledged)}",
            "writes acknowledged after the kill": f"{sum(at >= 0 for at in acknowledged)}",
            "writes refused (503)": f"{len(refused)}",
            "writes failed otherwise (no answer, or another error)": f"{len(self.failed)}",
            "acknowledged writes lost": f"{len(self.lost)}",
            "users whose listens came back out of order": f"{len(self.out_of_order)}",
            "refused writes found stored all the same": f"{len(self.refused_yet_stored)}",
            "kill to redis-server answering again (restarted by the supervisor)":
                f"{self.redis_back_at - self.killed_at:.2f} s",
            "kill to the first write acknowledged again (the outage writers saw)":
                f"{self.recovered_at - self.killed_at:.2f} s",
            "refusals, first to last":
                f"{min(refused):+.2f} s to {max(refused):+.2f} s after the kill" if refused else "none",
            "blended answers, all 200?": f"{len(self.reads)}, {'yes' if all_200 else 'no'}",
            "blended answers degraded": self._degraded(),
            "events replicas' /ready while Redis was down":
                ", ".join(sorted({str(status) for status, _ in self.ready_while_down})) or "not asked",
            "redis-server restarts": f"{self.redis_restarts}",
        }

    def _degraded(self) -> str:
        degraded = [read.returned - self.killed_at for read in self.reads if read.degraded]
        if not degraded:
            return "none"
        return (f"{len(degraded)}, from {min(degraded):+.2f} s to {max(degraded):+.2f} s after the kill "
                "(the outage, then `[serving] breaker_reset` while the breaker skips the events service)")


@dataclass
class _Load:
    """Writer threads and one reader thread, all through nginx, until `stop` is set."""

    events_url: str
    recommendations_url: str
    writers: int
    puts: list[Put] = field(default_factory=list)
    reads: list[Read] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def write(self, writer: int) -> None:
        users = [READ_USERS[1] + writer * USERS_PER_WRITER + n for n in range(USERS_PER_WRITER)]
        with httpx.Client(base_url=self.events_url, timeout=10.0) as client:
            for item in range(MAX_PER_USER):  # a bound on the run, whatever happens
                for user in users:
                    if self.stop.is_set():
                        return
                    sent = time.monotonic()
                    try:
                        status = client.post("/put", params={"user_id": user, "item_id": item}).status_code
                    except httpx.HTTPError:
                        status = 0
                    self.puts.append(Put(user, item, sent, time.monotonic(), status))  # list.append: atomic
                    if status != 200:
                        time.sleep(REFUSED_PAUSE)

    def read(self) -> None:
        with httpx.Client(base_url=self.recommendations_url, timeout=10.0) as client:
            for count in range(100_000):
                if self.stop.is_set():
                    return
                try:
                    answer = client.get("/recommendations", params={"user_id": READ_USERS[count % 2]})
                    degraded = answer.status_code == 200 and bool(answer.json().get("degraded"))
                    self.reads.append(Read(time.monotonic(), answer.status_code, degraded))
                except httpx.HTTPError:
                    self.reads.append(Read(time.monotonic(), 0, True))
                time.sleep(0.01)

    def acknowledged_since(self, moment: float) -> int:
        return sum(put.status == 200 and put.sent >= moment for put in list(self.puts))

    def __enter__(self) -> _Load:
        self.threads = [threading.Thread(target=self.write, args=(n,)) for n in range(self.writers)]
        self.threads.append(threading.Thread(target=self.read))
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def _wait(condition_name: str, condition: Callable[[], bool], poll: float = 0.02) -> float:
    """Wait until `condition()` holds, at most `DEADLINE_S`; the moment it held."""
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE_S:.0f} s: {condition_name}")
        time.sleep(poll)
    return time.monotonic()


def run_outage(cluster: RunningCluster, writers: int = WRITERS) -> Outage:
    """Kill the cluster's redis-server with SIGKILL under load; its supervisor must be running."""
    redis, supervisor = cluster.redis, cluster.supervisor
    assert redis is not None and redis.process is not None and supervisor is not None
    restarts_before = supervisor.restarts.get("redis", 0)
    events_url, recommendations_url = cluster.plan.public["events"], cluster.plan.public["recommendations"]
    replicas = [service.url for service in cluster.replicas["events"]]
    ready_while_down: list[tuple[int, str]] = []
    with _Load(events_url, recommendations_url, writers) as load, httpx.Client(timeout=2.0) as probe:
        start = time.monotonic()
        _wait("listens acknowledged before the kill",
              lambda: load.acknowledged_since(start) >= ACKNOWLEDGED_BEFORE_KILL)
        os.kill(redis.process.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        for url in replicas:  # before the supervisor's first delay is over: Redis is still down
            answer = probe.get(f"{url}/ready")
            ready_while_down.append((answer.status_code, answer.text))
        redis_back_at = _wait("redis-server answering again", lambda: _answers(redis), poll=REDIS_POLL_S)
        _wait("a put acknowledged after the kill", lambda: load.acknowledged_since(killed_at) > 0)
        after = time.monotonic()
        _wait("listens acknowledged after the recovery",
              lambda: load.acknowledged_since(after) >= ACKNOWLEDGED_AFTER_RECOVERY)
        _wait("every events replica ready again",
              lambda: all(probe.get(f"{url}/ready").status_code == 200 for url in replicas))
        _wait("blended answers not degraded", lambda: any(
            read.returned > after and not read.degraded for read in list(load.reads)[-3:]))
    found = _found(events_url, {put.user for put in load.puts})
    return Outage(load.puts, load.reads, killed_at, redis_back_at, ready_while_down, found,
                  supervisor.restarts.get("redis", 0) - restarts_before)


def _answers(redis: RedisServer) -> bool:
    return redis.process is not None and redis.process.poll() is None and redis.answers()


def _found(events_url: str, users: set[int]) -> dict[int, list[int]]:
    with httpx.Client(base_url=events_url, timeout=10.0) as client:
        return {user: client.get("/get", params={"user_id": user, "k": MAX_PER_USER}).json()["events"][::-1]
                for user in sorted(users)}


@contextlib.contextmanager
def supervising(cluster: RunningCluster) -> Iterator[None]:
    """The cluster's supervisor checking in a thread, as `serve --replicas` does in its main loop."""
    supervisor, stop = cluster.supervisor, threading.Event()
    assert supervisor is not None

    def loop() -> None:
        while not stop.is_set():
            supervisor.check()
            stop.wait(SUPERVISE_EVERY)

    thread = threading.Thread(target=loop, name="supervisor")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def cluster_environment(root: Path) -> dict[str, str]:
    """`MUSICREC_*` for a cluster of one's own under `root`: free ports, the tiny test artifact set."""
    from tests.artifact_factory import TOP_POPULAR, publish_artifact_set

    artifacts = root / "data" / "artifacts"
    publish_artifact_set(artifacts, TOP_POPULAR)
    return {
        "MUSICREC_URLS__RECOMMENDATIONS_URL": f"http://127.0.0.1:{free_port()}",
        "MUSICREC_URLS__FEATURES_STORE_URL": f"http://127.0.0.1:{free_port()}",
        "MUSICREC_URLS__EVENTS_STORE_URL": f"http://127.0.0.1:{free_port()}",
        "MUSICREC_EVENTS__REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "MUSICREC_EVENTS__MAX_PER_USER": str(MAX_PER_USER),
        "MUSICREC_PATHS__ARTIFACTS": str(artifacts),
    }


def _report(outage: Outage, command: str, writers: int) -> str:
    rows = "\n".join(f"| {name} | {value} |" for name, value in outage.figures().items())
    return f"""# Redis killed under load: the cluster's figures

`{command}` ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC): a cluster of two replicas per service behind nginx,
its own redis-server (`appendfsync always`), {writers} writers putting listens through nginx (each
user's listens one after another; a writer told 503 waits {REFUSED_PAUSE * 1000:.0f} ms and goes on
with its next listen) and one reader of blended answers. redis-server is killed with SIGKILL once
{ACKNOWLEDGED_BEFORE_KILL} listens were acknowledged; the cluster's supervisor starts it again after
its first delay, on the same port and files. Afterwards every user's listens are read back through
`/get`. Load average {os.getloadavg()[0]:.1f} at the end on a shared 2-core machine.

| figure | value |
| --- | --- |
{rows}

The outage is mostly the supervisor's own doing: it notices the exit within one check
({SUPERVISE_EVERY:.1f} s), waits its first delay ({FIRST_DELAY:.1f} s) and starts redis-server, which
replays its append-only file before it answers. "Answering again" is when this benchmark's ping
(every {REDIS_POLL_S * 1000:.0f} ms) first got an answer, so a writer can see its first
acknowledgment a little earlier.

Every acknowledged listen is in `/get` afterwards, in the order it was put. A refused listen was not
counted on by its writer; one refused in flight at the kill may be stored all the same (Redis had
applied it and written it to its file before it died, its answer never reached the replica), which
is the row "found stored all the same". The same run is `tests/e2e/test_cluster.py
::test_a_redis_killed_under_load_comes_back_and_no_acknowledged_listen_is_lost`.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=WRITERS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="redis_outage_") as folder:
        root = Path(folder)
        env = cluster_environment(root)
        settings = load_settings(environ={**os.environ, **env})
        plan = plan_cluster(settings, 2, root / "cluster")
        with running_cluster(plan, env) as cluster, supervising(cluster):
            outage = run_outage(cluster, args.writers)
    command = "python -m bench.redis_outage"
    if args.writers != WRITERS:
        command += f" --writers {args.writers}"
    RESULTS.write_text(_report(outage, command, args.writers))
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
