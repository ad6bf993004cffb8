"""Similar tracks that know the order of listening: quality and cost -> bench/results/sequential.md

    python -m bench.sequential quality [--scale small] [--shapes course playlists] [--work DIR]
    python -m bench.sequential cost [--scale small medium] [--work DIR]

`quality`: for each shape, the built-in data (generated unless the work folder has it) through the
whole pipeline with `config.ini`'s settings (MUSICREC_* variables apply), then metrics.json's
`similar` section: each candidate's next-listen HitRate@10 on the target window (the choice) and on
the test period, the settings searched and what was chosen.

`cost`: for each scale (course shape), prepare and split, then what the sequential similar tracks
add, part by part, wall and CPU seconds and peak RSS: the next listens of the target window, the
follow counts of the validation queries (the largest window), the search and the choice, and the
follow counts and neighbours of every track at the serve history (what the refit adds when a
sequential candidate wins). ALS is fit with few factors and iterations: its cost is not what is
measured, only its neighbours of the validation queries. Run both through `../shared/quiet` for
figures you quote.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from musicrec import schema
from musicrec.datasets.scales import get_scale
from musicrec.datasets.shapes import SHAPE_NAMES
from musicrec.datasets.synthetic import generate
from musicrec.pipeline import similar
from musicrec.pipeline.context import StageContext
from musicrec.pipeline.runner import _reset_peak_rss, cpu_seconds, peak_rss_bytes, run_pipeline
from musicrec.pipeline.sequential import next_listens
from musicrec.pipeline.sources import SourceContext
from musicrec.pipeline.sources.als import AlsParams, AlsSource
from musicrec.pipeline.split import TARGET
from musicrec.pipeline.workspace import Workspace
from musicrec.settings import load_settings

FULL_LISTENS = 222_000_000


def raw_of(root: Path, shape: str, scale: str) -> Path:
    raw = root / shape / scale / "raw"
    if not (raw / schema.INTERACTIONS_FILE).exists():
        generate(raw, get_scale(scale, shape), 42)
    return raw


def quality(scale: str, shape: str, root: Path) -> dict[str, Any]:
    """metrics.json's similar section after a whole pipeline run on the shape."""
    folder = root / shape / scale
    timings = run_pipeline(raw_of(root, shape, scale), folder / "artifacts", folder / "work",
                           load_settings().pipeline)
    report: dict[str, Any] = json.loads((folder / "artifacts" / schema.METRICS_FILE).read_text())["similar"]
    report["evaluate_seconds"] = next(t["seconds"] for t in timings if t["stage"] == "evaluate")
    return report


def render_quality(shape: str, report: dict[str, Any]) -> list[str]:
    lines = [f"### Shape `{shape}`", ""]
    if report.get("unavailable"):
        return [*lines, f"ALS neighbours only: {report['unavailable']}", ""]
    settings = report["sequential"]
    lines += [(f"Chosen: **{report['chosen']}** (sequential setting window {settings['window']:g}, decay "
               f"{settings['decay']:g}, damping {settings['damping']:g}; merge weight {report['merge_weight']:g}). "
               f"Validation on {report['validation_pairs']:,} consecutive pairs of the target window (settings "
               f"searched on {report['search_pairs']:,} others), "
               f"test on {report['test_pairs']:,} of the test period."), "",
              "| candidate | validation HitRate@10 | against | difference | standard error | test HitRate@10 |",
              "|---|---:|---|---:|---:|---:|"]
    for name, value in report["validation"].items():
        compared = report["compared"].get(name)
        paired = (f"{compared['against']} | {compared['difference']:+.4f} | {compared['standard_error']:.4f}"
                  if compared else " | | ")
        lines.append(f"| {name} | {value:.4f} | {paired} | {report['test'].get(name, float('nan')):.4f} |")
    searched = ", ".join(f"w{int(entry['window'])}/d{entry['decay']:g}/p{entry['damping']:g} "
                         f"{entry['hit_rate@10']:.4f}" for entry in report["searched"])
    merges = ", ".join(f"{weight}: {value:.4f}" for weight, value in report["merge_weights"].items())
    return [*lines, "",
            f"Sequential settings searched (window/decay/damping: HitRate@10 on the search pairs): {searched}.",
            f"Merge weights: {merges}. Seconds: {report['seconds']}; evaluate stage {report['evaluate_seconds']} s.",
            ""]


def measured(parts: dict[str, dict[str, float]], name: str, action: Callable[[], Any]) -> Any:
    """Run `action`, keeping its wall and CPU seconds and peak RSS under `name`."""
    _reset_peak_rss()
    started, cpu = time.perf_counter(), cpu_seconds()
    result = action()
    parts[name] = {"wall": round(time.perf_counter() - started, 2), "cpu": round(cpu_seconds() - cpu, 2),
                   "peak_gib": round(peak_rss_bytes() / 1024**3, 2)}
    return result


def cost(scale: str, root: Path) -> dict[str, Any]:
    folder = root / "course" / scale
    settings = load_settings().pipeline
    work = Workspace(folder / "work")
    timings = run_pipeline(raw_of(root, "course", scale), folder / "artifacts", work.root, settings,
                           stages=("prepare", "split"))
    context = StageContext(folder / "raw", work, settings, folder / "artifacts")
    history = work.load_history("fit")
    content = context.item_content(history.items)
    als = AlsSource(AlsParams(factors=32, iterations=3), SourceContext(settings, content))
    als.fit(history)
    sequence = work.load_sequence()
    assert sequence is not None
    parts: dict[str, dict[str, float]] = {}
    pairs = measured(parts, "next listens of the target window",
                     lambda: next_listens(sequence, TARGET, settings.similar.chunk_listens))
    maker = similar.SimilarMaker(als, history, content, sequence, TARGET, settings.similar,
                                 settings.similar_per_item)
    report = measured(parts, "the choice (queries' ALS neighbours, follow counts, search)",
                      lambda: similar.choose(maker, pairs, np.random.default_rng(0)))
    serve = work.load_history("serve")
    full = similar.SimilarMaker(als, serve, content, sequence, None, settings.similar, settings.similar_per_item)
    params = similar.params_of(report)
    every = measured(parts, f"every track's sequential neighbours at the serve history ({params.label()})",
                     lambda: full.every_sequential(params))
    listens = int(sequence.starts[-1])
    return {"scale": scale, "listens": listens, "pairs": len(pairs), "rows": len(every),
            "split_seconds": next(t["seconds"] for t in timings if t["stage"] == "split"),
            "parts": parts, "choice_parts": report.seconds, "chosen": report.chosen}


def render_cost(results: list[dict[str, Any]]) -> list[str]:
    lines = ["| scale | listens | part | wall s | CPU s | peak RSS GiB | wall projected to full size (by listens) |",
             "|---|---:|---|---:|---:|---:|---:|"]
    for result in results:
        factor = FULL_LISTENS / result["listens"]
        for name, part in result["parts"].items():
            lines.append(f"| {result['scale']} | {result['listens']:,} | {name} | {part['wall']:.2f} | "
                         f"{part['cpu']:.2f} | {part['peak_gib']:.2f} | {part['wall'] * factor:.0f} |")
    lines.append("")
    for result in results:
        lines.append(f"- {result['scale']}: {result['pairs']:,} next-listen pairs in the target window, "
                     f"{result['rows']:,} similar-track rows of every track at the serve history; the choice's "
                     f"parts {result['choice_parts']}; split stage {result['split_seconds']} s.")
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("quality", "cost"))
    parser.add_argument("--scale", nargs="+", default=["small"])
    parser.add_argument("--shapes", nargs="+", default=list(SHAPE_NAMES), choices=SHAPE_NAMES)
    parser.add_argument("--work", type=Path, default=Path("data/bench/sequential"))
    args = parser.parse_args()
    if args.what == "quality":
        lines = []
        for shape in args.shapes:
            lines += render_quality(shape, quality(args.scale[0], shape, args.work))
    else:
        lines = render_cost([cost(scale, args.work) for scale in args.scale])
    print("\n".join(lines))


if __name__ == "__main__":
    main()
