"""`python -m musicrec <command>`: one entry point for data, pipeline, serving and tools.

Each command lives in its own module under `musicrec.commands` with two functions,
`configure(parser)` and `run(args, settings) -> exit code`. Modules are imported only when their
command runs, so `python -m musicrec serve` never imports implicit or catboost.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from musicrec.errors import MusicRecError
from musicrec.settings import SettingsError, get_settings

COMMANDS: dict[str, str] = {
    "data": "Generate realistic raw data in the course format",
    "pipeline": "Run the offline pipeline: raw files -> artifacts and a quality report",
    "publish": "Upload an artifact set to S3",
    "fetch": "Download an artifact set from S3 and verify its checksums",
    "catalog": "Add new tracks to the current artifact set (similar tracks by content), without a pipeline run",
    "serve": "Start the three services and supervise them until Ctrl-C",
    "run": "Serve at once (a quick artifact set first if there is none), tune the set in the background",
    "replay": "Replay test-period listens through the services and measure hit rates",
}


def _command_module(name: str):
    return importlib.import_module(f"musicrec.commands.{name}")


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m musicrec", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = next((arg for arg in argv if not arg.startswith("-")), None)
    for name, help_text in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if name == chosen:  # configure only the command that runs: keeps imports light
            _command_module(name).configure(sub)
    return parser


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    configure_logging()
    try:
        settings = get_settings()
        return int(_command_module(args.command).run(args, settings) or 0)
    except (SettingsError, MusicRecError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
