"""Hostile clients against real uvicorn processes: heads, bodies and slow senders are bounded.

The services run as `python -m musicrec.runtime.server` starts them (the launcher), so these also guard
`musicrec.runtime.http_limits`, the subclass of uvicorn's protocol, against an upgrade that changes it.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from musicrec.runtime.launcher import RunningService, ServiceFailed, ServiceSpec, free_port, running, trio
from musicrec.settings import load_settings
from tests.e2e.conftest import trio_environment

pytestmark = pytest.mark.slow
READ_TIMEOUT = 1.5
KEY = "e2e-key"


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunningService]]:
    """The events and features services, with a short read timeout and an API key."""
    folder = tmp_path_factory.mktemp("limits")
    env = {**trio_environment(folder), "MUSICREC_SERVING__READ_TIMEOUT": str(READ_TIMEOUT),
           "MUSICREC_SERVING__API_KEY": KEY}
    specs = trio(load_settings(environ={**os.environ, **env}))[:2]
    with running(specs, "127.0.0.1", env, log_dir=folder) as started:
        yield {service.spec.name: service for service in started}


def _address(service: RunningService) -> tuple[str, int]:
    host, port = service.url.removeprefix("http://").split(":")
    return host, int(port)


def _exchange(service: RunningService, data: bytes, trickle: bytes = b"", every: float = 0.0,
              wait: float = 10.0) -> tuple[bytes, float]:
    """Send `data`, then `trickle` a byte at a time; return what came back until the server closed."""
    started = time.monotonic()
    with socket.create_connection(_address(service), timeout=wait) as connection:
        try:
            connection.sendall(data)
            for byte in trickle:
                time.sleep(every)
                connection.sendall(bytes([byte]))
        except OSError:
            pass  # the server closed the connection while we were still sending: expected
        answer = b""
        try:
            while chunk := connection.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    return answer, time.monotonic() - started


def test_a_20_mb_header_gets_431_and_is_not_buffered(services: dict[str, RunningService]) -> None:
    events = services["events"]
    memory_before = psutil.Process(events.process.pid).memory_info().rss
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (20 * 2**20) + b"\r\n\r\n"
    answer, _ = _exchange(events, head)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b'"detail": "request line and headers over 16384 bytes ([serving] max_header_bytes)"' in answer
    assert psutil.Process(events.process.pid).memory_info().rss - memory_before < 10 * 2**20


def test_a_head_sent_a_byte_at_a_time_gets_408_after_the_read_timeout(
    services: dict[str, RunningService]
) -> None:
    answer, took = _exchange(services["events"], b"GET /health HTTP/1.1\r\n", trickle=b"Host: x\r\n", every=0.4)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"did not arrive within 1.5 s ([serving] read_timeout)" in answer
    assert READ_TIMEOUT <= took < READ_TIMEOUT + 2


def test_many_slow_senders_are_all_dropped_and_others_are_served_meanwhile(
    services: dict[str, RunningService]
) -> None:
    events = services["events"]
    sockets = [socket.create_connection(_address(events)) for _ in range(200)]
    try:
        for connection in sockets:
            connection.sendall(b"GET /health HTTP/1.1\r\n")
        started = time.monotonic()
        assert httpx.get(f"{events.url}/health", timeout=2).status_code == 200
        assert time.monotonic() - started < 1
        time.sleep(READ_TIMEOUT + 1)
        for connection in sockets:
            connection.settimeout(2)
            assert connection.recv(100).startswith(b"HTTP/1.1 408 ")
    finally:
        for connection in sockets:
            connection.close()


def test_an_idle_connection_is_closed(services: dict[str, RunningService]) -> None:
    answer, took = _exchange(services["events"], b"")
    assert answer == b""
    assert took < READ_TIMEOUT + 2


def test_a_50_mb_body_gets_413_at_once_without_being_read(services: dict[str, RunningService]) -> None:
    features = services["features"]
    memory_before = psutil.Process(features.process.pid).memory_info().rss
    body = b'{"item_ids": [' + b"1234567, " * (50 * 2**20 // 9) + b"1]}"
    started = time.monotonic()
    answer = httpx.post(f"{features.url}/similar_items_batch", content=body,
                        headers={"content-type": "application/json"}, timeout=30)
    assert time.monotonic() - started < 5
    assert answer.status_code == 413
    assert answer.json() == {"detail": "request body too large: the limit is 32768 bytes "
                                       "([serving] max_body_bytes)"}
    assert psutil.Process(features.process.pid).memory_info().rss - memory_before < 10 * 2**20
    # and the service answers the next request as usual
    assert httpx.post(f"{features.url}/similar_items", params={"item_id": 10, "k": 1}).status_code == 200


def test_a_nested_body_is_a_400(services: dict[str, RunningService]) -> None:
    nested = b'{"item_ids": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    answer = httpx.post(f"{services['features'].url}/similar_items_batch", content=nested,
                        headers={"content-type": "application/json"})
    assert answer.status_code == 400
    assert "recursion limit exceeded" in answer.json()["detail"]


def test_writes_are_post_only_and_need_the_key(services: dict[str, RunningService]) -> None:
    url = services["events"].url
    listen = {"user_id": 77, "item_id": 10}
    assert httpx.get(f"{url}/put", params=listen).status_code == 405
    assert httpx.post(f"{url}/put", params=listen).status_code == 401
    assert httpx.post(f"{url}/get", params={"user_id": 77}).status_code == 401
    assert httpx.post(f"{url}/put", params=listen, headers={"X-API-Key": KEY}).json() == {"result": "ok"}
    answer = httpx.get(f"{url}/get", params={"user_id": 77}, headers={"Authorization": f"Bearer {KEY}"})
    assert answer.json()["events"] == [10]


def test_listening_beyond_loopback_without_a_key_refuses_to_start(tmp_path: Path) -> None:
    env = {"MUSICREC_EVENTS__SQLITE_PATH": str(tmp_path / "events.sqlite3"), "MUSICREC_SERVING__API_KEY": ""}
    spec = ServiceSpec("events", "events_service", f"http://0.0.0.0:{free_port('0.0.0.0')}")
    with pytest.raises(ServiceFailed) as failed, running([spec], "0.0.0.0", env, log_dir=tmp_path):
        pass
    assert "events service exited with code 2" in str(failed.value)
    assert "refusing to listen on 0.0.0.0 (beyond loopback) without an API key" in str(failed.value)


def test_with_a_key_it_listens_beyond_loopback(tmp_path: Path) -> None:
    port = free_port("0.0.0.0")
    env = {"MUSICREC_EVENTS__SQLITE_PATH": str(tmp_path / "events.sqlite3"), "MUSICREC_SERVING__API_KEY": KEY}
    spec = ServiceSpec("events", "events_service", f"http://127.0.0.1:{port}")
    with running([spec], "0.0.0.0", env, log_dir=tmp_path):
        assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200

