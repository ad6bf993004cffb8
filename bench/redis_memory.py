"""Redis memory per user of the events store: `python -m bench.redis_memory [--users 20000] [--listens 20]`.

Starts a private redis-server, fills `users` users with `listens` listens each exactly as the events
service writes them (`RedisEventStore.put`'s value format and key), and prints `used_memory` per
user, for sizing a Redis node (docs/operations.md).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import redis

from musicrec.cluster.redis_server import running_redis_server
from musicrec.serving.redis_events import KEY_PREFIX, encode_listen

BATCH_USERS = 500


def bytes_per_user(url: str, users: int, listens: int) -> float:
    client = redis.Redis.from_url(url)
    before = client.info("memory")["used_memory"]
    now = time.time()
    pipe = client.pipeline(transaction=False)
    for user in range(users):
        key = f"{KEY_PREFIX}{1_000_000 + user}"  # ids of real size
        for n in range(listens):
            pipe.lpush(key, encode_listen(10_000_000 + 37 * n, now + n))
        if user % BATCH_USERS == BATCH_USERS - 1:
            pipe.execute()
    pipe.execute()
    return (client.info("memory")["used_memory"] - before) / users


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--listens", type=int, default=20, help="per user: [events] max_per_user")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder, running_redis_server(Path(folder), appendfsync="everysec") as server:
        version = redis.Redis.from_url(server.url).info("server")["redis_version"]
        per_user = bytes_per_user(server.url, args.users, args.listens)
    print(f"Redis {version}: {per_user:,.0f} bytes per user with {args.listens} listens "
          f"({args.users:,} users); 1.37M users: {per_user * 1.37e6 / 2**30:.2f} GiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
