"""`python -m musicrec publish`: upload the current artifact set to S3 (`[s3]` in config.ini)."""

from __future__ import annotations

import argparse
from pathlib import Path

from musicrec.s3 import publish
from musicrec.settings import Settings


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--artifacts", type=Path, default=None,
                        help="artifact set folder (default: [paths] artifacts, the current set)")
    parser.add_argument("--version", default=None,
                        help="name to publish under (default: the set's own timestamp name)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    folder = args.artifacts or settings.paths.artifacts
    version = publish(folder, settings.s3, args.version)
    prefix = "/".join(p for p in (settings.s3.prefix.strip("/"), version) if p)
    print(f"published {folder} as s3://{settings.s3.bucket}/{prefix}/ (LATEST -> {version})")
    return 0
