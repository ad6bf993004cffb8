"""`python -m musicrec catalog --add DIR`: add new tracks to the current artifact set (no pipeline run).

The running services switch to the new set by hot reload (`[serving] reload_interval`, or POST
/admin/reload); see `musicrec.pipeline.catalog_update`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from musicrec.settings import Settings


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--add", type=Path, required=True, metavar="DIR",
                        help="folder with the new tracks in the course's format: tracks.parquet and "
                             "catalog_names.parquet")
    parser.add_argument("--names", type=Path, default=None, metavar="DIR",
                        help="raw folder whose catalog_names.parquet names what the update does not "
                             "(default: [paths] raw, when it has one)")
    parser.add_argument("--artifacts", type=Path, default=None,
                        help="current-set pointer to update (default: [paths] artifacts)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from musicrec.pipeline.catalog_update import add_tracks

    artifacts = args.artifacts or settings.paths.artifacts
    update = add_tracks(artifacts, args.add, args.names or settings.paths.raw)
    if update.set_name is None:
        print(f"nothing added: the catalogue has all {update.already_known} tracks of {args.add} already")
        return 0
    known = f" ({update.already_known} known already, left as they were)" if update.already_known else ""
    print(f"added {len(update.added)} tracks{known}; {artifacts} -> {update.set_name}; the services switch "
          "to it by hot reload")
    return 0
