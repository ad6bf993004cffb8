"""`python -m musicrec run` (what `make run` does): answer within minutes, get better by itself.

What happens depends on the current artifact set (`[paths] artifacts`):

- none yet: a quick set is made first (`pipeline --quick`, about a minute at the small scale), then
  as for an untuned set;
- made without tuning (the quick set): the trio starts on it at once and, with `[run]
  tune_in_background` (the default), the tuned pipeline runs in the background
  (`musicrec.runtime.pipeline_jobs`); once it publishes its set, the services are asked to switch
  to it (`POST /admin/reload`; they would also find it by themselves within `[serving]
  reload_interval`), so the page shows the new set and its quality without a restart;
- tuned, or a folder the pipeline did not make (the course's own files): the trio starts on it.

Ctrl-C stops the background pipeline (the next run goes on where it stopped) and the services.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import httpx

from musicrec import schema
from musicrec.api.access import API_KEY_HEADER
from musicrec.commands.serve import run_trio, until_stopped
from musicrec.errors import MusicRecError
from musicrec.manifest import read_manifest, settings_tuned
from musicrec.runtime.launcher import READY_TIMEOUT
from musicrec.runtime.pipeline_jobs import BackgroundPipeline, make_quick_set
from musicrec.settings import Settings

RELOAD_TIMEOUT = 120.0  # seconds a service may take to verify and map a new set
QUALITY_METRIC = "ndcg@10"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ready-timeout", type=float, default=READY_TIMEOUT,
                        help="seconds each service may take to load its data (default %(default)s)")
    parser.add_argument("--tune-in-background", choices=("on", "off"), default=None,
                        help="improve an untuned artifact set in the background while serving "
                             "(default: [run] tune_in_background)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    return until_stopped(lambda: _run(settings, args))


def _run(settings: Settings, args: argparse.Namespace) -> int:
    artifacts = settings.paths.artifacts
    if not artifacts.resolve().is_dir():
        print(f"No artifact set at {artifacts} yet: making a quick one first (pipeline --quick) ...")
        try:
            seconds = make_quick_set(settings)
        except KeyboardInterrupt:
            print("\nStopped the quick pipeline; the next run starts it again.")
            return 0
        print(f"\nThe quick artifact set took {seconds:.0f} s.")
    folder = artifacts.resolve()
    tuned = settings_tuned(read_manifest(folder))
    print(f"\nServing artifact set {folder.name}: {describe(folder)}.")
    background = (settings.run.tune_in_background if args.tune_in_background is None
                  else args.tune_in_background == "on")
    companion = None
    if tuned is False and background:
        companion = BackgroundPipeline(settings, on_published=lambda new: _switch_services(settings, new))
    elif tuned is False:
        print("No tuned set is made: tuning in the background is off ([run] tune_in_background).")
    return run_trio(settings, args.ready_timeout, companion)


def describe(folder: Path) -> str:
    """A set in a few words for the terminal: how it was made, and its offline quality."""
    try:
        tuned = settings_tuned(read_manifest(folder))
    except MusicRecError as error:
        return error.message  # the services will refuse it with the same message
    made = {True: "settings tuned on a validation split", False: "quick: settings not tuned",
            None: "not made by this pipeline (no parameters in it)"}[tuned]
    quality = _published_quality(folder / schema.METRICS_FILE)
    return f"{made}, {QUALITY_METRIC} {quality:.4f} on the test period" if quality is not None else made


def _published_quality(path: Path) -> float | None:
    try:
        value: Any = json.loads(path.read_text(encoding="utf-8"))["models"]["published"][QUALITY_METRIC]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return float(value) if isinstance(value, (int, float)) else None


def _switch_services(settings: Settings, folder: Path) -> None:
    """Ask the features then the recommendations service to load `folder` now, and say what they serve."""
    key = settings.serving.api_key.get_secret_value()
    headers = {API_KEY_HEADER: key} if key else {}
    urls = {"features": settings.urls.features_store_url, "recommendations": settings.urls.recommendations_url}
    serving: dict[str, str] = {}
    with httpx.Client(timeout=RELOAD_TIMEOUT, headers=headers) as client:
        for name, url in urls.items():
            try:
                answer = client.post(f"{url}/admin/reload")
                serving[name] = (answer.json()["artifact_set"] if answer.status_code == 200
                                 else f"still the old set: {answer.json().get('detail', answer.status_code)}")
            except (httpx.HTTPError, ValueError, KeyError) as error:
                serving[name] = f"unknown ({type(error).__name__}: {error})"
    if all(name == folder.name for name in serving.values()):
        print(f"The services now serve it: {describe(folder)}. The page shows it after its next answer.")
    else:
        print("Not every service switched to it: " + "; ".join(f"{name}: {state}" for name, state in serving.items()))
