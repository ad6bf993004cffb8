"""The choice of the published list with a held-out slice against cross-fitting -> bench/results/crossfit.md

    python -m bench.crossfit run --label LABEL [--from LABEL] [--scale small]
        [--shapes course playlists] [--seed 42] [--root data/bench/crossfit]
    python -m bench.crossfit render [--labels before after] [--root data/bench/crossfit]
        [--out bench/results/crossfit.md]

`run` generates the built-in data of each shape once (as `python -m musicrec data` does) and runs the
pipeline with the settings of `config.ini` on it, keeping `<root>/<label>/<shape>.json`: the ranker
report's choice and counts, NDCG@10 on the test period of the published list, the ranker, the
fusion and the best source, and each stage's wall and CPU seconds. `--from LABEL` copies that
label's work folder (prepare, split and tune done) and runs the stages from `ranker` on, so two
labels made from the same one choose among sources fit with the same settings (the settings search
is bounded by time: two searches may pick different settings, and the comparison would measure
them instead). The script reads the reports of the code before cross-fitting (`held_out_users`)
and after (`judged_users`, `folds`), so the same file runs in a checkout of either:

    (checkout of the older code) python -m bench.crossfit run --label base
    (checkout of the older code) python -m bench.crossfit run --label before --from base
    (this checkout)              python -m bench.crossfit run --label after --from base
    python -m bench.crossfit render

Run each `run` through `../shared/quiet` for figures you quote; `render` puts the labels side by side.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from musicrec import schema
from musicrec.datasets.scales import get_scale
from musicrec.datasets.shapes import SHAPE_NAMES
from musicrec.datasets.synthetic import generate
from musicrec.pipeline.runner import STAGES, run_pipeline
from musicrec.settings import load_settings

LATER_STAGES = tuple(list(STAGES)[list(STAGES).index("ranker"):])


def run_shape(scale: str, shape: str, seed: int, root: Path, label: str,
              source: str | None) -> dict[str, Any]:
    """One pipeline run on the shape (all stages, or from `ranker` on in a copy of `source`'s work)."""
    raw = root / "raw" / shape / scale
    if not (raw / schema.INTERACTIONS_FILE).exists():
        generate(raw, get_scale(scale, shape), seed)
    folder = root / label / shape
    if folder.exists():
        shutil.rmtree(folder)
    stages: tuple[str, ...] = tuple(STAGES)
    if source is not None:
        shutil.copytree(root / source / shape / "work", folder / "work")
        stages = LATER_STAGES
    load = os.getloadavg()[0]
    timings = run_pipeline(raw, folder / "artifacts", folder / "work", load_settings().pipeline,
                           stages=stages)
    metrics: dict[str, Any] = json.loads((folder / "artifacts" / schema.METRICS_FILE).read_text())
    return summary(metrics, timings, load, os.getloadavg()[0])


def summary(metrics: dict[str, Any], timings: list[dict[str, Any]], load_before: float,
            load_after: float) -> dict[str, Any]:
    ranker, models = metrics["validation"]["ranker"], metrics["models"]
    best = metrics["published_vs_best_source"]["best_source"]
    versus = {**metrics["models_vs_best_source"], "published": metrics["published_vs_best_source"]}
    test = {name: {"ndcg@10": models[name]["ndcg@10"], **versus.get(name, {})}
            for name in ("published", "ranker", "fusion", best) if name in models}
    return {
        "published": metrics["published"], "best_source": best, "loss": ranker["loss"],
        "folds": ranker.get("folds"),
        "judged_users": ranker.get("judged_users", ranker.get("held_out_users")),
        "learning_users": ranker.get("learning_users"), "positives": ranker.get("positives"),
        "validation_ndcg@10": ranker["validation_ndcg@10"], "compared": ranker["compared"],
        "catboost_seconds": ranker.get("catboost_seconds"), "fusion_seconds": ranker.get("fusion_seconds"),
        "skipped": ranker.get("skipped"), "test_users": metrics["split"]["evaluated_users"], "test": test,
        "stages": {timing["stage"]: {"seconds": timing["seconds"], "cpu_seconds": timing["cpu_seconds"]}
                   for timing in timings},
        "load_average": [round(load_before, 2), round(load_after, 2)],
    }


def render(root: Path, labels: list[str]) -> str:
    lines = ["# Cross-fitting the ranker: the choice on every user with validation listens", ""]
    for shape in SHAPE_NAMES:
        found = {label: json.loads((root / label / f"{shape}.json").read_text())
                 for label in labels if (root / label / f"{shape}.json").exists()}
        if not found:
            continue
        lines += [f"## Shape `{shape}`", "", "| | " + " | ".join(found) + " |",
                  "|---|" + "---:|" * len(found)]
        lines += [f"| {row} | " + " | ".join(cell(entry, row) for entry in found.values()) + " |"
                  for row in ROWS]
        lines.append("")
    return "\n".join(lines) + "\n"


def _test(name_of: str) -> Any:
    def value(entry: dict[str, Any]) -> str:
        name = entry["best_source"] if name_of == "best source" else name_of
        found = entry["test"].get(name)
        if found is None:
            return ""
        paired = (f" ({found['difference']:+.4f} ± {found['standard_error']:.4f})"
                  if "difference" in found and name != entry["best_source"] else "")
        return f"{found['ndcg@10']:.4f}{paired}"
    return value


def _compared(name: str) -> Any:
    def value(entry: dict[str, Any]) -> str:
        found = entry["compared"].get(name)
        if found is None:
            return ""
        taken = found.get("taken", found["difference"] > found["standard_error"])
        return (f"{found['difference']:+.4f} ± {found['standard_error']:.4f} vs {found['against']}"
                f"{' (taken)' if taken else ''}")
    return value


def _choice_ndcg(entry: dict[str, Any]) -> str:
    names = (f"ranker:{entry['loss']}", "fusion", entry["best_source"])
    return " / ".join(f"{entry['validation_ndcg@10'].get(name, 0.0):.4f}" for name in names)


def _seconds(stage: str) -> Any:
    keys = ("seconds", "cpu_seconds")
    return lambda entry: " / ".join(f"{entry['stages'][stage][key]:.1f}" for key in keys)


ROWS: dict[str, Any] = {
    "published": lambda entry: entry["published"],
    "choice judged on": lambda entry: (
        f"{entry['judged_users']:,} users, out of fold ({entry['folds']} folds)" if entry["folds"]
        else f"{entry['judged_users']:,} held-out users"),
    "published ranker learnt from: users / positives": lambda entry: (
        f"{entry['learning_users']:,} / {entry['positives']:,}"),
    "choice NDCG@10: ranker / fusion / best source": _choice_ndcg,
    "choice: fusion": _compared("fusion"),
    "choice: ranker": _compared("ranker"),
    "test users": lambda entry: f"{entry['test_users']:,}",
    "test NDCG@10: published (vs best source)": _test("published"),
    "test NDCG@10: ranker": _test("ranker"),
    "test NDCG@10: fusion": _test("fusion"),
    "test NDCG@10: best source": lambda entry: f"{entry['best_source']} {_test('best source')(entry)}",
    "CatBoost fits, s": lambda entry: (", ".join(f"{name} {seconds:.1f}" for name, seconds
                                                 in entry["catboost_seconds"].items())
                                       if entry["catboost_seconds"] else "(not recorded)"),
    "fusion searches, s": lambda entry: f"{entry['fusion_seconds']:.1f}" if entry["fusion_seconds"] else "",
    "ranker stage wall / CPU s": _seconds("ranker"),
    "evaluate wall / CPU s": _seconds("evaluate"),
    "refit wall / CPU s": _seconds("refit"),
    "ranker to publish wall / CPU s": lambda entry: " / ".join(
        f"{sum(entry['stages'][stage][key] for stage in LATER_STAGES):.1f}"
        for key in ("seconds", "cpu_seconds")),
    "load average before / after": lambda entry: " / ".join(str(value) for value in entry["load_average"]),
}


def cell(entry: dict[str, Any], row: str) -> str:
    return str(ROWS[row](entry))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("run", "render"))
    parser.add_argument("--label", default="after")
    parser.add_argument("--labels", nargs="+", default=["before", "after"], help="render: the columns")
    parser.add_argument("--from", dest="source", default=None)
    parser.add_argument("--scale", default="small")
    parser.add_argument("--shapes", nargs="+", default=list(SHAPE_NAMES), choices=SHAPE_NAMES)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--root", type=Path, default=Path("data/bench/crossfit"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/crossfit.md"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if args.action == "render":
        args.out.write_text(render(args.root, args.labels))
        print(args.out.read_text())
        return
    for shape in args.shapes:
        found = run_shape(args.scale, shape, args.seed, args.root, args.label, args.source)
        (args.root / args.label / f"{shape}.json").write_text(json.dumps(found, indent=1))
        print(json.dumps(found, indent=1))


if __name__ == "__main__":
    main()
