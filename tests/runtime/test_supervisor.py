"""The supervisor on a hand-driven clock with stand-in processes: restarts with backoff, logs, counts."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pytest

from musicrec.runtime.launcher import RunningService, ServiceSpec
from musicrec.runtime.supervisor import FIRST_DELAY, MAX_DELAY, STABLE_AFTER, Supervisor


@dataclass
class FakeProcess:
    pid: int
    returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode


@dataclass
class Harness:
    now: float = 0.0
    started: list[str] = field(default_factory=list)
    ready: bool = False

    def start(self, spec: ServiceSpec, host: str, env: object, log_dir: object) -> RunningService:
        self.started.append(spec.name)
        return RunningService(spec, FakeProcess(pid=1000 + len(self.started)), None)  # type: ignore[arg-type]  # a fake Popen


def _supervised(harness: Harness) -> tuple[Supervisor, dict[str, RunningService]]:
    supervisor = Supervisor("127.0.0.1", clock=lambda: harness.now, start=harness.start,
                            is_ready=lambda service: harness.ready)
    services = {name: RunningService(ServiceSpec(name, f"{name}_service", "http://127.0.0.1:1"),
                                     FakeProcess(pid=number), None)  # type: ignore[arg-type]  # a fake Popen
                for number, name in enumerate(("events", "features", "recommendations"))}
    supervisor.watch(list(services.values()))
    return supervisor, services


def _current(supervisor: Supervisor, name: str) -> RunningService:
    return next(entry.service for entry in supervisor.watched if entry.name == name)


def test_a_dead_service_is_started_again_after_a_delay_and_the_others_are_left_alone(
    caplog: pytest.LogCaptureFixture
) -> None:
    harness = Harness()
    supervisor, services = _supervised(harness)
    harness.now += 100.0
    services["events"].process.returncode = -9
    with caplog.at_level(logging.WARNING):
        supervisor.check()
        assert harness.started == []
        harness.now += FIRST_DELAY
        supervisor.check()
        assert harness.started == ["events"]
        harness.ready = True
        harness.now += 1.0
        supervisor.check()
    assert supervisor.restarts == {"events": 1, "features": 0, "recommendations": 0}
    assert _current(supervisor, "features") is services["features"]
    assert caplog.messages == [
        "events service exited with code -9 after 100.0 s; starting it again in 0.5 s (restart 1)",
        "events service started again (restart 1, pid 1001)",
        "events service is ready again after 1.0 s (restart 1)",
    ]


def test_quick_exits_in_a_row_wait_longer_each_time_up_to_the_limit() -> None:
    harness = Harness()
    supervisor, _ = _supervised(harness)
    delays: list[float] = []
    for _ in range(10):
        _current(supervisor, "features").process.returncode = 1
        supervisor.check()
        exited_at = harness.now
        while len(harness.started) < len(delays) + 1:
            harness.now += 0.25
            supervisor.check()
        delays.append(harness.now - exited_at)
    assert delays[:4] == [FIRST_DELAY, 2 * FIRST_DELAY, 4 * FIRST_DELAY, 8 * FIRST_DELAY]
    assert delays[-1] == MAX_DELAY


def test_a_service_that_stayed_up_starts_over_at_the_first_delay() -> None:
    harness = Harness()
    supervisor, _ = _supervised(harness)
    delays = []
    for stays_up in (1.0, 1.0, STABLE_AFTER + 1):
        harness.now += stays_up
        _current(supervisor, "events").process.returncode = 1
        supervisor.check()
        restart_at = supervisor.watched[0].restart_at
        assert restart_at is not None
        delays.append(restart_at - harness.now)
        harness.now = restart_at
        supervisor.check()
    assert delays == [FIRST_DELAY, 2 * FIRST_DELAY, FIRST_DELAY]


def test_a_process_watched_with_its_own_hooks_is_restarted_by_them_under_the_same_backoff(
    caplog: pytest.LogCaptureFixture
) -> None:
    harness = Harness()
    supervisor, _ = _supervised(harness)
    redis = RunningService(ServiceSpec("redis", "redis-server", "redis://127.0.0.1:1/0"),
                           FakeProcess(pid=50), None)  # type: ignore[arg-type]  # a fake Popen
    restarted_from: list[RunningService] = []
    answers = {"ping": False}

    def restart(service: RunningService) -> RunningService:
        restarted_from.append(service)
        return RunningService(service.spec, FakeProcess(pid=51), None)  # type: ignore[arg-type]  # a fake Popen

    supervisor.watch([redis], restart=restart, is_ready=lambda service: answers["ping"])
    harness.ready = True  # the uvicorn probe says yes; redis must be asked its own way
    redis.process.returncode = -9
    with caplog.at_level(logging.WARNING):
        supervisor.check()
        harness.now += FIRST_DELAY
        supervisor.check()
        supervisor.check()
        assert caplog.messages[-1] == "redis service started again (restart 1, pid 51)"
        answers["ping"] = True
        harness.now += 0.5
        supervisor.check()
    assert restarted_from == [redis] and harness.started == []
    assert supervisor.restarts["redis"] == 1
    assert caplog.messages[-1] == "redis service is ready again after 0.5 s (restart 1)"
