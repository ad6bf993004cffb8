"""Benchmark of the event stores at full size: `python -m bench.event_store [--users N]`.

Fills a SQLite store and a Redis store (a real redis-server in a temp dir) with `--users` users of
`[events] max_per_user` listens each (default: the real data's 1.37M users), then measures what the
events service needs: opening the store (with its start-up log line), durable puts and reads of the
latest 10 listens, from 1 and 4 threads. Writes `bench/results/event_store.md`.

The fill is bulk (SQL in one transaction; Redis pipelines) to save time; the stored rows are exactly
what `put` writes. Figures are noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import redis
from tqdm import tqdm

from bench.event_puts import SECTION as HTTP_SECTION  # written by bench.event_puts, kept here
from musicrec.cluster.redis_server import running_redis_server
from musicrec.serving.event_store import EventStore
from musicrec.serving.redis_events import KEY_PREFIX, RedisEventStore, encode_listen
from musicrec.serving.sqlite_events import SqliteEventStore
from musicrec.settings import PROJECT_ROOT, get_settings

logger = logging.getLogger("bench.event_store")
RESULTS = PROJECT_ROOT / "bench" / "results" / "event_store.md"
FILL_BATCH_USERS = 10_000
GET_K = 10


def _batches(users: int) -> Iterator[range]:
    for start in tqdm(range(0, users, FILL_BATCH_USERS), desc="fill", unit="batch"):
        yield range(start, min(start + FILL_BATCH_USERS, users))


def fill_sqlite(path: Path, users: int, per_user: int) -> None:
    """Rows as `put` would leave them: seq 1..N per user, item ids and times made up."""
    store = SqliteEventStore(path, per_user)  # creates the table
    store.close()
    with sqlite3.connect(path, isolation_level=None) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("BEGIN")
        for batch in _batches(users):
            rows = ((user, seq, (user * 31 + seq) % 1_000_000, 1.7e9 + seq) for user in batch
                    for seq in range(1, per_user + 1))
            connection.executemany("INSERT INTO listens VALUES (?, ?, ?, ?)", rows)
        connection.execute("COMMIT")
    connection.close()


def fill_redis(url: str, users: int, per_user: int) -> None:
    client = redis.Redis.from_url(url)
    for batch in _batches(users):
        pipe = client.pipeline(transaction=False)
        for user in batch:
            pipe.rpush(f"{KEY_PREFIX}{user}",
                       *[encode_listen((user * 31 + seq) % 1_000_000, 1.7e9 + seq) for seq in range(per_user, 0, -1)])
        pipe.execute()
    client.close()


def rate(calls: int, threads: int, call: Callable[[int], object]) -> tuple[float, float, float]:
    """Calls per second, p50 and p99 latency (ms) of `call(i)` for i in range(calls) over `threads`."""
    latencies = np.empty(calls)

    def timed(i: int) -> None:
        started = time.perf_counter()
        call(i)
        latencies[i] = time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(timed, range(calls)))
    elapsed = time.perf_counter() - started
    p50, p99 = np.percentile(latencies, [50, 99]) * 1000
    return calls / elapsed, float(p50), float(p99)


PUT_LABELS = {"sqlite": "put (fsync per commit)", "redis": "put (applied; AOF fsync every s)"}


def measure(name: str, open_store: Callable[[], EventStore], users: int, puts: int, gets: int) -> list[str]:
    started = time.perf_counter()
    store = open_store()
    description = store.describe()
    opened = time.perf_counter() - started
    rng = np.random.default_rng(0)
    random_users = rng.integers(0, users, size=max(puts, gets)).tolist()
    lines = [f"| {name} | open + describe | {opened:.2f} s | | | {description} |"]
    for threads in (1, 4):
        per_s, p50, p99 = rate(puts, threads, lambda i: store.put(random_users[i], i))
        lines.append(f"| {name} | {PUT_LABELS[name]}, {threads} threads | {per_s:,.0f}/s | {p50:.2f} | {p99:.2f} | |")
        per_s, p50, p99 = rate(gets, threads, lambda i: store.get(random_users[i], GET_K))
        lines.append(f"| {name} | get k={GET_K}, {threads} threads | {per_s:,.0f}/s | {p50:.3f} | {p99:.3f} | |")
    store.close()
    logger.info("%s measured", name)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_370_000)
    parser.add_argument("--redis-users", type=int, default=None, help="default: --users")
    parser.add_argument("--puts", type=int, default=3_000)
    parser.add_argument("--gets", type=int, default=30_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    per_user = get_settings().events.max_per_user
    redis_users = args.redis_users or args.users
    rows: list[str] = []
    with tempfile.TemporaryDirectory(dir=PROJECT_ROOT / "data") as tmp:
        path = Path(tmp) / "events.sqlite3"
        started = time.perf_counter()
        fill_sqlite(path, args.users, per_user)
        logger.info("sqlite filled in %.1f s (%.0f MiB)", time.perf_counter() - started, path.stat().st_size / 2**20)
        rows += measure("sqlite", lambda: SqliteEventStore(path, per_user), args.users, args.puts, args.gets)
        redis_dir = Path(tmp) / "redis"
        redis_dir.mkdir()
        with running_redis_server(redis_dir, appendfsync="everysec") as server:
            url = server.url
            started = time.perf_counter()
            fill_redis(url, redis_users, per_user)
            logger.info("redis filled in %.1f s", time.perf_counter() - started)
            rows += measure("redis", lambda: RedisEventStore(url, per_user), redis_users, args.puts, args.gets)
    report = [
        "# Event stores: in-process benchmark",
        "",
        f"`python -m bench.event_store --users {args.users} --redis-users {redis_users}` on {platform.node()}"
        f" ({time.strftime('%Y-%m-%d %H:%M')}): SQLite with {args.users:,} users and Redis with"
        f" {redis_users:,} users, {per_user} listens each; random users; latencies in ms."
        f" A shared 2-core machine (load average {os.getloadavg()[0]:.1f} at the end): figures are noisy.",
        "",
        "| store | operation | rate | p50 ms | p99 ms | note |",
        "| --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    previous = RESULTS.read_text() if RESULTS.exists() else ""
    http_section = previous[previous.index(HTTP_SECTION):] if HTTP_SECTION in previous else ""
    RESULTS.write_text("\n".join(report) + ("\n" + http_section if http_section else ""))
    print("\n".join(report))


if __name__ == "__main__":
    main()
