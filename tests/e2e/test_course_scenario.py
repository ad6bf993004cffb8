"""The course scenario through `test_service.py`, against the three real services."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from musicrec.settings import PROJECT_ROOT
from tests.e2e.conftest import Trio

pytestmark = pytest.mark.slow
LISTED_TRACK = re.compile(r"^\s+\d+\.\s+(\d+)\s", re.MULTILINE)


def client(trio: Trio, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "test_service.py", *args], cwd=PROJECT_ROOT, env={**os.environ, **trio.env},
        capture_output=True, text=True, timeout=60,
    )


def listed(trio: Trio, *args: str) -> list[int]:
    """The track ids `test_service.py` prints, in order; fails on a non-zero exit."""
    done = client(trio, *args)
    assert done.returncode == 0, done.stderr
    return [int(track) for track in LISTED_TRACK.findall(done.stdout)]


def test_course_scenario(shared_trio: Trio) -> None:
    # Expected lists worked out from tests/artifact_factory.py (user 2 is used by this test only).
    assert listed(shared_trio) == [30, 10, 20, 40, 41]
    assert listed(shared_trio, "--offline", "--user_id", "2") == [20, 10, 21]
    for track in ("20", "11", "40"):
        done = client(shared_trio, "--add_online", "--user_id", "2", "--item_id", track)
        assert (done.returncode, done.stdout) == (0, f"Added listen: user 2, track {track}\n")
    # latest listens 40, 11, 20 -> 41 (1.0), 21 (.875), 10 (.75), 42 (.625); 40, 11, 20 just heard
    assert listed(shared_trio, "--online", "--user_id", "2") == [41, 21, 10, 42]
    assert listed(shared_trio, "--online", "--user_id", "2", "--k", "2") == [41, 21]
    # offline 20 10 21 / online 41 21 10 42 -> 20 41 10 21 (21 10) then 42
    assert listed(shared_trio, "--blended", "--user_id", "2") == [20, 41, 10, 21, 42]


def test_answers_name_tracks_and_artists(shared_trio: Trio) -> None:
    done = client(shared_trio, "--offline", "--user_id", "5")
    assert done.stdout.splitlines() == [
        "Offline recommendations for user 5 (k=10):",
        "    1.        30  Track 30 — Artist D",
        "                 why: in your personal list, made offline from your listening history",
        "    2.        31  (unnamed track) — (unknown artist)",
        "                 why: in your personal list, made offline from your listening history",
    ]


def test_refused_request_exits_non_zero_with_the_reason(shared_trio: Trio) -> None:
    done = client(shared_trio, "--offline", "--user_id", "1", "--k", "1000")
    assert done.returncode == 1
    assert "answered 422: query parameter 'k': must be between 1 and 100" in done.stderr
