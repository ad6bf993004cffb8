"""Start-up on full-size against tiny data, for the recommendations and features services.

On a shared 2-core machine one start can take seconds longer than the next because of other people's
work, so each service is started alone `repeats` times on each set, alternating tiny and full, and
the best time to ready is kept (the least disturbed), with the CPU seconds the process used until
ready (user + system: hardly changed by other work) beside it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from bench.serving_trio import settings_for, start_timed, trio_environment
from musicrec.runtime.launcher import stop_service, trio

logger = logging.getLogger("bench.serving")
COMPARED = ("features", "recommendations")


@dataclass(frozen=True)
class StartComparison:
    repeats: int
    full_ready_s: float  # best of `repeats`
    tiny_ready_s: float
    full_cpu_s: float  # CPU seconds to ready, best of `repeats`
    tiny_cpu_s: float

    @property
    def over_tiny_s(self) -> float:
        return self.full_ready_s - self.tiny_ready_s


def _start_once(name: str, environment: dict[str, str], log_dir: Path) -> tuple[float, float]:
    spec = next(spec for spec in trio(settings_for(environment)) if spec.name == name)
    started = start_timed(spec, environment, log_dir)
    try:
        return started.ready_s, started.cpu_seconds()
    finally:
        stop_service(started.service)


def compare_starts(tiny: Path, full: Path, work: Path, log_dir: Path, repeats: int) -> dict[str, StartComparison]:
    """Each compared service started alone, `repeats` times on each of the two sets."""
    environments = {}
    for size, artifacts in (("tiny", tiny), ("full", full)):
        (work / f"starts-{size}").mkdir()
        environments[size] = trio_environment(artifacts, work / f"starts-{size}")
    results: dict[str, StartComparison] = {}
    for name in COMPARED:
        times: dict[str, list[tuple[float, float]]] = {"tiny": [], "full": []}
        for _ in range(repeats):
            for size, environment in environments.items():
                times[size].append(_start_once(name, environment, log_dir))
        results[name] = StartComparison(
            repeats, min(t for t, _ in times["full"]), min(t for t, _ in times["tiny"]),
            min(c for _, c in times["full"]), min(c for _, c in times["tiny"]))
        logger.info("%s: ready in %.2f s at full size, %.2f s on tiny data (best of %d)", name,
                    results[name].full_ready_s, results[name].tiny_ready_s, repeats)
    return results
