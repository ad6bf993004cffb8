"""Run `wrk` (a C load generator) against one endpoint and read its figures.

A Python client would spend as much CPU making requests as the server spends answering them, and
on a 2-core machine that is the measurement. wrk with a small Lua script (`wrk_random_ids.lua`)
draws a random id per request at almost no cost. wrk runs pinned to the CPUs it is given, so the
server under test can have a core of its own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

LUA_SCRIPT = Path(__file__).with_name("wrk_random_ids.lua")
RESULT_MARKER = "WRK_JSON "
SOCKET_TIMEOUT_S = 5
EXIT_GRACE_S = 30  # wrk exits right after its duration; this only bounds a hung run


class WrkError(RuntimeError):
    """wrk is missing, failed, or printed no result line."""


@dataclass(frozen=True)
class LoadResult:
    """What one wrk run measured; latencies in milliseconds."""

    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


@dataclass(frozen=True)
class LoadSpec:
    """How hard and how long to press: wrk threads, open connections, seconds, and wrk's CPUs."""

    threads: int
    connections: int
    seconds: float
    cpus: frozenset[int]


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise WrkError("wrk is not installed; install it with `make system` (Debian package wrk)")
    return path


def run_wrk(base_url: str, prefix: str, ids_file: Path | None, spec: LoadSpec, method: str = "GET") -> LoadResult:
    """Load `base_url` with `method` (GET) `prefix + random id from ids_file`; return wrk's figures."""
    command = [
        require_wrk(), "-t", str(spec.threads), "-c", str(spec.connections), "-d", f"{spec.seconds:g}s",
        "--latency", "--timeout", f"{SOCKET_TIMEOUT_S}s", "-s", str(LUA_SCRIPT), base_url, "--", prefix,
    ]
    if ids_file is not None:
        command.append(str(ids_file))
        if method != "GET":
            command.append(method)
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=spec.seconds + EXIT_GRACE_S,
        preexec_fn=lambda: os.sched_setaffinity(0, spec.cpus),
    )
    if completed.returncode != 0:
        raise WrkError(f"wrk failed ({completed.returncode}) on {base_url}{prefix}: "
                       f"{completed.stderr.strip()}")
    return parse_result(completed.stdout, f"{base_url}{prefix}")


def parse_result(output: str, target: str) -> LoadResult:
    """Read the WRK_JSON line that the Lua `done` hook prints."""
    lines = [line for line in output.splitlines() if line.startswith(RESULT_MARKER)]
    if not lines:
        raise WrkError(f"wrk printed no result for {target}:\n{output}")
    raw = json.loads(lines[-1][len(RESULT_MARKER):])
    return LoadResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        non_2xx=raw["non_2xx"],
        socket_errors=raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
        p50_ms=raw["p50_us"] / 1e3,
        p90_ms=raw["p90_us"] / 1e3,
        p99_ms=raw["p99_us"] / 1e3,
        max_ms=raw["max_us"] / 1e3,
    )
