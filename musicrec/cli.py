"""`musicrec <command>` (or `python -m musicrec <command>`): data, pipeline, serving and tools.

Each command lives in its own module under `musicrec.commands` with two functions,
`configure(parser)` and `run(args, settings) -> exit code`. Modules are imported only when their
command runs, so `python -m musicrec serve` never imports implicit or catboost.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import logging.config
import os
import sys
from pathlib import Path
from types import ModuleType

from musicrec import __version__
from musicrec.errors import MusicRecError
from musicrec.logs import log_config
from musicrec.settings import CONFIG_ENV, LoggingSettings, SettingsError, find_config, get_settings

logger = logging.getLogger(__name__)

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


def _command_module(name: str) -> ModuleType:
    return importlib.import_module(f"musicrec.commands.{name}")


def _chosen_command(argv: list[str]) -> str | None:
    """The command named in `argv`: its first word that is neither an option nor `--config`'s value."""
    words = iter(argv)
    for arg in words:
        if arg == "--config":
            next(words, None)
        elif not arg.startswith("-"):
            return arg
    return None


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="musicrec", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"musicrec {__version__}")
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help=f"the config file (default: ${CONFIG_ENV}, else ./config.ini, else the packaged "
                             "defaults); the services started read it too")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = _chosen_command(argv)
    for name, help_text in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if name == chosen:  # configure only the command that runs: keeps imports light
            _command_module(name).configure(sub)
    return parser


def configure_logging(settings: LoggingSettings, command: str) -> None:
    """Every logger of the process in the `[logging]` format (musicrec.logs)."""
    logging.config.dictConfig(log_config(settings, service=command, everything=True))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    try:
        if args.config is not None:  # through the environment, so the processes started read it too
            os.environ[CONFIG_ENV] = str(args.config.resolve())
            get_settings.cache_clear()
        settings = get_settings()
        configure_logging(settings.logging, args.command)
        logger.info("settings from %s", find_config())
        return int(_command_module(args.command).run(args, settings) or 0)
    except (SettingsError, MusicRecError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
