"""With a dependency stopped, the recommendations service still answers, marked degraded."""

from __future__ import annotations

import httpx
import pytest

from musicrec.runtime.launcher import stop_service
from tests.e2e.conftest import Trio
from tests.e2e.test_course_scenario import client

pytestmark = pytest.mark.slow


def blended(trio: Trio, user_id: int) -> dict:
    answer = httpx.post(f"{trio.url('recommendations')}/recommendations", params={"user_id": user_id})
    assert answer.status_code == 200, answer.text
    return answer.json()


def degraded_count(trio: Trio, dependency: str) -> float:
    metrics = httpx.get(f"{trio.url('recommendations')}/metrics").text
    series = f'recommendations_degraded_answers_total{{dependency="{dependency}",route="blended"}} '
    return next((float(line.split()[-1]) for line in metrics.splitlines() if line.startswith(series)), 0.0)


def test_blended_answers_survive_stopped_dependencies(own_trio: Trio) -> None:
    for track in (10, 40):
        listened = {"user_id": 1, "item_id": track}
        httpx.post(f"{own_trio.url('events')}/put", params=listened).raise_for_status()
    assert blended(own_trio, 1) == {"recs": [10, 41, 11, 12, 13], "degraded": False}

    stop_service(own_trio.services["features"])
    assert blended(own_trio, 1) == {"recs": [10, 11, 12, 13], "degraded": True}  # offline only
    assert degraded_count(own_trio, "features") == 1.0
    done = client(own_trio, "--blended", "--user_id", "1")
    assert done.returncode == 0
    assert "note: degraded answer" in done.stdout

    stop_service(own_trio.services["events"])
    assert blended(own_trio, 1) == {"recs": [10, 11, 12, 13], "degraded": True}
    assert degraded_count(own_trio, "events") == 1.0

    stop_service(own_trio.services["recommendations"])
    done = client(own_trio, "--blended", "--user_id", "1")
    assert done.returncode == 1
    assert "cannot reach" in done.stderr and "/recommendations" in done.stderr
