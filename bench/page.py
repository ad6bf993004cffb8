"""How long each action on the web page takes, in a real browser, on the built-in data; and its screenshot.

Starts the trio as real uvicorn processes on free loopback ports with the artifact set `make run`
serves (a fresh SQLite events store of its own), opens the page in Debian's chromium (Playwright),
and repeats what a person does: open the page, pick listeners, play tracks from the lists, search.
Each action is timed by the page itself (`performance.now()` from the click until the lists are
drawn again: every request it makes, and the drawing), and also from Python around the click.
Writes bench/results/page.md; with --screenshot, saves the page after a short session there.

    python -m bench.page [--artifacts data/artifacts] [--rounds 20] [--screenshot docs/screenshot.png]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import psutil

from bench.serving_report import code_version, machine_facts
from musicrec.runtime.launcher import private_trio_environment, running, trio
from musicrec.settings import get_settings, load_settings
from tests.web.browser import MusicrecPage, chromium_page

log = logging.getLogger("bench.page")
RESULTS = Path(__file__).parent / "results" / "page.md"
TARGET_MS = 100.0


def session(page: MusicrecPage, rounds: int, timed: Callable[[str, Callable[[], object]], object]) -> None:
    """What a person does, `rounds` times over: pick a listener, play from each list, search, play."""
    words = ["night", "ri", "the", "neon", "lil", "mirror", "sun", "dj"]
    for round_number in range(rounds):
        kind = ("known", "long", "cold")[round_number % 3]
        timed(f"pick a {kind} user", partial(page.sample_user, kind))
        timed("play from the offline list", partial(page.play, "offline", 1 + round_number % 5))
        timed("play from the online list", partial(page.play, "online", 1 + round_number % 3))
        timed("play from the blended list", lambda: page.play("blended", 2))
        word = words[round_number % len(words)]
        timed("search (one request)", partial(page.search, word))
        timed("play a search result", lambda: page.play_found(1))
        page.search("")  # closes the results, which cover the lists
        timed("open a user by id", lambda: page.open_user(int(page.page.input_value("#user-id"))))


Timings = dict[str, list[tuple[int, float]]]  # action -> (page ms, outer ms) of each time it was done


def measure(artifacts: Path, rounds: int, screenshot: Path | None) -> tuple[Timings, str]:
    measured: Timings = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="bench-page-") as work:
        env = private_trio_environment(artifacts, Path(work) / "events.sqlite3")
        settings = load_settings(environ={**os.environ, **env})
        trio_running = running(trio(settings), "127.0.0.1", env, log_dir=Path(work))
        with trio_running as services, chromium_page() as opened:
            page = MusicrecPage(opened, services[-1].url)

            def timed(action: str, do: Callable[[], object]) -> None:
                started = time.perf_counter()
                do()
                measured[action].append((page.last_action_ms(), (time.perf_counter() - started) * 1000))

            timed("open the page", page.load)
            session(page, 1, lambda action, do: do())  # warm-up: first calls of each route
            measured.clear()
            timed("open the page", page.load)
            session(page, rounds, timed)
            if screenshot is not None:
                take_screenshot(page, screenshot)
            if opened.errors:
                raise RuntimeError(f"the page reported errors: {opened.errors}")
            set_name = page.page.inner_text("#set")
    return measured, set_name


def take_screenshot(page: MusicrecPage, path: Path) -> None:
    """The page after a short session: a listener with a long history who played two tracks."""
    page.load()
    page.sample_user("long")
    page.play("offline", 1)
    page.play("online", 2)
    page.page.screenshot(path=str(path), full_page=True)
    log.info("screenshot saved to %s", path)


def render(measured: Timings, args: argparse.Namespace, set_name: str, load_before: str) -> str:
    rows = []
    worst = 0.0
    for action, pairs in measured.items():
        page_ms = np.array([pair[0] for pair in pairs], dtype=float)
        outer_ms = np.array([pair[1] for pair in pairs])
        worst = max(worst, float(np.percentile(page_ms, 95)))
        rows.append(f"| {action} | {len(pairs)} | {np.percentile(page_ms, 50):.0f} "
                    f"| {np.percentile(page_ms, 95):.0f} | {page_ms.max():.0f} "
                    f"| {np.percentile(outer_ms, 50):.0f} |")
    return "\n".join([
        "# The web page: time per action in a real browser, on the built-in data",
        "",
        f"`python -m bench.page --artifacts {args.artifacts} --rounds {args.rounds}` on {machine_facts()}; "
        f"code {code_version()}; {set_name}; load average before: {load_before}, after: {_load()}.",
        "",
        "The trio runs as real uvicorn processes and the page in Debian's chromium (Playwright), all on",
        "this machine's two cores. *page ms* is the page's own measure (`performance.now()` from the",
        "click until the lists are drawn again: a play is `POST /listen`, then the online and blended",
        "lists with `details=true`, fetched together, then drawn; a new listener fetches all four);",
        "*outer ms* adds Playwright's round trips (and, for a search, the page's 120 ms typing pause).",
        "",
        "| action | times | page ms p50 | page ms p95 | page ms max | outer ms p50 |",
        "|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"Slowest action at p95: {worst:.0f} ms against the target of {TARGET_MS:.0f} ms: "
        f"{'PASS' if worst <= TARGET_MS else 'FAIL'}.",
    ])


def _load() -> str:
    return ", ".join(f"{value:.1f}" for value in psutil.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, default=get_settings().paths.artifacts)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--screenshot", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    load_before = _load()
    measured, set_name = measure(args.artifacts.resolve(), args.rounds, args.screenshot)
    RESULTS.write_text(render(measured, args, set_name, load_before) + "\n")
    print(RESULTS.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
