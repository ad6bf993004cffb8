"""A real `redis-server` for the tests, on a free loopback port, with its files in a temp dir.

Loaded as a pytest plugin from `tests/conftest.py`; the server starts only when a test asks for
`redis_url`, once per session, and is stopped at the end (`bench/event_store.py` uses the same
`running_redis_server`). Persistence is the append-only file, as a
replicated deployment would use, and no RDB snapshots (they would only slow the tests).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
import redis

from musicrec.api.launcher import free_port

START_TIMEOUT_SECONDS = 10.0


def _wait_for_ping(url: str, server: subprocess.Popen[bytes], log_file: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    try:
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start:\n{log_file.read_text()}") from None
                time.sleep(0.05)
    finally:
        client.close()


@contextmanager
def running_redis_server(data_dir: Path) -> Iterator[str]:
    """Start redis-server with its files in `data_dir`; yields its URL once it answers PING."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed; `make setup` installs it (Debian package redis-server)")
    log_file = data_dir / "redis.log"
    log_file.touch()
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir),
               "--save", "", "--appendonly", "yes", "--logfile", str(log_file)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_for_ping(url, server, log_file)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a running redis-server owned by this test session."""
    with running_redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url
