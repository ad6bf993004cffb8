"""Rank fusion beside the ranker and the sources, on the built-in data -> bench/results/fusion.md

    python -m bench.fusion [--scale small] [--shapes course playlists] [--seed 42] [--work DIR]
        [--out bench/results/fusion.md]

For each data shape: generate the built-in data (as `python -m musicrec data --scale S --shape X`
does, unless it is in the work folder already) and run the whole pipeline with the settings of
`config.ini`, then read its metrics.json: the fusion's learned weights and search, the choice on
the ranker's users judged out of fold, and NDCG@10 on the test period of every source, the fusion, the ranker
and the published list, with the paired per-user difference to the best source. Run it through
`../shared/quiet` for figures you quote.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

from musicrec import schema
from musicrec.datasets.scales import get_scale
from musicrec.datasets.shapes import SHAPE_NAMES
from musicrec.datasets.synthetic import generate
from musicrec.pipeline.runner import run_pipeline
from musicrec.settings import load_settings


def run(scale: str, shape: str, seed: int, root: Path) -> dict[str, Any]:
    """metrics.json of a whole pipeline run on the shape, with the seconds of each stage."""
    folder = root / shape / scale
    raw = folder / "raw"
    if not (raw / schema.INTERACTIONS_FILE).exists():
        generate(raw, get_scale(scale, shape), seed)
    timings = run_pipeline(raw, folder / "artifacts", folder / "work", load_settings().pipeline)
    report: dict[str, Any] = json.loads((folder / "artifacts" / schema.METRICS_FILE).read_text())
    report["seconds"] = {timing["stage"]: timing["seconds"] for timing in timings}
    return report


def render_shape(shape: str, report: dict[str, Any]) -> list[str]:
    ranker, models = report["validation"]["ranker"], report["models"]
    fusion = ranker["fusion"]
    best = report["published_vs_best_source"]["best_source"]
    versus = {**report["models_vs_best_source"], "published": report["published_vs_best_source"]}
    lines = [f"## Shape `{shape}`", ""]
    if fusion is None:
        return [*lines, f"No fusion learned: {ranker['skipped']}", ""]
    weights = ", ".join(f"{name} {weight:g}" for name, weight in fusion["weights"].items())
    lines += [f"Fusion learned on {fusion['learning_users']:,} users in {fusion['seconds']:.1f} s "
              f"({fusion['evaluations']} settings tried): weights {weights}; constant {fusion['constant']:g}. "
              f"Ranker stage {report['seconds']['ranker']:.0f} s in all.", "",
              f"Choice on {ranker['judged_users']:,} users of the target window, each judged out of fold "
              f"({ranker['folds']} folds): **{report['published']}**.", "",
              "| challenger | against | NDCG@10 difference | standard error |", "|---|---|---:|---:|"]
    lines += [f"| {name} | {entry['against']} | {entry['difference']:+.4f} | {entry['standard_error']:.4f} |"
              for name, entry in ranker["compared"].items()]
    lines += ["", f"Test period ({report['split']['evaluated_users']:,} users); difference to the best "
              f"source on it (`{best}`), per user:", "",
              "| model | out-of-fold NDCG@10 | test NDCG@10 | difference | standard error |",
              "|---|---:|---:|---:|---:|"]
    held = ranker["validation_ndcg@10"]
    for name in (*sorted(held.keys() & models.keys() - {"fusion", "ranker"},
                         key=lambda source: -models[source]["ndcg@10"]), "fusion", "ranker", "published"):
        if name not in models:
            continue
        validation = held.get(f"ranker:{ranker['loss']}" if name == "ranker" else name)
        shown = f"{validation:.4f}" if validation is not None else ""
        paired = versus.get(name)
        compared = (f"{paired['difference']:+.4f} | {paired['standard_error']:.4f}" if paired else " | ")
        lines.append(f"| {name} | {shown} | {models[name]['ndcg@10']:.4f} | {compared} |")
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="small")
    parser.add_argument("--shapes", nargs="+", default=list(SHAPE_NAMES), choices=SHAPE_NAMES)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work", type=Path, default=Path("data/bench/fusion"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/fusion.md"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    command = f"python -m bench.fusion --scale {args.scale} --shapes {' '.join(args.shapes)} --seed {args.seed}"
    lines = ["# Rank fusion beside the ranker and the sources", "",
             f"Command: `{command}` (through `../shared/quiet`). Scale `{args.scale}`, seed {args.seed}, the "
             "settings of `config.ini`. The fusion and the ranker are cross-fitted on the users of the target "
             "window (each fold scored by models learnt on the others); the choice is made on all of them, "
             "cheapest first (best source, fusion, ranker), by the rule of `scoring.choose`.", ""]
    for shape in args.shapes:
        lines += render_shape(shape, run(args.scale, shape, args.seed, args.work))
    args.out.write_text("\n".join(lines) + "\n")
    print(args.out.read_text())


if __name__ == "__main__":
    main()
