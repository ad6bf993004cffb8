"""`python -m musicrec replay`: replay test-period listens, measure hit rates, write the report."""

from __future__ import annotations

import argparse
import shlex
import sys
from datetime import date
from pathlib import Path

from musicrec.api.strategies import BLENDED, OFFLINE
from musicrec.replay.compare import CAPS
from musicrec.replay.evaluate import ReplayOptions, run_evaluation
from musicrec.replay.listen_metrics import BOOTSTRAP_RESAMPLES, DEFAULT_KS
from musicrec.replay.scores import LIFT_K
from musicrec.settings import Settings

DEFAULT_REPORT = Path("bench") / "results" / "replay.md"  # of the working directory (in a checkout: its own)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=int, default=500, help="users to sample (default %(default)s)")
    parser.add_argument("--mode", choices=("http", "inprocess"), default="http",
                        help="through the trio over HTTP, or the same code in this process (default %(default)s)")
    parser.add_argument("--k", type=int, nargs="+", default=list(DEFAULT_KS), metavar="K",
                        help="cut-offs of the metrics (default %(default)s); lists are asked up to the largest")
    parser.add_argument("--artifacts", type=Path, default=None,
                        help="artifact set to replay (default: [paths] artifacts)")
    parser.add_argument("--max-listens", type=int, default=100,
                        help="test listens replayed per user, the earliest first (default %(default)s)")
    parser.add_argument("--seed", type=int, default=42, help="sample and bootstrap seed (default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=2,
                        help="users replayed at once in HTTP mode (default %(default)s)")
    parser.add_argument("--resamples", type=int, default=BOOTSTRAP_RESAMPLES,
                        help="bootstrap resamples (default %(default)s)")
    parser.add_argument("--private-trio", action="store_true",
                        help="HTTP mode: start a private trio (temporary events store) even if one is running")
    parser.add_argument("--tune", action="store_true",
                        help="also replay every combination of the tuned [serving] options in process, "
                        "on other users than the report's")
    parser.add_argument("--caps", type=int, nargs="*", default=None, metavar="N",
                        help="also compare settings of [serving] max_per_artist (default values: "
                        f"{' '.join(map(str, CAPS))}) in process on the same users: blended HitRate@10 and "
                        "artist diversity@10 of lists of 10")
    parser.add_argument("--arms", action="store_true",
                        help="also compare the arms of the experiment in [experiments] in process, each on all "
                        "the same users: blended HitRate@10 with intervals, paired to the first arm")
    parser.add_argument("--tune-users", type=int, default=None,
                        help="users to tune on (default: as many as --users)")
    parser.add_argument("--test-start", type=date.fromisoformat, default=None,
                        help="first test day YYYY-MM-DD (default: the split in metrics.json)")
    parser.add_argument("--out", type=Path, default=DEFAULT_REPORT, help="report path (default %(default)s)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    options = ReplayOptions(
        artifacts=args.artifacts or settings.paths.artifacts, users=args.users, mode=args.mode,
        ks=tuple(sorted(set(args.k))), max_listens=args.max_listens, seed=args.seed,
        concurrency=args.concurrency, resamples=args.resamples, tune=args.tune,
        tune_users=args.tune_users or args.users, private_trio=args.private_trio, out=args.out,
        command="python -m musicrec " + shlex.join(sys.argv[1:]), test_start=args.test_start,
        caps=None if args.caps is None else tuple(args.caps or CAPS), arms=args.arms,
    )
    outcome = run_evaluation(options, settings)
    for group in outcome.groups:
        if group.lift is not None and group.users:
            offline = group.values[(OFFLINE.name, "HitRate", LIFT_K)]
            blended = group.values[(BLENDED.name, "HitRate", LIFT_K)]
            print(f"{group.group:<30} offline HitRate@{LIFT_K} {offline.value:.4f}  blended {blended.value:.4f}  "
                  f"lift {group.lift.value:+.4f} [{group.lift.low:+.4f}, {group.lift.high:+.4f}]")
    for kind, rows in (("max_per_artist", outcome.caps), ("arm", outcome.arms)):
        for row in rows or []:
            print(f"{kind} {row.label}: blended HitRate@10 {row.hit_rate.value:.4f} "
                  f"[{row.hit_rate.low:.4f}, {row.hit_rate.high:.4f}]  artist diversity@10 {row.diversity.value:.3f}")
    print(f"report: {options.out}  plot: {outcome.plot}")
    return 0
