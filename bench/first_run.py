"""What a newcomer's first `make run` takes: `python -m musicrec run` from no artifacts to the tuned set.

Runs the real command on a fresh data folder (its own ports, artifacts and events store; the raw files
of `--raw`, by default `data/raw`, made with `make data`) and times what it prints: the quick set
made, the trio ready, the first course call answered (`test_service.py`), the tuned set published
and the services switched to it. Then stops it as Ctrl-C does. Writes `bench/results/first_run.md`.
Run it through `/work/shared/quiet` so the figures say how busy the machine was:

    ../../shared/quiet .venv/bin/python -m bench.first_run
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from musicrec.runtime.launcher import private_trio_environment
from musicrec.settings import PROJECT_ROOT

DEFAULT_REPORT = PROJECT_ROOT / "bench" / "results" / "first_run.md"
MILESTONES = {  # what the command prints -> what it means
    "The quick artifact set took": "quick artifact set made",
    "Try it in a browser": "trio ready on the quick set",
    "The tuned pipeline published": "tuned set published",
    "The services now serve it": "services switched to the tuned set",
}
SERVING = re.compile(r"^Serving artifact set \S+: (.*)\.$|^The services now serve it: (.*)\. ")
TIMEOUT = 3600.0


def _load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def _course_call(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "test_service.py"], cwd=PROJECT_ROOT, env=env, check=True,
                   capture_output=True, timeout=60)


def measure(raw: Path, root: Path) -> tuple[list[tuple[str, float]], list[str]]:
    """(milestone, seconds since the start) in order, and the sets' descriptions as printed."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MUSICREC_PATHS__RAW": str(raw),
           **private_trio_environment(root / "data" / "artifacts", root / "data" / "events.sqlite3")}
    times: list[tuple[str, float]] = []
    described: list[str] = []
    started = time.monotonic()
    with open(root / "run.stderr", "w") as stderr, subprocess.Popen(
            [sys.executable, "-m", "musicrec", "run"], cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
            stderr=stderr, text=True, start_new_session=True) as process:
        assert process.stdout is not None
        timer = threading.Timer(TIMEOUT, lambda: os.killpg(process.pid, signal.SIGINT))
        timer.start()
        try:
            for line in process.stdout:
                print(line, end="")
                found = SERVING.match(line.strip())
                if found:
                    described.append(found.group(1) or found.group(2))
                for text, milestone in MILESTONES.items():
                    if line.startswith(text):
                        times.append((milestone, time.monotonic() - started))
                if line.startswith("Try it in a browser"):
                    _course_call(env)
                    times.append(("first course call answered (test_service.py)", time.monotonic() - started))
                if line.startswith(("The services now serve it", "The tuned pipeline failed")):
                    break
        finally:
            timer.cancel()
            os.killpg(process.pid, signal.SIGINT)
            process.wait(120)
    return times, described


def report(times: list[tuple[str, float]], described: list[str], load_before: str, load_after: str) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True,
                            text=True).stdout.strip()
    rows = "\n".join(f"| {milestone} | {seconds:.0f} | {seconds / 60:.1f} |" for milestone, seconds in times)
    sets = "\n".join(f"- {text}" for text in described)
    return f"""# First run: `python -m musicrec run` from no artifacts to the tuned set

Command: `../../shared/quiet .venv/bin/python -m bench.first_run` (the real `musicrec run` on a fresh
data folder, the built-in small data of `make data`, default settings: `[pipeline] tune_minutes = 6`).
Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on commit {commit}; {os.cpu_count()} cores;
load average {load_before} at the start and {load_after} at the end (quiet's own line below adds the
CPU seconds). Setting up the venv and generating the data (`make data`, seconds at this scale) come
before these and are not included.

| milestone | seconds from the start | minutes |
|---|---:|---:|
{rows}

The sets served, as the command described them:
{sets}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, default=PROJECT_ROOT / "data" / "raw",
                        help="raw course files (default: data/raw, made by `make data`)")
    parser.add_argument("--out", type=Path, default=DEFAULT_REPORT, help="report (default %(default)s)")
    args = parser.parse_args()
    if not (args.raw / "interactions.parquet").is_file():
        print(f"no raw files in {args.raw}: run `make data` first", file=sys.stderr)
        return 2
    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="first-run-") as root:
        times, described = measure(args.raw.resolve(), Path(root))
    text = report(times, described, load_before, _load())
    args.out.write_text(text)
    print(f"\n{text}\nwritten to {args.out}")
    return 0 if any(milestone.startswith("services switched") for milestone, _ in times) else 1


if __name__ == "__main__":
    sys.exit(main())
