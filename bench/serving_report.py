"""The serving benchmark's figures, their targets (issue 4, "Performance") and the Markdown report.

Every figure is printed next to its target with PASS or FAIL, so the file answers "does the trio
meet its goals at full size on this machine" without reading the code. Figures without a target
(e.g. the online route) are shown for context.
"""

from __future__ import annotations

import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.serving_reload import ReloadFigures
from bench.serving_starts import StartComparison
from bench.wrk import LoadResult
from musicrec.settings import PROJECT_ROOT

# Issue 14: start-up no longer grows with the set (ready within 0.3 s of the same service on tiny
# data), and what a replica cannot share (RssAnon) stays small.
READY_OVER_TINY_TARGET_S = {"recommendations": 0.3, "features": 0.3}
RSS_ANON_TARGET_MIB = {"recommendations": 150.0, "features": 150.0}
P99_TARGET_MS = 25.0


@dataclass(frozen=True)
class StartFigures:
    service: str
    ready_s: float
    rss_after_load_mib: float
    rss_anon_after_load_mib: float
    rss_after_bench_mib: float
    rss_anon_after_bench_mib: float
    compared: StartComparison | None = None  # started alone on full and tiny sets


@dataclass(frozen=True)
class EndpointFigures:
    """One endpoint under load; `min_share` is its target share of `ceiling`'s requests/s."""

    label: str
    ids: str
    result: LoadResult
    server_cpu: dict[str, float]  # cores used per service during the run
    degraded: int | None = None  # answers marked degraded (recommendations routes only)
    online_empty: int | None = None  # answers whose online part was empty
    ceiling: str | None = None
    min_share: float | None = None


@dataclass
class Report:
    command: str
    parameters: list[str]
    arrangement: str
    load_before: str
    load_after: str
    starts: list[StartFigures] = field(default_factory=list)
    endpoints: list[EndpointFigures] = field(default_factory=list)
    reloads: list[ReloadFigures] = field(default_factory=list)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "**FAIL**"


def _start_rows(starts: list[StartFigures]) -> tuple[list[str], list[bool]]:
    rows, checks = [], []
    for start in starts:
        over_target = READY_OVER_TINY_TARGET_S.get(start.service)
        anon_target = RSS_ANON_TARGET_MIB.get(start.service)
        compared = start.compared
        ok = [compared is not None and compared.over_tiny_s <= over_target] if over_target else []
        ok += [start.rss_anon_after_load_mib <= anon_target] if anon_target else []
        checks += ok
        if compared is None:
            alone = "- | - | - | - | -"
        else:
            alone = (f"{compared.full_ready_s:.2f} | {compared.tiny_ready_s:.2f} | {compared.over_tiny_s:+.2f} "
                     f"| {f'<= {over_target:g}' if over_target else '-'} "
                     f"| {compared.full_cpu_s:.2f} / {compared.tiny_cpu_s:.2f}")
        rows.append(
            f"| {start.service} | {start.ready_s:.2f} | {alone} "
            f"| {start.rss_anon_after_load_mib:.0f} | {f'<= {anon_target:.0f}' if anon_target else '-'} "
            f"| {start.rss_after_load_mib:.0f} | {start.rss_anon_after_bench_mib:.0f} "
            f"| {start.rss_after_bench_mib:.0f} | {verdict(all(ok)) if ok else 'info'} |")
    return rows, checks


def _reload_rows(reloads: list[ReloadFigures]) -> tuple[list[str], list[bool]]:
    rows, checks = [], []
    for figures in reloads:
        target = RSS_ANON_TARGET_MIB.get(figures.service)
        ok = figures.rss_anon_after_mib <= target if target else True
        checks.append(ok)
        rows.append(f"| {figures.service} | {figures.seconds:.2f} | {figures.rss_anon_before_mib:.0f} "
                    f"| {figures.rss_anon_after_mib:.0f} | {f'<= {target:.0f}' if target else '-'} | {verdict(ok)} |")
    return rows, checks


def _endpoint_checks(figures: EndpointFigures, rates: dict[str, float]) -> tuple[str, list[bool]]:
    """The share-of-ceiling cell and the checks: p99, no errors, no degraded answers, the share."""
    result = figures.result
    checks = [result.p99_ms <= P99_TARGET_MS, result.errors == 0, not figures.degraded]
    if figures.ceiling is None:
        return "ceiling", checks
    share = result.rate / rates[figures.ceiling] if rates.get(figures.ceiling) else 0.0
    cell = f"{share:.0%}"
    if figures.min_share is not None:
        checks.append(share >= figures.min_share)
        cell += f" (>= {figures.min_share:.0%})"
    return cell, checks


def _endpoint_rows(endpoints: list[EndpointFigures]) -> tuple[list[str], list[bool]]:
    rates = {figures.label: figures.result.rate for figures in endpoints}
    rows, all_checks = [], []
    for figures in endpoints:
        result = figures.result
        share, checks = _endpoint_checks(figures, rates)
        all_checks += checks
        cpu = " · ".join(f"{name[:3]} {cores:.2f}" for name, cores in figures.server_cpu.items())
        cpu_ms = sum(figures.server_cpu.values()) / result.rate * 1000 if result.rate else 0.0
        counters = "-" if figures.degraded is None else f"{figures.degraded} / {figures.online_empty}"
        rows.append(
            f"| {figures.label} | {figures.ids} | {result.rate:,.0f} | {share} | {result.p50_ms:.1f} "
            f"| {result.p99_ms:.1f} | {result.max_ms:.0f} | {result.non_2xx} / {result.socket_errors} "
            f"| {counters} | {cpu} | {cpu_ms:.2f} | {verdict(all(checks))} |")
    return rows, all_checks


def ceiling_warning(endpoints: list[EndpointFigures]) -> list[str]:
    """A ceiling that other routes beat is not the cheapest route (e.g. a sync `/health` pays a
    thread-pool hop that async routes skip); the shares then flatter, and the reader must know."""
    rates = {figures.label: figures.result.rate for figures in endpoints}
    beaten = [figures.label for figures in endpoints
              if figures.ceiling and figures.result.rate > rates.get(figures.ceiling, float("inf"))]
    if not beaten:
        return []
    return ["", f"Note: {', '.join(beaten)} answered more requests/s than the `/health` ceiling: `/health`",
            "costs more per request than real routes there, so the shares above are flattered; compare CPU",
            "ms/req as well."]


def machine_facts() -> str:
    cpu_model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), platform.processor() or "unknown CPU")
    memory_gib = psutil.virtual_memory().total / 2**30
    return (f"{platform.node()}: {psutil.cpu_count()} CPUs ({cpu_model}), {memory_gib:.1f} GiB RAM, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}")


def code_version() -> str:
    """The commit measured, flagged when the working tree had changes (other developers' work)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True).stdout.strip()

    changed = git("status", "--porcelain", "--", "musicrec")
    dirty = " plus uncommitted changes in the working tree" if changed else ""
    return f"commit {git('rev-parse', '--short', 'HEAD') or 'unknown'}{dirty}"


def render(report: Report, started: str) -> str:
    start_rows, start_checks = _start_rows(report.starts)
    endpoint_rows, endpoint_checks = _endpoint_rows(report.endpoints)
    reload_rows, reload_checks = _reload_rows(report.reloads)
    checks = start_checks + endpoint_checks + reload_checks
    return "\n".join([
        "# Serving benchmark: the trio at full size under load",
        "",
        f"Measured {started} UTC on {code_version()} by `{report.command}` (reproduce with the same",
        "command; `make bench` runs it with the default arguments).",
        "",
        f"**{sum(checks)} of {len(checks)} checks pass.**",
        "",
        f"- Machine: {machine_facts()}. Shared with other developers: figures are noisy.",
        f"- Load average (1/5/15 min) before the load runs: {report.load_before};",
        f"  after: {report.load_after}.",
        *[f"- {line}" for line in report.parameters],
        f"- {report.arrangement}",
        "",
        "## Start-up and memory",
        "",
        "Ready = from process start to the first 200 from `/ready` (interpreter, imports, size checks,",
        "mapping the serving indexes; checksums are verified right after, in the background): first as",
        "the trio started for the load runs, then each service started alone, alternately on the full",
        "and on a tiny published set, best of N each (the least disturbed by other work on the machine),",
        "with the CPU seconds it used until ready. Anon = `RssAnon` of /proc/PID/status, the memory a",
        "replica cannot share; RSS adds the mapped files' pages it has touched, which live once in the",
        "page cache for every replica. Right after ready, and after all load runs.",
        "",
        "| service | ready in trio s | alone: full s | tiny s | over tiny s | target | CPU to ready full / tiny s "
        "| anon MiB | target | RSS MiB | anon after bench | RSS after bench | result |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *start_rows,
        "",
        "## Under load",
        "",
        f"Targets: p99 <= {P99_TARGET_MS:g} ms, no errors (non-2xx / socket), no degraded answers, and the",
        "share of the same server's `/health` requests/s where given. Degraded / empty-online are the",
        "service's own counters over the run. CPU = cores each service process used during the run;",
        "CPU ms/req = their sum per answered request, the figure least disturbed by other work on the",
        "machine. At a fixed concurrency of 16, latency follows throughput (Little's law: mean latency =",
        "16 / req/s), so a p99 of 25 ms needs at least ~640 req/s on that route, and any stall of the",
        "machine shows in p99.",
        "",
        "| endpoint | ids | req/s | of /health | p50 ms | p99 ms | max ms | errors | degraded / empty online "
        "| CPU (cores) | CPU ms/req | result |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *endpoint_rows,
        *ceiling_warning(report.endpoints),
        "",
        "## Hot reload",
        "",
        "After the load runs, the set pointer is switched to a new set (hard links to the same files) and",
        "`POST /admin/reload` asks each service to switch: its answer comes once every checksum of the",
        "files it maps is verified and the new set is mapped beside the old one. Anon = `RssAnon` before",
        "and after: a reload needs no second private copy.",
        "",
        "| service | reload s | anon before MiB | anon after MiB | target | result |",
        "| --- | --- | --- | --- | --- | --- |",
        *reload_rows,
        "",
    ])
