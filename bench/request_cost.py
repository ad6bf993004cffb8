"""What one request costs the services' own code, in process: CPU and (with valgrind) instructions.

    python -m bench.request_cost [--requests 3000] [--instructions] [--variants as-built,...] [--out FILE]

The three apps are built as the services build them, on small synthetic artifacts
(bench.synthetic_artifacts; a lookup costs the same at any size) and a fresh SQLite events store,
with the recommendations service's two dependencies in process (the replay's in-memory ones), and
each route is called straight through ASGI: no network, no uvicorn, no HTTP client. So the figures
are the apps' share of an answer, which is what routing and handler changes move, and they are
steady enough to compare two commits. Instructions come from callgrind: one run per variant,
dumping its counters at each boundary between measured phases (`--dump-before=getppid`).

Variants switch off one serving decision each, to show what it is worth today:
`fastapi-routes` (FastAPI's own APIRoute instead of LeanRoute), `router-loop` (Starlette's
route loop instead of FixedPathDispatch, the service's routes first) and `docs-first-loop` (the
route loop with FastAPI's documentation routes first, as an app lists them unless moved).
Writes bench/results/request_cost.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from musicrec import schema
from musicrec.settings import PROJECT_ROOT, load_settings

DEFAULT_OUT = PROJECT_ROOT / "bench" / "results" / "request_cost.md"
VARIANTS = ("as-built", "fastapi-routes", "router-loop", "docs-first-loop")
USERS, ITEMS, LISTENERS, WARMUP = 20_000, 20_000, 1000, 200
# route name -> (app, method, path); query or body made per request from the known ids
ROUTES = {
    "recommendations /health": ("recommendations", "GET", "/health"),
    "/recommendations_default": ("recommendations", "GET", "/recommendations_default"),
    "/recommendations_offline": ("recommendations", "GET", "/recommendations_offline"),
    "/recommendations (blended, dependencies in process)": ("recommendations", "GET", "/recommendations"),
    "features /similar_items": ("features", "GET", "/similar_items"),
    "features /similar_items_batch (3 tracks)": ("features", "POST", "/similar_items_batch"),
    "events /get": ("events", "GET", "/get"),
}


def apply_variant(variant: str) -> None:
    """Switch one decision off before the apps are imported (their routers are made at import)."""
    from fastapi.routing import APIRoute

    from musicrec.api import factory

    # Both swap a name the factory imported, which the type checker rightly calls private.
    if variant == "fastapi-routes":
        factory.LeanRoute = APIRoute  # type: ignore[attr-defined, assignment]
    elif variant == "router-loop":
        factory.dispatch_fixed_paths = lambda router: None  # type: ignore[attr-defined]
    elif variant == "docs-first-loop":
        factory.dispatch_fixed_paths = lambda router: None  # type: ignore[attr-defined]
        factory.service_routes_first = lambda app: None


async def call(app: Any, method: str, path: str, query: str = "", body: bytes = b"") -> int:
    """One request through the app's ASGI interface; returns the status."""
    headers = [(b"host", b"bench")]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
             "query_string": query.encode(), "headers": headers, "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 80)}
    status = 0
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def request_maker(route: str, users: list[int], tracks: list[int]) -> Callable[[int], tuple[str, bytes]]:
    """The query string and body of the n-th request of `route`."""
    path = ROUTES[route][2]
    if path in ("/recommendations_offline", "/recommendations", "/get"):
        return lambda n: (f"user_id={users[n % len(users)]}", b"")
    if path == "/similar_items":
        return lambda n: (f"item_id={tracks[n % len(tracks)]}", b"")
    if path == "/similar_items_batch":
        return lambda n: ("", json.dumps({"item_ids": tracks[n % 900: n % 900 + 3], "k": 10}).encode())
    return lambda n: ("", b"")


async def measure_routes(folder: Path, work: Path, requests: int) -> dict[str, float]:
    """CPU microseconds per request of every route; os.getppid() marks each measured phase."""
    from musicrec.api import events_app, features_app, recommendations_app
    from musicrec.replay.inprocess import InMemoryListens, InMemorySimilar
    from musicrec.serving.artifact_reading import load_similar

    settings = load_settings(environ={"MUSICREC_PATHS__ARTIFACTS": str(folder),
                                      "MUSICREC_EVENTS__SQLITE_PATH": str(work / "events.sqlite3"),
                                      "MUSICREC_SERVING__RELOAD_INTERVAL": "0"})  # no polls counted
    users = pq.read_table(folder / schema.RECOMMENDATIONS_FILE, columns=[schema.USER_ID]).column(0)
    users = sorted(set(users.to_pylist()))[:LISTENERS]
    tracks = pq.read_table(folder / schema.SIMILAR_FILE, columns=[schema.ITEM_ID_1]).column(0)
    tracks = sorted(set(tracks.to_pylist()))[:LISTENERS]
    listens = InMemoryListens(settings.events.max_per_user)
    apps = {
        "recommendations": recommendations_app.create_app(
            # the page's routes, whose events need an async store, are not measured here
            settings, listens, InMemorySimilar(load_similar(folder))),  # type: ignore[arg-type]
        "features": features_app.create_app(settings),
        "events": events_app.create_app(settings),
    }
    cpu: dict[str, float] = {}
    async with AsyncExitStack() as running:
        for app in apps.values():
            await running.enter_async_context(app.router.lifespan_context(app))
        for n, user in enumerate(users):
            for listen in range(3):
                item = tracks[(n + listen) % len(tracks)]
                listens.put(user, item)
                assert await call(apps["events"], "POST", "/put", f"user_id={user}&item_id={item}") == 200
        for route, (app_name, method, path) in ROUTES.items():
            app, make = apps[app_name], request_maker(route, users, tracks)
            for n in range(WARMUP):
                query, body = make(n)
                assert await call(app, method, path, query, body) == 200, route
            os.getppid()  # callgrind dumps here: the phase before is set-up and warm-up
            started = time.process_time()
            for n in range(requests):
                query, body = make(n)
                await call(app, method, path, query, body)
            cpu[route] = (time.process_time() - started) / requests * 1e6
            os.getppid()  # ... and here: the phase before is the measured requests
    return cpu


def child(args: argparse.Namespace) -> None:
    apply_variant(args.variant)
    print(json.dumps(asyncio.run(measure_routes(args.artifacts, args.work, args.requests))))


def run_child(variant: str, folder: Path, work: Path, requests: int, valgrind: bool) -> dict[str, float]:
    """CPU us per request (plain run) or instructions per request (under callgrind) of each route."""
    command = [sys.executable, "-m", "bench.request_cost", "--child", "--variant", variant,
               "--artifacts", str(folder), "--work", str(work), "--requests", str(requests)]
    dumps = work / f"callgrind-{variant}"
    if valgrind:
        command = ["valgrind", "--tool=callgrind", "--dump-before=getppid", "--dump-instr=no",
                   f"--callgrind-out-file={dumps}", *command]
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=PROJECT_ROOT,
                          env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    cpu = json.loads(done.stdout.strip().splitlines()[-1])
    if not valgrind:
        return cpu
    totals = [_dump_total(work / f"{dumps.name}.{index}") for index in range(1, 2 * len(ROUTES) + 1)]
    return {route: totals[2 * position + 1] / requests for position, route in enumerate(cpu)}


def _dump_total(path: Path) -> int:
    match = re.search(r"^(?:summary|totals): (\d+)", path.read_text(), re.MULTILINE)
    assert match, f"no instruction total in {path}"
    return int(match.group(1))


def render(results: dict[str, dict[str, dict[str, float]]], args: argparse.Namespace, commit: str) -> str:
    variants = list(results)
    header = "| route | " + " | ".join(
        f"{variant} {unit}" for variant in variants for unit in ("CPU us", "k instructions")
        if unit == "CPU us" or args.instructions) + " |"
    lines = [
        "# Request cost in process: the apps' own share of an answer", "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on commit {commit} by "
        f"`{' '.join(['python -m bench.request_cost', *sys.argv[1:]])}`.",
        f"Synthetic artifacts ({USERS:,} users, {ITEMS:,} tracks), {args.requests:,} requests per route "
        f"after {WARMUP} of warm-up, called through ASGI without network or uvicorn (see the module "
        "docstring). CPU is noisy on a shared machine; instructions (callgrind) are not.", "",
        header, "|---|" + "---:|" * (header.count("|") - 2),
    ]
    for route in ROUTES:
        cells = []
        for variant in variants:
            cells.append(f"{results[variant]['cpu'][route]:.0f}")
            if args.instructions:
                cells.append(f"{results[variant]['instructions'][route] / 1000:.0f}")
        lines.append(f"| {route} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="measured requests per route")
    parser.add_argument("--instructions", action="store_true", help="also count instructions (valgrind)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {VARIANTS}")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", default="as-built", help=argparse.SUPPRESS)
    parser.add_argument("--artifacts", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0
    if args.instructions and shutil.which("valgrind") is None:
        parser.error("--instructions needs valgrind (Debian package valgrind)")
    from bench.synthetic_artifacts import generate

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=PROJECT_ROOT).stdout.strip() or "unknown"
    results: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="request-cost-") as temporary:
        folder = Path(temporary) / "artifacts"
        generate(folder, USERS, ITEMS, int(ITEMS * 0.96))
        for variant in args.variants.split(","):
            if variant not in VARIANTS:
                parser.error(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
            print(f"{variant}: CPU", file=sys.stderr)
            work = Path(tempfile.mkdtemp(dir=temporary))
            results[variant] = {"cpu": run_child(variant, folder, work, args.requests, valgrind=False)}
            if args.instructions:
                print(f"{variant}: instructions (callgrind, a few minutes)", file=sys.stderr)
                work = Path(tempfile.mkdtemp(dir=temporary))
                results[variant]["instructions"] = run_child(variant, folder, work, args.requests // 3,
                                                             valgrind=True)
    args.out.write_text(render(results, args, commit), encoding="utf-8")
    print(args.out.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
