"""`python -m musicrec serve` and the launcher: start, report, stop; failures name the service."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from musicrec.runtime.launcher import ServiceFailed, ServiceSpec, free_port, running
from musicrec.settings import PROJECT_ROOT, load_settings
from tests.e2e.conftest import trio_environment

pytestmark = pytest.mark.slow
ASKERS = 4  # clients asking for blended recommendations in a loop while services are killed


def _wait_for_line(process: subprocess.Popen[str], text: str, timeout: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    assert process.stdout is not None  # started with stdout=PIPE
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
            assert serve.stdout is not None and "Stopped all services." in serve.stdout.read()
        finally:
            if serve.poll() is None:
                serve.kill()
    for name in ("EVENTS_STORE_URL", "FEATURES_STORE_URL", "RECOMMENDATIONS_URL"):
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{env[f'MUSICREC_URLS__{name}']}/health")


def test_a_service_that_cannot_start_is_named_with_its_log(tmp_path: Path) -> None:
    env = {"MUSICREC_PATHS__ARTIFACTS": str(tmp_path / "nothing-here")}
    spec = ServiceSpec("features", "features_service", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ServiceFailed) as failed, running([spec], "127.0.0.1", env, log_dir=tmp_path):
        pass
    assert "features service exited with code" in str(failed.value)
    assert "no artifact set at" in str(failed.value)  # the last lines of its log


@dataclass
class Answers:
    """What a client asking the recommendations service in a loop got: (time, status or error, degraded)."""

    log: list[tuple[float, str, bool]] = field(default_factory=list)

    def since(self, moment: float) -> list[tuple[float, str, bool]]:
        return [entry for entry in self.log if entry[0] >= moment]


def _ask_until(stop: threading.Event, url: str, answers: Answers) -> None:
    with httpx.Client(timeout=5) as http:
        while not stop.is_set():
            try:
                response = http.get(f"{url}/recommendations", params={"user_id": 1})
                degraded = response.status_code == 200 and response.json()["degraded"]
                answers.log.append((time.monotonic(), str(response.status_code), degraded))
            except httpx.HTTPError as exc:
                answers.log.append((time.monotonic(), type(exc).__name__, False))
                time.sleep(0.02)


def _service_process(serve: subprocess.Popen[str], module: str) -> psutil.Process:
    """The live process of one service started by `serve` (StopIteration if there is none now)."""
    for child in psutil.Process(serve.pid).children():
        with contextlib.suppress(psutil.Error):  # e.g. the one just killed, not yet reaped
            if child.status() != psutil.STATUS_ZOMBIE and module in child.cmdline():
                return child
    raise StopIteration(module)


def _wait_ready_again(url: str, old_pid: int, serve: subprocess.Popen[str], module: str) -> float:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, StopIteration):
            if (_service_process(serve, module).pid != old_pid
                    and httpx.get(f"{url}/ready", timeout=1).status_code == 200):
                return time.monotonic()
        time.sleep(0.1)
    raise AssertionError(f"{module} did not come back at {url}")


def test_serve_restarts_a_killed_service_while_the_others_keep_answering(tmp_path: Path) -> None:
    """kill -9 each service in turn under load: no 5xx, degraded only while a dependency is down,
    normal answers again once it is back (within the breaker's reset), and one restart logged each."""
    env = trio_environment(tmp_path)
    urls = {name: env[f"MUSICREC_URLS__{key}"] for name, key in
            (("events", "EVENTS_STORE_URL"), ("features", "FEATURES_STORE_URL"),
             ("recommendations", "RECOMMENDATIONS_URL"))}
    reset = load_settings(environ={**os.environ, **env}).serving.breaker_reset
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log, subprocess.Popen(
            [sys.executable, "-m", "musicrec", "serve"], cwd=PROJECT_ROOT, env={**os.environ, **env},
            stdout=subprocess.PIPE, stderr=log, text=True) as serve:
        stop, answers = threading.Event(), Answers()
        askers = [threading.Thread(target=_ask_until, args=(stop, urls["recommendations"], answers))
                  for _ in range(ASKERS)]
        try:
            _wait_for_line(serve, "recommendations ")
            httpx.post(f"{urls['events']}/put", params={"user_id": 1, "item_id": 10}).raise_for_status()
            for asker in askers:
                asker.start()
            time.sleep(1)
            calm_from = 0.0  # answers from then on, until the next kill, must be normal
            for name in ("events", "features", "recommendations"):
                module = f"{name}_service"
                victim = _service_process(serve, module)
                killed_at = time.monotonic()
                victim.kill()
                back_at = _wait_ready_again(urls[name], victim.pid, serve, module)
                time.sleep(reset + 1.5)  # the breaker's next probe finds it answering
                assert not any(degraded for at, _, degraded in answers.since(calm_from) if at < killed_at), name
                calm_from = back_at + reset + 1
                after = answers.since(calm_from)
                assert after and all(status == "200" and not degraded for _, status, degraded in after), name
            assert serve.poll() is None  # still supervising
        finally:
            stop.set()
            for asker in askers:
                asker.join(10)
            serve.send_signal(signal.SIGINT)
            serve.wait(30)
    statuses = {status for _, status, _ in answers.log}
    assert not {status for status in statuses if status.startswith("5")}
    assert statuses <= {"200", "ConnectError", "RemoteProtocolError", "ReadError"}
    assert sum(degraded for _, _, degraded in answers.log) > 0  # the dependencies really were missed
    text = log_path.read_text()
    for name in ("events", "features", "recommendations"):
        assert f"{name} service exited with code -9" in text
        assert f"{name} service started again (restart 1" in text
