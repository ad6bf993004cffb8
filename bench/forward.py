"""One full fit per model: is a source brought forward as good as one fit again? -> bench/results/forward.md

    python -m bench.forward [--scale small] [--shapes course playlists] [--seed 42] [--tune-minutes 2]
        [--work DIR] [--out bench/results/forward.md]

For each data shape: generate the built-in data (unless it is in the work folder already), run the
pipeline's prepare, split and tune stages, then for every source fit it at the fit cutoff, bring it
forward to the eval cutoff (`CandidateSource.fit_forward`) and compare its lists on the test period
with a full fit at the eval cutoff: NDCG@10 of both, the paired per-user difference and its standard
error, and the seconds each took. Run it through `../shared/quiet` for figures you quote.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from musicrec.datasets.scales import get_scale
from musicrec.datasets.shapes import SHAPE_NAMES
from musicrec.datasets.synthetic import generate
from musicrec.pipeline.context import StageContext
from musicrec.pipeline.runner import run_pipeline
from musicrec.pipeline.workspace import Workspace
from musicrec.pipeline.world import ForwardCheck, compare_forward
from musicrec.settings import PipelineSettings, load_settings


def checks(scale: str, shape: str, seed: int, tune_minutes: float, root: Path) -> list[ForwardCheck]:
    raw, work = root / shape / scale / "raw", root / shape / scale / "work"
    if not (raw / "interactions.parquet").exists():
        generate(raw, get_scale(scale, shape), seed)
    params = load_settings().pipeline.model_copy(update={"tune_minutes": tune_minutes, "seed": seed})
    run_pipeline(raw, root / shape / scale / "artifacts", work, params, stages=("prepare", "split", "tune"))
    context = StageContext(raw, Workspace(work), params, root / shape / scale / "artifacts")
    return [compare_forward(context, name) for name in params.sources]


def render(scale: str, seed: int, params: PipelineSettings, results: dict[str, list[ForwardCheck]],
           command: str) -> str:
    lines = ["# One fit per model: brought forward against fit again", "",
             f"Command: `{command}` (through `../shared/quiet`). Scale `{scale}`, seed {seed}; each source "
             f"with the settings the tune stage chose; brought forward by a fit on the longer history, or "
             f"for ALS by {params.forward_iterations} warm-start iterations from the factors of the "
             "earlier cutoff. NDCG@10 on the test period of users known before it (up to "
             f"{params.evaluation_users:,}); difference = brought forward minus fit again, per user.", ""]
    for shape, found in results.items():
        lines += [f"## Shape `{shape}`", "",
                  "| source | users | brought forward | fit again | difference | standard error | "
                  "forward s | refit s |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {c.source} | {c.users:,} | {c.forward_ndcg:.4f} | {c.refit_ndcg:.4f} | {c.difference:+.4f} | "
                  f"{c.standard_error:.4f} | {c.forward_seconds:.2f} | {c.refit_seconds:.2f} |" for c in found]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="small")
    parser.add_argument("--shapes", nargs="+", default=list(SHAPE_NAMES), choices=SHAPE_NAMES)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--tune-minutes", type=float, default=2.0)
    parser.add_argument("--work", type=Path, default=Path("data/bench/forward"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/forward.md"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    results = {shape: checks(args.scale, shape, args.seed, args.tune_minutes, args.work) for shape in args.shapes}
    command = f"python -m bench.forward --scale {args.scale} --shapes {' '.join(args.shapes)} " \
              f"--seed {args.seed} --tune-minutes {args.tune_minutes:g}"
    params = load_settings().pipeline
    args.out.write_text(render(args.scale, args.seed, params, results, command) + "\n")
    print(args.out.read_text())


if __name__ == "__main__":
    main()
