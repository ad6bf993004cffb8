"""`python -m musicrec run` (`make run`) on a machine without artifacts, end to end.

First run: a quick set is made and served, the tuned pipeline starts in the background, and a
Ctrl-C in the middle of it stops it cleanly. A run with the background run switched off serves the
quick set and nothing else. Second run: the quick set is served at once, the tuned
pipeline goes on where it stopped, and the services switch to its set by hot reload while course
calls keep being answered (none fails, no service restarts). Third run: the tuned set, at once,
nothing in the background.

Real processes throughout: the command, its three uvicorn services and its pipeline children, on
tiny data, with a short settings search to keep the test short. Ctrl-C is sent as a terminal
sends it, to the command's whole process group.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from musicrec.api.reloading import ARTIFACT_SET_HEADER
from musicrec.runtime import progress
from musicrec.runtime.launcher import private_trio_environment
from musicrec.runtime.pipeline_jobs import LOG_FILE, TUNED_WORK_FOLDER
from musicrec.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow
TUNE_MINUTES = "0.25"
QUICK_TIMEOUT = 240  # seconds for the quick set and the start of the trio on a shared machine
TUNED_TIMEOUT = 420  # seconds for the rest of the tuned pipeline
SET_NAME = re.compile(r"^\d{8}T\d{12}Z$")  # the folders of artifact sets (musicrec.artifacts)
SERVICE_MODULES = ("events_service", "features_service", "recommendations_service")


class Printed:
    """What a running command prints, read on a thread so the test can wait for a line meanwhile."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._reader.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.text:
                return self.text
            if not self._reader.is_alive():
                break
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not printed within {timeout} s; got:\n{self.text}")

    def finish(self) -> str:
        self._reader.join(30)
        return self.text


@dataclass
class Command:
    process: subprocess.Popen[str]
    printed: Printed

    def ctrl_c(self) -> int:
        """SIGINT to the whole process group, as a terminal's Ctrl-C; the exit code."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(60)

    def service_pids(self) -> dict[str, int]:
        pids = {}
        for child in psutil.Process(self.process.pid).children():
            with contextlib.suppress(psutil.Error):
                pids.update({module: child.pid for module in SERVICE_MODULES if module in child.cmdline()})
        return pids


@contextlib.contextmanager
def musicrec_run(env: dict[str, str], log: Path) -> Iterator[Command]:
    with open(log, "a") as stderr, subprocess.Popen(
            [sys.executable, "-m", "musicrec", "run"], cwd=PROJECT_ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env}, stdout=subprocess.PIPE, stderr=stderr, text=True,
            start_new_session=True) as process:
        command = Command(process, Printed(process))
        try:
            yield command
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            command.printed.finish()


@dataclass
class CourseCalls:
    """The course's calls in a loop on a thread: each answer's status (or error) and artifact set."""

    urls: dict[str, str]
    user_id: int
    item_id: int
    answers: list[tuple[str, str, str | None]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def calls(self) -> list[tuple[str, str, dict[str, int]]]:
        recommendations, user = self.urls["recommendations"], {"user_id": self.user_id}
        return [
            ("POST", f"{recommendations}/recommendations_default", {"k": 5}),
            ("POST", f"{recommendations}/recommendations_offline", user),
            ("POST", f"{self.urls['events']}/put", {**user, "item_id": self.item_id}),
            ("POST", f"{recommendations}/recommendations_online", user),
            ("POST", f"{recommendations}/recommendations", user),
            ("POST", f"{self.urls['features']}/similar_items", {"item_id": self.item_id, "k": 5}),
        ]

    def run(self) -> None:
        with httpx.Client(timeout=10) as http:
            while not self.stop.is_set():
                for method, url, params in self.calls():
                    try:
                        answer = http.request(method, url, params=params)
                        self.answers.append((url, str(answer.status_code), answer.headers.get(ARTIFACT_SET_HEADER)))
                    except httpx.HTTPError as error:
                        self.answers.append((url, type(error).__name__, None))
                time.sleep(0.05)

    def sets_of(self, route: str) -> list[str | None]:
        return [served for url, _, served in self.answers if url.endswith(route)]


def _about(urls: dict[str, str]) -> dict:
    return httpx.get(f"{urls['recommendations']}/about").json()["artifact_set"]


def _wait_for_stage(work: Path, stage: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while stage not in progress.done_stages(work):
        assert time.monotonic() < deadline, f"stage {stage} not done within {timeout} s"
        time.sleep(0.2)


def _pipeline_processes(work: Path) -> list[psutil.Process]:
    """Live processes that run a pipeline in `work` (none must outlive the command)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if str(work) in (process.info["cmdline"] or []) and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
    return found


def test_first_run_serves_a_quick_set_then_the_tuned_one_without_a_restart(tmp_path: Path,
                                                                           tiny_raw_dir: Path) -> None:
    data = tmp_path / "data"
    env = {**private_trio_environment(data / "artifacts", data / "events.sqlite3"),
           "MUSICREC_PATHS__RAW": str(tiny_raw_dir), "MUSICREC_PIPELINE__TUNE_MINUTES": TUNE_MINUTES}
    urls = {"events": env["MUSICREC_URLS__EVENTS_STORE_URL"],
            "features": env["MUSICREC_URLS__FEATURES_STORE_URL"],
            "recommendations": env["MUSICREC_URLS__RECOMMENDATIONS_URL"]}
    work, log = data / TUNED_WORK_FOLDER, tmp_path / "run.stderr"

    # First run: no artifacts -> a quick set, served; the tuned pipeline starts and is stopped by Ctrl-C.
    with musicrec_run(env, log) as first:
        printed = first.printed.wait_for(f"Try it in a browser: {urls['recommendations']}/", QUICK_TIMEOUT)
        assert "No artifact set at" in printed and "quick: settings not tuned" in printed
        quick = _about(urls)
        assert quick["tuned"] is False
        printed = first.printed.wait_for("A tuned artifact set is being made in the background", 10)
        assert f"its log: {work / LOG_FILE}" in printed
        _wait_for_stage(work, "split", 120)  # the stages after it take seconds: Ctrl-C lands in one
        assert first.ctrl_c() == 0
        printed = first.printed.finish()
    assert "Stopped the tuned pipeline (stages done: prepare, split" in printed
    assert "Stopped all services." in printed
    assert not _pipeline_processes(work)
    sets = sorted(path.name for path in (data / "artifact_sets").iterdir() if SET_NAME.match(path.name))
    assert sets == [quick["name"]]  # nothing half-made left behind, the quick set still current
    assert (data / "artifacts").resolve().name == quick["name"]
    done_before = progress.done_stages(work)

    # With the background run switched off: the quick set, at once, and nothing else.
    with musicrec_run({**env, "MUSICREC_RUN__TUNE_IN_BACKGROUND": "false"}, log) as skipping:
        printed = skipping.printed.wait_for("Try it in a browser", 60)
        assert "No tuned set is made: tuning in the background is off" in printed
        assert not _pipeline_processes(work)
        assert skipping.ctrl_c() == 0
        assert "in the background (" not in skipping.printed.finish()
    assert progress.done_stages(work) == done_before

    # Second run: serves at once, the pipeline goes on where it stopped, the services switch to its set.
    with musicrec_run(env, log) as second:
        printed = second.printed.wait_for("Try it in a browser", 60)
        assert "No artifact set at" not in printed
        printed = second.printed.wait_for(f"going on after stages {', '.join(done_before)}", 10)
        pids = second.service_pids()
        assert set(pids) == set(SERVICE_MODULES)
        user = httpx.get(f"{urls['recommendations']}/sample_user", params={"kind": "known"}).json()["user_id"]
        item = httpx.post(f"{urls['recommendations']}/recommendations_default", params={"k": 1}).json()["recs"][0]
        calls = CourseCalls(urls, user, item)
        caller = threading.Thread(target=calls.run)
        caller.start()
        try:
            printed = second.printed.wait_for("The services now serve it", TUNED_TIMEOUT)
            time.sleep(1.0)  # a few more rounds of calls on the new set
        finally:
            calls.stop.set()
            caller.join(30)
        tuned = _about(urls)
        assert second.service_pids() == pids  # switched without a restart
        assert second.ctrl_c() == 0
        printed = second.printed.finish()
    assert tuned["tuned"] is True and tuned["name"] != quick["name"]
    assert f"published artifact set {tuned['name']}" in printed
    failed = [(url, status) for url, status, _ in calls.answers if status != "200"]
    assert calls.answers and not failed
    served = calls.sets_of("/recommendations")
    assert served[0] == quick["name"] and served[-1] == tuned["name"] and set(served) == {quick["name"],
                                                                                          tuned["name"]}
    assert calls.sets_of("/similar_items")[-1] == tuned["name"]
    assert "Stopped the tuned pipeline" not in printed
    assert not _pipeline_processes(work)

    # Third run: the tuned set at once, nothing made in the background.
    with musicrec_run(env, log) as third:
        printed = third.printed.wait_for("Try it in a browser", 60)
        assert f"Serving artifact set {tuned['name']}: settings tuned" in printed
        assert third.ctrl_c() == 0
        printed = third.printed.finish()
    assert "in the background" not in printed
