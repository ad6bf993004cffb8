"""A real S3 server for tests: SeaweedFS `weed mini` on free loopback ports, keys enforced.

`weed mini` runs master, volume, filer, S3 and admin servers in one process, each with an HTTP and a
gRPC port; every one of them gets a free port here so parallel test runs never clash. The access
keys are given in the server's environment, which makes SeaweedFS reject any other key.
Import the `seaweedfs` fixture into a test module to use it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import botocore.config
import botocore.exceptions
import pytest

WEED = Path(sys.executable).parent / "weed"
ACCESS_KEY = "musicrec-test-key"
SECRET_KEY = "musicrec-test-secret"
PORT_OPTIONS = (
    "s3.port", "s3.port.grpc", "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
    "filer.port", "filer.port.grpc", "admin.port", "admin.port.grpc",
)
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    access_key: str
    secret_key: str
    log_path: Path

    def client(self, access_key: str | None = None, secret_key: str | None = None):
        """A path-style client; pass other keys to act as a stranger."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )


def _free_ports(count: int) -> list[int]:
    """Ports the kernel hands out now; all sockets are held together so the ports differ."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _command(folder: Path, ports: list[int]) -> list[str]:
    return [
        str(WEED), "mini", f"-dir={folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        "-master.telemetry=false", "-webdav=false", "-admin.ui=false",
        "-s3.port.iceberg=0", "-s3.port.lance=0", "-volume.preStopSeconds=0",
        f"-filer.localSocket={folder / 'filer.sock'}", f"-s3.localSocket={folder / 's3.sock'}",
        *(f"-{option}={port}" for option, port in zip(PORT_OPTIONS, ports)),
    ]


def _answers(server: S3Server) -> bool:
    try:
        server.client().list_buckets()
        return True
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
        return False


def _stop(process: subprocess.Popen) -> None:
    """Stop the server and anything it started (its whole process group)."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(STOP_TIMEOUT)


def _start(folder: Path) -> tuple[subprocess.Popen, S3Server]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data").mkdir(exist_ok=True)
    ports = _free_ports(len(PORT_OPTIONS))
    server = S3Server(f"http://127.0.0.1:{ports[0]}", ACCESS_KEY, SECRET_KEY, folder / "weed.log")
    environment = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    with server.log_path.open("ab") as log:
        process = subprocess.Popen(_command(folder, ports), stdout=log, stderr=subprocess.STDOUT,
                                   env=environment, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        if _answers(server):
            return process, server
        time.sleep(0.2)
    _stop(process)
    raise RuntimeError(f"SeaweedFS did not answer on {server.endpoint_url}; see {server.log_path}")


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One SeaweedFS for the session; a start that lost a port race is retried on new ports."""
    if not WEED.exists():
        pytest.fail(f"{WEED} is missing: install the locked requirements (make setup)")
    folder = tmp_path_factory.mktemp("seaweedfs")
    for attempt in range(3):
        try:
            process, server = _start(folder / f"attempt{attempt}")
            break
        except RuntimeError:
            if attempt == 2:
                raise
    try:
        yield server
    finally:
        _stop(process)
