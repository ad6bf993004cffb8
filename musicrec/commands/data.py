"""`python -m musicrec data`: write realistic synthetic raw files in the course format."""

from __future__ import annotations

import argparse
from pathlib import Path

from musicrec.datasets.scales import SCALE_NAMES, get_scale
from musicrec.datasets.shapes import COURSE, SHAPE_NAMES
from musicrec.datasets.synthetic import generate
from musicrec.settings import Settings


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", choices=SCALE_NAMES, help="how much to generate (default: [data] scale)")
    parser.add_argument(
        "--shape",
        choices=SHAPE_NAMES,
        default=COURSE.name,
        help="what kind of data set: a course-like listening log with sessions, or playlists with many "
        "more tracks than users (default: %(default)s)",
    )
    parser.add_argument("--out", type=Path, help="folder for the three raw files (default: [paths] raw)")
    parser.add_argument(
        "--seed", type=int, help="random seed; the same seed gives the same files (default: [data] seed)"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    scale = get_scale(args.scale or settings.data.scale, args.shape)
    seed = settings.data.seed if args.seed is None else args.seed
    report = generate(args.out or settings.paths.raw, scale, seed)
    print(report.summary())
    return 0
