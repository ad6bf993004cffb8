"""The pipeline runs of `python -m musicrec run`: a quick set in the foreground, the tuned one beside the trio.

Both are `python -m musicrec pipeline` child processes, so the command that serves never imports the
models' libraries. Each child has a process group of its own: a Ctrl-C in the terminal reaches the
command (and the services), not the pipeline, and the command then interrupts the pipeline exactly
once (`interrupt`: SIGINT, so the pipeline stops as on Ctrl-C and discards an unfinished artifact
set), waits for it, and kills it only if it does not stop.

The background run (`BackgroundPipeline`) is `nice`d, so the services' requests come first, writes
its output to a log file in its own work folder, and runs with `--resume`: stopped, it goes on at
the stage it was in the next time (`musicrec.runtime.progress`).
"""

from __future__ import annotations

import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from musicrec.runtime import progress
from musicrec.settings import Settings

NICENESS = 10  # `nice -n`: the background pipeline gets the CPU the services leave
STOP_TIMEOUT = 30.0  # seconds a pipeline may take to stop after SIGINT before it is killed
TUNED_WORK_FOLDER = "work-tuned"  # next to the artifacts path, apart from `pipeline`'s own work folder
LOG_FILE = "pipeline.log"
LOG_TAIL_LINES = 5


def pipeline_command(settings: Settings, *options: str, work: Path | None = None) -> list[str]:
    """`python -m musicrec pipeline` on the configured raw files and artifacts path, with `options`."""
    command = [sys.executable, "-m", "musicrec", "pipeline", "--raw", str(settings.paths.raw),
               "--artifacts", str(settings.paths.artifacts), *options]
    return command + ["--work", str(work)] if work is not None else command


def interrupt(process: subprocess.Popen, timeout: float = STOP_TIMEOUT) -> int:
    """Stop a pipeline as Ctrl-C would (SIGINT), kill it if it has not stopped within `timeout` s;
    returns its exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def make_quick_set(settings: Settings) -> float:
    """Run `pipeline --quick` in the foreground (its progress in this terminal); returns its seconds.

    RuntimeError if it fails; KeyboardInterrupt (after stopping it) if the user stops it.
    """
    started = time.monotonic()
    process = subprocess.Popen(pipeline_command(settings, "--quick"), process_group=0)
    try:
        code = process.wait()
    except KeyboardInterrupt:
        interrupt(process)
        raise
    if code != 0:
        raise RuntimeError(f"the quick pipeline failed (exit code {code}); its output is above")
    return time.monotonic() - started


class BackgroundPipeline:
    """The tuned pipeline beside the running trio: one niced `pipeline --tune on --resume` process.

    A `serve.Companion`: `start` once the services are ready, `check` every tick (it reports the
    end of the run, and calls `on_published` with the new set's folder when it published one),
    `stop` before the services stop.
    """

    def __init__(self, settings: Settings, on_published: Callable[[Path], None],
                 say: Callable[[str], None] = print) -> None:
        self.settings = settings
        self.work = settings.paths.artifacts.parent / TUNED_WORK_FOLDER
        self.log_path = self.work / LOG_FILE
        self.on_published = on_published
        self.say = say
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0

    def command(self) -> list[str]:
        """The pipeline under `nice` (set before the interpreter starts, so every thread it makes has it)."""
        pipeline = pipeline_command(self.settings, "--tune", "on", "--resume", work=self.work)
        return ["nice", "-n", str(NICENESS), *pipeline] if shutil.which("nice") else pipeline

    def start(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        done = progress.done_stages(self.work)
        command = self.command()
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"\n=== {datetime.now(UTC).isoformat(timespec='seconds')}: "
                      f"{shlex.join(command)}\n")
            log.flush()
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, process_group=0)
        self.started_at = time.monotonic()
        resumed = f", going on after stages {', '.join(done)}" if done else ""
        budget = self.settings.pipeline.tune_minutes
        self.say(f"\nA tuned artifact set is being made in the background{resumed} (nice -n {NICENESS}; "
                 f"the settings search alone takes up to {budget:g} min, [pipeline] tune_minutes).\n"
                 f"  its log: {self.log_path}\n"
                 "  The services switch to it by themselves once it is published; Ctrl-C stops it too, "
                 "and the next run goes on where it stopped.")

    def check(self) -> None:
        if self.process is None or self.process.poll() is None:
            return
        code, self.process = self.process.returncode, None
        minutes = (time.monotonic() - self.started_at) / 60
        if code == 0:
            folder = self.settings.paths.artifacts.resolve()
            self.say(f"\nThe tuned pipeline published artifact set {folder.name} after {minutes:.1f} min "
                     f"(log: {self.log_path}).")
            self.on_published(folder)
        else:
            self.say(f"\nThe tuned pipeline failed (exit code {code}) after {minutes:.1f} min; the services "
                     f"keep serving the current set. The end of {self.log_path}:{self._log_tail()}\n"
                     "  The next run tries again from the stage that failed.")

    def stop(self) -> None:
        if self.process is None:
            return
        process, self.process = self.process, None
        code = interrupt(process)
        if code == 0:  # it finished just now; the services may not have switched to its set
            self.say(f"\nThe tuned pipeline had just published {self.settings.paths.artifacts.resolve().name}; "
                     "the next run serves it.")
            return
        done = progress.done_stages(self.work)
        finished = f" (stages done: {', '.join(done)})" if done else ""
        self.say(f"\nStopped the tuned pipeline{finished}; the next run goes on where it stopped. "
                 f"Its log: {self.log_path}")

    def _log_tail(self) -> str:
        lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-LOG_TAIL_LINES:]
        return "".join(f"\n  | {line}" for line in lines)
