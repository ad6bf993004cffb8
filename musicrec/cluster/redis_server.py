"""A real `redis-server` on a loopback port, with its files in a folder of ours.

Persistence is the append-only file with an fsync before each write is acknowledged
(`appendfsync always`): the events service answers `/put` only after Redis applied it, so an
acknowledged listen survives a restart of Redis, even a kill. RDB snapshots are off (the AOF is
the record). Used by the cluster, the tests and `bench/event_store.py`.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import redis

from musicrec.api.launcher import free_port

START_TIMEOUT_SECONDS = 10.0
INSTALL_HINT = "redis-server is not installed; `make setup` installs it (Debian package redis-server)"


def answers_ping(url: str, timeout: float = 0.5) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


@dataclass
class RedisServer:
    """A started redis-server: its URL, process and log; `restart` keeps its port and files."""

    port: int
    data_dir: Path
    appendfsync: str = "always"  # "everysec": faster, loses up to a second of writes on a crash
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "redis.log"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(INSTALL_HINT)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.touch()
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir),
                   "--save", "", "--appendonly", "yes", "--appendfsync", self.appendfsync,
                   "--logfile", str(self.log_file)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not answers_ping(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start:\n{self.log_file.read_text()[-2000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM: Redis finishes its append-only file and exits."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()


@contextmanager
def running_redis_server(data_dir: Path, port: int | None = None, appendfsync: str = "always"
                         ) -> Iterator[RedisServer]:
    """Start redis-server with its files in `data_dir` (a free port unless given); stop it on exit."""
    server = RedisServer(port or free_port(), data_dir, appendfsync)
    server.start()
    try:
        yield server
    finally:
        server.stop()
