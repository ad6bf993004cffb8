"""The shared event store: one Redis list per user, for several events-service replicas.

Each user's listens are a list at `musicrec:listens:<user_id>`, newest at the head. `put` runs one
small Lua script, which Redis executes atomically: it reads the server's clock, pushes the listen
and trims the list, so no reader ever sees more than N listens, the order is the order the server
applied the puts, and the times follow that order (never earlier than the listen before; a time
taken by each client before sending would not). An element is the text "<item_id>:<listened_at>"
for a listen and "<item_id>:<listened_at>:<kind>" for a skip or a dislike, readable with
`redis-cli LRANGE`. A dislike is also added, in the same script, to the sorted set
`musicrec:dislikes:<user_id>` (scored by time, trimmed to the latest `max_dislikes`).

Durability is the Redis server's: `put` returns once the server has applied the write; with
`appendonly yes` it survives a server restart (within `appendfsync`'s window). Clients share one
thread-safe connection pool.

A store outlives its server: while Redis is down every call fails at once with a 503 (and
`unreachable` says why, for `/ready`); once it answers again, the pool replaces its dead
connections on the next call, so the service recovers without a restart of its own. A failed call
is never retried: a `put` whose answer was lost may have been stored, and sending it again could
store it twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar, cast

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from musicrec.errors import DependencyUnavailable
from musicrec.serving.event_store import Listen
from musicrec.serving.history import LISTEN, EventKind

KEY_PREFIX = "musicrec:listens:"
DISLIKES_PREFIX = "musicrec:dislikes:"
CONNECT_TIMEOUT_SECONDS = 2.0
SOCKET_TIMEOUT_SECONDS = 5.0


# KEYS[1]: the user's list, KEYS[2]: the user's dislikes; ARGV: item id, the listen's time ("" for
# now), listens to keep, the element's kind suffix ("" for a listen, ":skip", ":dislike"), dislikes to
# keep. "Now" is the server's clock, at least the time of the listen at the head (the previous one).
_PUT_SCRIPT = """
local listened_at = tonumber(ARGV[2])
if not listened_at then
    local clock = redis.call('TIME')
    listened_at = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
    local head = redis.call('LINDEX', KEYS[1], 0)
    if head then
        local previous = tonumber(string.match(head, '^[^:]*:([^:]*)'))
        if previous and previous > listened_at then listened_at = previous end
    end
end
redis.call('LPUSH', KEYS[1], ARGV[1] .. ':' .. string.format('%.6f', listened_at) .. ARGV[4])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[3]) - 1)
if ARGV[4] == ':dislike' then
    redis.call('ZADD', KEYS[2], listened_at, ARGV[1])
    redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[5]) - 1)
end
return 1
"""


def encode_listen(item_id: int, listened_at: float, kind: EventKind = LISTEN) -> str:
    return f"{item_id}:{listened_at!r}{_suffix(kind)}"


def _suffix(kind: EventKind) -> str:
    """Nothing for a listen (the elements written before kinds existed are listens), else ":<kind>"."""
    return "" if kind == LISTEN else f":{kind}"


def decode_listen(value: bytes) -> Listen:
    item_id, listened_at, *kind = value.split(b":")
    return Listen(item_id=int(item_id), listened_at=float(listened_at),
                  kind=kind[0].decode() if kind else LISTEN)  # type: ignore[arg-type]  # `put` writes only kinds


class RedisEventStore:
    """Latest `max_per_user` listens per user in the Redis server at `url`."""

    quick_reads: ClassVar[bool] = False  # `get` is a network round trip: keep it off the event loop

    def __init__(self, url: str, max_per_user: int, max_dislikes: int = 1000) -> None:
        self.url = url
        self.max_per_user = max_per_user
        self.max_dislikes = max_dislikes
        self._pool = redis.ConnectionPool.from_url(
            url, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS, socket_timeout=SOCKET_TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), retries=0),  # never send a put twice (see the module docstring)
        )
        self._client = redis.Redis(connection_pool=self._pool)
        self._put = self._client.register_script(_PUT_SCRIPT)
        with self._guard("reach"):
            self._client.ping()  # fail at start-up, not at the first request

    def put(self, user_id: int, item_id: int, listened_at: float | None = None, kind: EventKind = LISTEN) -> None:
        keys = [f"{KEY_PREFIX}{user_id}", f"{DISLIKES_PREFIX}{user_id}"]
        given = "" if listened_at is None else repr(float(listened_at))
        with self._guard("store a listen in"):
            self._put(keys=keys, args=[item_id, given, self.max_per_user, _suffix(kind), self.max_dislikes])

    def get(self, user_id: int, k: int) -> list[Listen]:
        if k < 1:
            return []  # LRANGE 0 -1 would mean "everything"
        with self._guard("read listens from"):
            values = self._client.lrange(f"{KEY_PREFIX}{user_id}", 0, k - 1)
        return [decode_listen(value) for value in cast(list[bytes], values)]  # the pool does not decode

    def disliked(self, user_id: int) -> list[int]:
        with self._guard("read dislikes from"):
            values = self._client.zrevrange(f"{DISLIKES_PREFIX}{user_id}", 0, self.max_dislikes - 1)
        return [int(value) for value in cast(list[bytes], values)]  # members only: no scores asked for

    def describe(self) -> str:
        with self._guard("count users in"):
            users = sum(1 for _ in self._client.scan_iter(match=f"{KEY_PREFIX}*", count=10_000))
        return f"redis {self._safe_url()}: {users} users (keeping {self.max_per_user} listens per user)"

    def unreachable(self) -> str | None:
        try:
            with self._guard("reach"):
                self._client.ping()
        except DependencyUnavailable as error:
            return error.message
        return None

    def close(self) -> None:
        self._client.close()
        self._pool.disconnect()

    def _safe_url(self) -> str:
        """The URL without a password, for logs."""
        kwargs = self._pool.connection_kwargs
        return f"redis://{kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('db', 0)}"

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Turn an unreachable or failing server into a 503 with a message, not a 500."""
        try:
            yield
        except redis.RedisError as error:
            raise DependencyUnavailable(
                f"cannot {action} the Redis event store at {self._safe_url()}: {error}") from error
