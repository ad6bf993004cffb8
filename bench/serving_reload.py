"""Hot reload at full size: how long a switch to a new set takes, and what it costs in memory.

The trio serves the benchmark's set through a symlink (as `data/artifacts` is); a second set is made
beside it with hard links to the same files (a new set for the services, without another GB of disk),
the symlink is switched and `POST /admin/reload` asks each service to switch now. The answer comes
once the new set is verified (every checksum of the files the service maps) and mapped, so its time
is the whole reload.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.serving_trio import StartedService
from musicrec.artifacts import switch_current

logger = logging.getLogger("bench.serving")
RELOADED = ("features", "recommendations")


@dataclass(frozen=True)
class ReloadFigures:
    service: str
    seconds: float
    rss_anon_before_mib: float
    rss_anon_after_mib: float


def serve_through_pointer(artifacts: Path, work: Path) -> Path:
    """A symlink to `artifacts` that the services are given as their current-set pointer."""
    pointer = work / "artifacts"
    switch_current(pointer, artifacts)
    return pointer


def measure_reloads(pointer: Path, services: dict[str, StartedService]) -> list[ReloadFigures]:
    """Switch the pointer to a hard-linked copy of the set, then time each service's reload."""
    second = pointer.with_name("second-set")
    shutil.copytree(pointer.resolve(), second, copy_function=os.link)
    switch_current(pointer, second)
    figures = []
    with httpx.Client(timeout=300.0) as client:
        for name in RELOADED:
            service = services[name]
            before = service.rss_anon_mib()
            started = time.perf_counter()
            answer = client.post(f"{service.url}/admin/reload")
            seconds = time.perf_counter() - started
            if answer.status_code != 200 or not answer.json().get("switched"):
                raise RuntimeError(f"{name} did not switch to {second.name}: {answer.status_code} {answer.text}")
            figures.append(ReloadFigures(name, seconds, before, service.rss_anon_mib()))
            logger.info("%s reloaded in %.2f s", name, seconds)
    return figures
