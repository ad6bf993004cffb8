"""Time and memory of the data generator and of `prepare` at a given scale -> bench/results/generate.md.

    python -m bench.generate [--scales medium full] [--shape course] [--seed 42] [--work DIR]
        [--out bench/results/generate.md]

Each step runs as its own process (`python -m musicrec data ...`, then `prepare` on its output), so
its peak RSS is exactly that process's (`getrusage` of children). The report also measures the data
it made: row counts, file sizes and the realism figures the issue asks for (listens per track and per
user, the share of the top 1% of tracks, listens per month). At full size the
run holds /tmp/musicrec-heavy.lock, so heavy jobs on the shared machine take turns; do not wrap it
in `flock` (it would wait for itself).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from musicrec import schema
from musicrec.datasets.scales import SCALE_NAMES
from musicrec.datasets.shapes import COURSE, SHAPE_NAMES

HEAVY_LOCK = Path("/tmp/musicrec-heavy.lock")
GNU_TIME = "/usr/bin/time"  # Debian package `time`
PREPARE_SNIPPET = "import sys; from pathlib import Path; from musicrec.pipeline.prepare import prepare; " \
    "from musicrec.pipeline.workspace import Workspace; work = Workspace(Path(sys.argv[2])); " \
    "prepare(Path(sys.argv[1]), work.items_output(), work.events_output())"


@dataclass(frozen=True)
class Step:
    name: str
    seconds: float
    peak_rss_gib: float


@contextlib.contextmanager
def heavy_lock(scale: str) -> Iterator[None]:
    """Hold the shared heavy-job lock at full size (the other scales take about a minute or less)."""
    if scale != "full":
        yield
        return
    with open(HEAVY_LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def run_step(name: str, command: list[str]) -> Step:
    """Run one command under GNU time; its wall time and its own peak RSS.

    `wait4` from this process would not do: a child's peak RSS starts from its parent's at exec.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as peak_file:
        started = time.perf_counter()
        subprocess.run(
            [GNU_TIME, "-f", "%M", "-o", peak_file.name, *command],
            check=True,
            env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
        )
        seconds = time.perf_counter() - started
        peak_kib = int(peak_file.read().split()[-1])
    return Step(name, seconds, peak_kib / 2**20)


def _file_rows(folder: Path, names: tuple[str, ...]) -> list[str]:
    rows = []
    for name in names:
        path = folder / name
        size = path.stat().st_size / 2**20
        rows.append(f"| {name} | {pq.read_metadata(path).num_rows:,} | {size:,.1f} MiB |")
    return rows


def realism(raw_dir: Path) -> list[str]:
    """Figures of the generated listens, computed columnar (bincount over ids)."""
    tracks = pq.read_table(raw_dir / schema.TRACKS_FILE, columns=[schema.TRACK_ID]).column(0).to_numpy()
    listens = pq.read_table(raw_dir / schema.INTERACTIONS_FILE, columns=[schema.TRACK_ID, schema.USER_ID])
    per_id = np.bincount(listens.column(schema.TRACK_ID).to_numpy())
    per_track = np.sort(np.concatenate([per_id, [0]])[np.minimum(tracks, per_id.size)])
    per_user = np.bincount(listens.column(schema.USER_ID).to_numpy())
    per_user = per_user[per_user > 0]
    del listens
    days = pq.read_table(raw_dir / schema.INTERACTIONS_FILE, columns=[schema.STARTED_AT]).column(0)
    months = np.bincount(pc.month(days).to_numpy(), minlength=13)[1:]
    top = per_track[-max(per_track.size // 100, 1):]
    return [
        f"- listens per track (tracks.parquet, unplayed = 0): median {np.median(per_track):.0f}, "
        f"mean {per_track.mean():.0f}, max {per_track.max():,}; never played {np.mean(per_track == 0):.1%}",
        f"- the top 1% of tracks hold {top.sum() / per_track.sum():.1%} of listens; the 10 biggest have "
        f"{', '.join(f'{value:,}' for value in per_track[-10:][::-1])}",
        f"- listens per user: median {np.median(per_user):.0f}, mean {per_user.mean():.0f}, "
        f"p90 {np.quantile(per_user, 0.9):.0f}, max {per_user.max():,}",
        f"- listens per month (Jan..Dec): {', '.join(f'{value:,}' for value in months)}",
    ]


def render(scale: str, shape: str, seed: int, steps: list[Step], raw_dir: Path, prepared_dir: Path) -> str:
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    lines = [
        f"## Scale `{scale}`, shape `{shape}` (seed {seed})",
        "",
        f"Measured on {time.strftime('%Y-%m-%d %H:%M')} UTC, {os.cpu_count()} cores; load average at the "
        f"end: {load}.",
        "",
        "| step | wall time | peak RSS |",
        "|---|---|---|",
        *(
            f"| {step.name} | {step.seconds / 60:.1f} min ({step.seconds:.0f} s) "
            f"| {step.peak_rss_gib:.2f} GiB |"
            for step in steps
        ),
        "",
        "| file | rows | size |",
        "|---|---|---|",
        *_file_rows(raw_dir, schema.RAW_FILES),
        *_file_rows(prepared_dir, (schema.ITEMS_FILE, schema.EVENTS_FILE)),
        "",
        "Realism of the generated listens:",
        "",
        *realism(raw_dir),
        "",
    ]
    return "\n".join(lines)


def measure(scale: str, shape: str, seed: int, work: Path) -> str:
    """Generate and prepare one scale in separate processes; its report section."""
    raw_dir, prepared_dir = work / shape / scale / "raw", work / shape / scale / "prepared"
    with heavy_lock(scale):
        steps = [
            run_step(
                "generate (`python -m musicrec data`)",
                [sys.executable, "-m", "musicrec", "data", "--scale", scale, "--shape", shape,
                 "--seed", str(seed), "--out", str(raw_dir)],
            ),
            run_step("prepare (`musicrec.pipeline.prepare`)",
                     [sys.executable, "-c", PREPARE_SNIPPET, str(raw_dir), str(prepared_dir)]),
        ]
    return render(scale, shape, seed, steps, raw_dir, prepared_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", nargs="+", choices=SCALE_NAMES, default=["full"])
    parser.add_argument("--shape", choices=SHAPE_NAMES, default=COURSE.name)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work", type=Path, default=Path("data/bench/generate"), help="where the data goes")
    parser.add_argument("--out", type=Path, default=Path("bench/results/generate.md"))
    args = parser.parse_args(argv)
    header = [
        "# Data generation and prepare: time, peak memory, realism",
        "",
        f"`python -m bench.generate --scales {' '.join(args.scales)} --shape {args.shape} --seed {args.seed}"
        f" --out {args.out}`. Each step is its "
        "own process; peak RSS is that process's. The machine is shared with other developers' jobs, so "
        "wall times are noisy (heavy jobs take turns through the lock, light ones do not).",
        "",
    ]
    sections = [measure(scale, args.shape, args.seed, args.work) for scale in args.scales]
    report = "\n".join(header + sections)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
