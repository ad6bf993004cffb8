"""`python -m musicrec serve` and the launcher: start, report, stop; failures name the service."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from musicrec.api.launcher import ServiceFailed, ServiceSpec, running
from musicrec.settings import PROJECT_ROOT
from tests.e2e.conftest import trio_environment
from musicrec.api.launcher import free_port

pytestmark = pytest.mark.slow


def _wait_for_line(process: subprocess.Popen[str], text: str, timeout: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"{text!r} not printed; got:\n{''.join(lines)}")


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serve_starts_the_trio_and_stops_it(tmp_path: Path, stop_signal: signal.Signals) -> None:
    env = trio_environment(tmp_path)
    with subprocess.Popen([sys.executable, "-m", "musicrec", "serve"], cwd=PROJECT_ROOT,
                          env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True) as serve:
        try:
            printed = "".join(_wait_for_line(serve, "Try it in a browser"))
            recommendations = env["MUSICREC_URLS__RECOMMENDATIONS_URL"]
            assert f"{recommendations}   docs: {recommendations}/docs" in printed
            assert f"Try it in a browser: {recommendations}/\n" in printed
            answer = httpx.post(f"{recommendations}/recommendations_default", params={"k": 2}).json()
            assert answer == {"recs": [30, 10], "degraded": False}
            serve.send_signal(stop_signal)
            assert serve.wait(30) == 0
            assert "Stopped all services." in serve.stdout.read()
        finally:
            if serve.poll() is None:
                serve.kill()
    for name in ("EVENTS_STORE_URL", "FEATURES_STORE_URL", "RECOMMENDATIONS_URL"):
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{env[f'MUSICREC_URLS__{name}']}/health")


def test_a_service_that_cannot_start_is_named_with_its_log(tmp_path: Path) -> None:
    env = {"MUSICREC_PATHS__ARTIFACTS": str(tmp_path / "nothing-here")}
    spec = ServiceSpec("features", "features_service", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ServiceFailed) as failed:
        with running([spec], "127.0.0.1", env, log_dir=tmp_path):
            pass
    assert "features service exited with code" in str(failed.value)
    assert "no artifact set at" in str(failed.value)  # the last lines of its log
