"""A real `redis-server` on a loopback port, with its files in a folder of ours.

Persistence is the append-only file with an fsync before each write is acknowledged
(`appendfsync always`): the events service answers `/put` only after Redis applied it, so an
acknowledged listen survives a restart of Redis, even a kill. RDB snapshots are off (the AOF is
the record). Used by the cluster, the tests and `bench/event_store.py`.

`start` waits until the server answers; `launch` does not (the cluster's supervisor starts a
killed server again that way, on the same port and files, and asks `answers` until it does).
Either way the server replays its append-only file before it answers; `replay_report` says what
its log said about that.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis

from musicrec.runtime.launcher import free_port

START_TIMEOUT_SECONDS = 10.0
# What redis-server logs when it loaded its append-only file, or loaded it although its tail was cut.
REPLAY_LINES = ("DB loaded from append only file", "AOF loaded anyway", "short read")
INSTALL_HINT = "redis-server is not installed; `make cluster` installs it (Debian redis-server)"


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
    _log_start: int = field(default=0, init=False, repr=False)  # where the latest start's log begins

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "redis.log"

    def launch(self) -> subprocess.Popen[bytes]:
        """Start the process on this port and files, without waiting for it to answer."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(INSTALL_HINT)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.touch()
        self._log_start = self.log_file.stat().st_size
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir),
                   "--save", "", "--appendonly", "yes", "--appendfsync", self.appendfsync,
                   "--logfile", str(self.log_file)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        return self.process

    def start(self) -> None:
        """Start the process and wait until it answers (its append-only file replayed)."""
        process = self.launch()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.answers():
            if process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start:\n{self.log_file.read_text()[-2000:]}")
            time.sleep(0.05)

    def answers(self) -> bool:
        return answers_ping(self.url)

    def replay_report(self) -> str:
        """What the latest start loaded: its log's lines on the append-only file, and the keys held."""
        with self.log_file.open("rb") as log:
            log.seek(self._log_start)
            lines = log.read().decode(errors="replace").splitlines()
        said = [line.split(" * ", 1)[-1].split(" # ", 1)[-1] for line in lines
                if any(marker in line for marker in REPLAY_LINES)]
        try:
            with redis.Redis.from_url(self.url, socket_connect_timeout=1.0, socket_timeout=1.0) as client:
                keys = f"{client.dbsize()} keys"
        except redis.RedisError as error:  # a report, never a reason to stop the supervisor
            keys = f"keys not counted ({error})"
        replayed = f"append-only file replayed ({'; '.join(said)})" if said else "no append-only file yet"
        return f"redis-server at {self.url} (files in {self.data_dir}): {replayed}, {keys}"

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
