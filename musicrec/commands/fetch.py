"""`python -m musicrec fetch`: download a published artifact set from S3 and verify its checksums.

Without --dest the set lands in a new folder under artifact_sets/ and becomes the current set
(the `[paths] artifacts` symlink switches to it); with --dest it is only downloaded there.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from musicrec.s3 import fetch, fetch_current
from musicrec.settings import Settings


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", default=None, help="version to fetch (default: LATEST)")
    parser.add_argument("--dest", type=Path, default=None,
                        help="download into this new folder instead of switching the current set")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.dest is not None:
        folder = fetch(settings.s3, args.dest, args.version)
        print(f"fetched into {folder}; checksums verified")
    else:
        folder = fetch_current(settings.s3, settings.paths.artifacts, args.version)
        print(f"fetched into {folder}; checksums verified; {settings.paths.artifacts} -> {folder.name}")
    return 0
