"""Write the replay report: markdown tables (bench/results/replay.md) and a HitRate@k plot (PNG).

A plain replay (for example `make replay`) rewrites the results but keeps the tuning section of
the previous report, since tuning is a separate, longer run (`--tune`) and its table is the
evidence behind the defaults in config.ini.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from musicrec import schema
from musicrec.api.strategies import BLENDED, OFFLINE
from musicrec.replay.compare import SettingRow
from musicrec.replay.listen_metrics import METRICS, Estimate
from musicrec.replay.runner import ReplayResult
from musicrec.replay.scores import LIFT_K, GroupScores, latency_ms
from musicrec.replay.tuning import TuningRow, Variant

TUNING_HEADER = "## Tuning"
CAPS_HEADER = "## Cap per artist"
ARMS_HEADER = "## A/B arms"
SECTIONS = (CAPS_HEADER, ARMS_HEADER, TUNING_HEADER)  # in the order a report holds them, after the results


@dataclass(frozen=True)
class RunInfo:
    """How the report was made, printed at its top so a reader can reproduce it."""

    command: str
    artifacts: Path
    when: str
    settings: Variant
    max_listens: int
    seed: int
    max_per_artist: int = 0
    experiment: str = ""


def _lists_kind(folder: Path) -> str:
    if folder.name == schema.EVALUATION_DIR:
        return "made by models that never saw the test period"
    return "the served lists, which knew the test period: offline hits are not meaningful"


def _fmt(estimate: Estimate, digits: int = 4) -> str:
    return f"{estimate.value:.{digits}f} [{estimate.low:.{digits}f}, {estimate.high:.{digits}f}]"


def _signed(estimate: Estimate) -> str:
    return f"{estimate.value:+.4f} [{estimate.low:+.4f}, {estimate.high:+.4f}]"


def _lift_line(group: GroupScores) -> str:
    offline = group.values[(OFFLINE.name, "HitRate", LIFT_K)]
    blended = group.values[(BLENDED.name, "HitRate", LIFT_K)]
    lift = group.lift
    assert lift is not None
    verdict = "yes" if lift.low > 0 else ("no: worse" if lift.high < 0 else "no: within the interval")
    return (f"| {group.group} | {group.users} | {group.listens} | {_fmt(offline)} | {_fmt(blended)} | "
            f"{_signed(lift)} | {verdict} |")


def lift_table(groups: list[GroupScores]) -> list[str]:
    lines = [f"| group | users | listens | offline HitRate@{LIFT_K} | blended HitRate@{LIFT_K} | "
             "blended − offline (paired) | blended better? |", "|---|---:|---:|---:|---:|---:|---|"]
    return lines + [_lift_line(group) for group in groups if group.lift is not None and group.users]


def metrics_table(group: GroupScores, strategies: tuple[str, ...], ks: tuple[int, ...]) -> list[str]:
    lines = ["| strategy | metric | " + " | ".join(f"@{k}" for k in ks) + " |",
             "|---|---|" + "---:|" * len(ks)]
    for strategy in strategies:
        for metric in METRICS:
            cells = " | ".join(_fmt(group.values[(strategy, metric, k)]) for k in ks)
            lines.append(f"| {strategy} | {metric} | {cells} |")
    return lines


def latency_table(result: ReplayResult) -> list[str]:
    lines = ["| strategy | mean ms | p50 ms | p95 ms | p99 ms | degraded answers |", "|---|---:|---:|---:|---:|---:|"]
    for column, (strategy, row) in enumerate(latency_ms(result).items()):
        lines.append(f"| {strategy} | {row['mean']:.2f} | {row['p50']:.2f} | {row['p95']:.2f} | "
                     f"{row['p99']:.2f} | {int(result.degraded[column])} |")
    return lines


def tuning_table(rows: list[TuningRow], sample_note: str) -> list[str]:
    lines = [TUNING_HEADER, "", sample_note, "",
             "| recent listens | merge | blend | filter heard | blended HitRate@10 | blended NDCG@10 | "
             "online HitRate@10 | blended − offline HitRate@10 | blended − course rule HitRate@10 |",
             "|---:|---|---|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        v = row.variant
        lines.append(
            f"| {v.online_history} | {v.online_merge.label} | {v.blend.label} | "
            f"{'yes' if v.filter_heard else 'no'} | {_fmt(row.blended)} | {_fmt(row.blended_ndcg)} | "
            f"{_fmt(row.online)} | {_signed(row.lift)} | "
            f"{_signed(row.vs_course) if row.vs_course else '–'} |")
    return lines


def settings_table(header: str, setting: str, baseline: str, rows: list[SettingRow], note: str) -> list[str]:
    """A comparison of settings (`replay.compare`): one row each, the paired difference to the first."""
    lines = [header, "", note, "",
             f"| {setting} | blended HitRate@10 | blended NDCG@10 | artist diversity@10 | "
             f"HitRate@10 − {baseline} (paired) |", "|---|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row.label} | {_fmt(row.hit_rate)} | {_fmt(row.ndcg)} | {_fmt(row.diversity, 3)} | "
                     f"{_signed(row.vs_baseline) if row.vs_baseline else '–'} |")
    return lines + [""]


def previous_section(path: Path, header: str) -> list[str]:
    """A section of an existing report (to its end or the next `##` section it does not own), to carry
    over into a report made without the option that makes it (--caps, --arms, --tune)."""
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    start = text.find(header)
    if start < 0:
        return []
    ends = [text.find(other, start + len(header)) for other in SECTIONS if other != header]
    end = min([position for position in ends if position >= 0], default=len(text))
    return text[start:end].rstrip("\n").splitlines() + [""]


def previous_tuning(path: Path) -> list[str]:
    """The tuning section of an existing report, to carry over into a report made without --tune."""
    return previous_section(path, TUNING_HEADER)[:-1]


def render(
    info: RunInfo, result: ReplayResult, groups: list[GroupScores], ks: tuple[int, ...], plot_name: str,
    tuning: list[str],
) -> str:
    sample, v = result.sample, info.settings
    lines = [
        "# Replay evaluation: what online blending adds", "",
        f"Made {info.when} by `{info.command}` ({result.mode} mode, {result.seconds:.0f} s).",
        f"Lists replayed: `{info.artifacts}` ({_lists_kind(info.artifacts)}); test period from "
        f"{sample.test_start}. Sample (seed {info.seed}): "
        f"{len(sample)} users with test listens, their first {info.max_listens} test listens each in time "
        f"order ({sample.listens} listens). The events store starts empty, so a user's first replayed "
        "listen has no online part.",
        f"Serving options: online_history={v.online_history}, online_merge={v.online_merge.label}, "
        f"blend={v.blend.label}, filter_heard={str(v.filter_heard).lower()}, "
        f"max_per_artist={info.max_per_artist}.",
        "Metrics are means over listens of whether (and where) the track played next was in the list asked "
        "for just before; intervals are 95% bootstrap intervals over users (1000 resamples); the lift is "
        "bootstrapped paired.", "",
        f"## Blended vs offline, HitRate@{LIFT_K}", "", *lift_table(groups), "",
        f"![HitRate@k per strategy]({plot_name})", "",
    ]
    for group in groups:
        if group.users:
            lines += [f"## {group.group}: {group.users} users, {group.listens} listens", "",
                      *metrics_table(group, result.strategies, ks), ""]
    lines += ["## Latency per call", "",
              "As the replay saw it" + (" over HTTP (sequential per user; timings are noisy on a shared "
                                         "2-core machine)." if result.mode == "http" else
                                         " in process (no HTTP): the data plane's own cost."), "",
              *latency_table(result), ""]
    return "\n".join(lines + tuning) + "\n"


def plot(groups: list[GroupScores], strategies: tuple[str, ...], ks: tuple[int, ...], path: Path) -> None:
    """One panel per group: HitRate@k per strategy, with the bootstrap intervals as error bars."""
    shown = [group for group in groups if group.users]
    figure, axes = plt.subplots(1, len(shown), figsize=(5 * len(shown), 4), sharey=True, squeeze=False)
    for axis, group in zip(axes[0], shown):
        for strategy in strategies:
            values = [group.values[(strategy, "HitRate", k)] for k in ks]
            axis.errorbar(ks, [e.value for e in values], capsize=3, marker="o", label=strategy,
                          yerr=[[e.value - e.low for e in values], [e.high - e.value for e in values]])
        axis.set_title(f"{group.group}\n({group.users} users, {group.listens} listens)", fontsize=9)
        axis.set_xlabel("k")
        axis.set_xticks(list(ks))
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("HitRate@k of the next listen")
    axes[0][0].legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_report(
    path: Path, info: RunInfo, result: ReplayResult, groups: list[GroupScores], ks: tuple[int, ...],
    tuning_rows: list[TuningRow] | None = None, cap_rows: list[SettingRow] | None = None,
    arm_rows: list[SettingRow] | None = None,
) -> Path:
    """Write the markdown report and its PNG next to it; returns the PNG's path."""
    plot_path = path.with_suffix(".png")
    diversity = ("Artist diversity@10: the share of distinct main artists among an answer's 10 tracks, "
                 "averaged over answers.")
    if cap_rows is not None:
        note = (f"Made {info.when} by `{info.command}`: each setting of `[serving] max_per_artist` replays "
                f"the {cap_rows[0].users} users above ({cap_rows[0].listens} listens) in process, blended "
                f"lists of 10, the other serving options as above. {diversity}")
        caps = settings_table(CAPS_HEADER, "max_per_artist", "no cap (0)", cap_rows, note)
    else:
        caps = previous_section(path, CAPS_HEADER)
    if arm_rows is not None:
        note = (f"Made {info.when} by `{info.command}`: each arm of the experiment `{info.experiment}` (its "
                f"serving options over [serving]) replays all the {arm_rows[0].users} users above "
                f"({arm_rows[0].listens} listens) in process, not only those the hash gives it, blended lists "
                f"of 10; the first arm is the baseline. {diversity}")
        arms = settings_table(ARMS_HEADER, "arm", arm_rows[0].label, arm_rows, note)
    else:
        arms = previous_section(path, ARMS_HEADER)
    if tuning_rows is not None:
        tuned = tuning_rows[0].users, tuning_rows[0].listens
        note = (f"Made {info.when} by `{info.command}`: every variant replays the same {tuned[0]} users "
                f"({tuned[1]} listens) in process, drawn apart from the users above so that the defaults "
                "chosen here are judged on other users; best blended HitRate@10 first. The course rule is "
                "3 recent listens, merge max, blend alternate, no extra filter; its difference to each variant is "
                "paired (same users). With 1 recent listen, max and sum merge are the same.")
        tuning = tuning_table(tuning_rows, note)
    else:
        tuning = previous_tuning(path)
    plot(groups, result.strategies, ks, plot_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(info, result, groups, ks, plot_path.name, caps + arms + tuning), encoding="utf-8")
    return plot_path
