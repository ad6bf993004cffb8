"""Plan, start, supervise and stop a cluster: redis-server, N replicas per service, nginx in front.

The public URLs in `[urls]` are nginx's; each replica listens on a free loopback port of its own
and reads the same settings otherwise (`MUSICREC_*` overrides), with the events in Redis at
`[events] redis_url`. If a Redis server already answers there it is used as it is (and kept
running by whoever runs it); if not, one is started with its files in `data/redis/` (append-only
file on). A replica that exits is started again (`musicrec.runtime.supervisor`, with backoff) while
nginx sends its share to the others; so is the redis-server we started, on the same port and files,
and the log says what it replayed. Meanwhile the events replicas refuse writes (503) and their
`/ready` is 503; they reconnect by themselves once it answers.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen
from urllib.parse import urlsplit

from musicrec.cluster.nginx import nginx_config, start_nginx, stop_nginx
from musicrec.cluster.redis_server import RedisServer, answers_ping
from musicrec.runtime.launcher import (
    RunningService,
    ServiceSpec,
    free_port,
    start_service,
    stop_service,
    trio,
    wait_ready,
)
from musicrec.runtime.supervisor import Supervisor
from musicrec.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClusterPlan:
    """Who listens where: per service (in dependency order) its public URL and its replicas."""

    settings: Settings
    public: dict[str, str]
    replicas: dict[str, list[ServiceSpec]]
    run_dir: Path

    @property
    def redis_url(self) -> str:
        return self.settings.events.redis_url

    def environment(self) -> dict[str, str]:
        """What every replica is given on top of the caller's environment: events in Redis."""
        return {"MUSICREC_EVENTS__BACKEND": "redis", "MUSICREC_EVENTS__REDIS_URL": self.redis_url}


def plan_cluster(settings: Settings, replicas: int, run_dir: Path) -> ClusterPlan:
    """`replicas` processes of each service on free loopback ports behind the public URLs."""
    if replicas < 1:
        raise ValueError("--replicas must be at least 1")
    host = "127.0.0.1"
    public, planned = {}, {}
    for spec in trio(settings):
        public[spec.name] = spec.url
        planned[spec.name] = [ServiceSpec(f"{spec.name}-{number}", spec.module, f"http://{host}:{free_port()}")
                              for number in range(1, replicas + 1)]
    return ClusterPlan(settings, public, planned, run_dir)


@dataclass
class RunningCluster:
    """What runs: the replicas (as started), the `Supervisor` that restarts any of them or our Redis
    that exits, nginx, Redis (its `process` is the current one)."""

    plan: ClusterPlan
    env: dict[str, str]
    replicas: dict[str, list[RunningService]] = field(default_factory=dict)
    nginx: Popen[bytes] | None = None
    redis: RedisServer | None = None  # None when an existing Redis server is used
    supervisor: Supervisor | None = None


def _own_redis(plan: ClusterPlan) -> RedisServer | None:
    """A Redis server at `[events] redis_url`: the one answering there, or one started now."""
    if answers_ping(plan.redis_url):
        log.info("using the Redis server at %s", plan.redis_url)
        return None
    parts = urlsplit(plan.redis_url)
    if parts.hostname not in ("127.0.0.1", "localhost"):
        raise RuntimeError(f"no Redis server answers at {plan.redis_url} ([events] redis_url)")
    server = RedisServer(parts.port or 6379, plan.run_dir.parent / "redis")
    server.start()
    log.info("started %s", server.replay_report())
    return server


def _watch_redis(supervisor: Supervisor, server: RedisServer) -> None:
    """Restart our redis-server like a replica when it exits: same port, same files, AOF replayed."""
    assert server.process is not None

    def restart(exited: RunningService) -> RunningService:
        return _as_service(server, server.launch())

    def replayed(service: RunningService) -> bool:
        if not server.answers():
            return False
        log.warning("restarted %s", server.replay_report())
        return True

    supervisor.watch([_as_service(server, server.process)], restart=restart, is_ready=replayed)


def _as_service(server: RedisServer, process: Popen[bytes]) -> RunningService:
    return RunningService(ServiceSpec("redis", "redis-server", server.url), process, server.log_file)


def _start_replicas(cluster: RunningCluster, name: str) -> None:
    """Start all replicas of one service at once, then wait until each is ready."""
    started = cluster.replicas.setdefault(name, [])
    for spec in cluster.plan.replicas[name]:
        started.append(start_service(spec, "127.0.0.1", cluster.env, cluster.plan.run_dir))
    for service in started:
        wait_ready(service)
    log.info("%d %s replicas ready", len(started), name)


@contextlib.contextmanager
def running_cluster(plan: ClusterPlan, env: dict[str, str] | None = None) -> Iterator[RunningCluster]:
    """Redis, the replicas (dependency order), then nginx; everything stopped again on exit."""
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    cluster = RunningCluster(plan, {**(env or {}), **plan.environment()})
    try:
        cluster.redis = _own_redis(plan)
        for name in plan.replicas:
            _start_replicas(cluster, name)
        cluster.supervisor = Supervisor("127.0.0.1", cluster.env, plan.run_dir)
        if cluster.redis is not None:
            _watch_redis(cluster.supervisor, cluster.redis)  # first, so that it is stopped last
        for services in cluster.replicas.values():
            cluster.supervisor.watch(services)
        upstreams = {name: (plan.public[name], [spec.url for spec in plan.replicas[name]])
                     for name in plan.replicas}
        cluster.nginx = start_nginx(plan.run_dir, nginx_config(plan.run_dir, upstreams),
                                    list(plan.public.values()))
        yield cluster
    finally:
        if cluster.nginx is not None:
            stop_nginx(cluster.nginx)
        if cluster.supervisor is not None:
            cluster.supervisor.stop_all()  # the processes started since, too
        else:
            for services in reversed(cluster.replicas.values()):
                for service in services:
                    stop_service(service)
        if cluster.redis is not None:
            cluster.redis.stop()

