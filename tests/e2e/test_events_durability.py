"""A real events service is killed with SIGKILL under load; after a restart every acknowledged event is
there, with its kind, and every acknowledged dislike is still disliked."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from musicrec.runtime.launcher import ServiceSpec, free_port, start_service, stop_service, wait_ready

WRITERS = 4
USERS_PER_WRITER = 10
ACKNOWLEDGED_BEFORE_KILL = 400
MAX_PER_USER = 200  # more than any user gets here, so nothing is trimmed and everything must be found


def kind_of(item: int) -> str:
    """Every seventh put a dislike and every seventh a skip, the rest listens."""
    return {0: "dislike", 3: "skip"}.get(item % 7, "listen")


def _put_until_it_fails(url: str, writer: int, acknowledged: dict[int, list[int]], lock: threading.Lock) -> None:
    """Put listens round-robin over this writer's users, recording each one the service acknowledged."""
    users = [writer * USERS_PER_WRITER + n for n in range(USERS_PER_WRITER)]
    with httpx.Client(base_url=url, timeout=5.0) as client:
        for item in range(MAX_PER_USER - 1):
            for user in users:
                try:
                    response = client.post("/put", params={"user_id": user, "item_id": item,
                                                           "kind": kind_of(item)})
                except httpx.HTTPError:
                    return  # the service was killed
                assert response.json() == {"result": "ok"}
                with lock:
                    acknowledged.setdefault(user, []).append(item)


def _wait_for(count: int, acknowledged: dict[int, list[int]], lock: threading.Lock) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with lock:
            if sum(map(len, acknowledged.values())) >= count:
                return
        time.sleep(0.01)
    raise AssertionError(f"fewer than {count} listens acknowledged in 120 s")


@pytest.mark.slow
def test_every_acknowledged_listen_survives_kill_9(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    env = {
        "MUSICREC_URLS__EVENTS_STORE_URL": url,
        "MUSICREC_EVENTS__BACKEND": "sqlite",
        "MUSICREC_EVENTS__SQLITE_PATH": str(tmp_path / "events.sqlite3"),
        "MUSICREC_EVENTS__MAX_PER_USER": str(MAX_PER_USER),
    }
    spec = ServiceSpec("events", "events_service", url)
    service = start_service(spec, "127.0.0.1", env, log_dir=tmp_path)
    acknowledged: dict[int, list[int]] = {}
    lock = threading.Lock()
    try:
        wait_ready(service)
        writers = [
            threading.Thread(target=_put_until_it_fails, args=(url, w, acknowledged, lock)) for w in range(WRITERS)
        ]
        for writer in writers:
            writer.start()
        _wait_for(ACKNOWLEDGED_BEFORE_KILL, acknowledged, lock)
        os.kill(service.process.pid, signal.SIGKILL)  # mid-stream: puts are in flight
        service.process.wait()
        for writer in writers:
            writer.join()
    finally:
        stop_service(service)

    restarted = start_service(spec, "127.0.0.1", env, log_dir=tmp_path)
    try:
        wait_ready(restarted)
        with httpx.Client(base_url=url, timeout=5.0) as client:
            for user in range(WRITERS * USERS_PER_WRITER):
                answer = client.post("/get", params={"user_id": user, "k": 100}).json()
                found = answer["events"]
                expected = acknowledged.get(user, [])[::-1]  # newest first
                # At most one more: a put the store committed just before the kill, never acknowledged.
                assert found[len(found) - len(expected):] == expected, f"user {user}"
                assert len(found) - len(expected) in (0, 1), f"user {user}"
                assert answer["kinds"] == [kind_of(item) for item in found], f"user {user}"
                assert answer["disliked"] == [item for item in found if kind_of(item) == "dislike"], f"user {user}"
    finally:
        stop_service(restarted)
    assert sum(map(len, acknowledged.values())) >= ACKNOWLEDGED_BEFORE_KILL
