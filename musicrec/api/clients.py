"""HTTP clients for the events and features services, as the recommendations service uses them.

One pooled `aiohttp.ClientSession` per dependency, opened when the service starts and closed when it
stops: connections are reused instead of opened per request, and the timeouts from
`[serving] connect_timeout / request_timeout` bound how long a slow dependency can hold an answer.
Every failure (refused, timed out, an error status, an answer of the wrong shape) becomes one
`DependencyUnavailable`, so the caller has a single case to handle: answer degraded. A dependency
that keeps failing is skipped for a while (`musicrec.api.breaker`) instead of waited for each time.

aiohttp rather than httpx because a blended answer makes two calls and httpx's pure-Python pool
and parser cost several times aiohttp's CPU per call (figures: bench/results/serving-notes.md).
Each call's URL is written out whole and given to aiohttp as already encoded (`URL(..., encoded=True)`),
because joining a base URL and encoding a params dict is a noticeable share of a call that carries
two integers. Answers are parsed and checked in one step by pydantic (`validate_json` on the raw
bytes into the wire types), which is cheaper than `json.loads` and a Python loop over every number.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import aiohttp
from pydantic import TypeAdapter, ValidationError
from yarl import URL

from musicrec import schema
from musicrec.api.access import key_headers
from musicrec.api.breaker import CircuitBreaker, CircuitOpen
from musicrec.api.wire import PutResponse, RecentEvents, SimilarItemsBatchResponse
from musicrec.errors import DependencyUnavailable
from musicrec.runtime.server import KEEP_ALIVE_SECONDS
from musicrec.serving.blending import SimilarList
from musicrec.serving.history import LISTEN, EventKind, History
from musicrec.settings import ServingSettings

# Calls in flight to one dependency: a burst of requests queues here (untimed) instead of opening a
# connection per request, which overloaded the dependency and, on this service's busy event loop,
# made connects miss their timeout (bench/results/hardening.md).
POOL_SIZE = 64
# Idle pooled connections are closed sooner than the services close them, so a call never goes out
# on a connection the other side is just closing.
IDLE_CONNECTION_SECONDS = KEEP_ALIVE_SECONDS - 1

Decoded = TypeVar("Decoded")
Params = dict[str, int | str]


def _plain(value: int | str) -> str:
    """An integer, or a word of ASCII letters, as it goes in a URL unescaped."""
    if isinstance(value, str):
        if not (value.isascii() and value.isalpha()):
            raise ValueError(f"not a plain word: {value!r}")
        return value
    return str(int(value))

# The answers as the services send them (musicrec.api.wire); fields this service does not read are ignored.
RECENT_EVENTS = TypeAdapter(RecentEvents)
SIMILAR_BATCH = TypeAdapter(SimilarItemsBatchResponse)
PUT = TypeAdapter(PutResponse)


class ServiceClient:
    """A pooled client of one service; `call` returns its checked answer or raises DependencyUnavailable.

    Create it inside the running event loop (the app's lifespan) and `aclose` it at shutdown.
    """

    def __init__(self, name: str, base_url: str, serving: ServingSettings,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.base_url = base_url
        self._prefix = str(URL(base_url)).rstrip("/")  # e.g. http://127.0.0.1:8020
        # Only the dependency's own time counts: connecting, then waiting for its answer once the call
        # is sent. No `total`: it would also count the wait for a free pooled connection, so a busy
        # service would time out calls the dependency answers in a millisecond.
        self._timeout = aiohttp.ClientTimeout(sock_connect=serving.connect_timeout,
                                              sock_read=serving.request_timeout)
        connector = aiohttp.TCPConnector(limit=POOL_SIZE, keepalive_timeout=IDLE_CONNECTION_SECONDS)
        self._session = aiohttp.ClientSession(
            timeout=self._timeout, connector=connector, headers=key_headers(serving),
            trust_env=False,  # the trio talks directly over the local network, never via a proxy
        )
        self._breaker = CircuitBreaker(f"{name} service at {base_url}", serving.breaker_failures,
                                       serving.breaker_reset, clock)

    def _url(self, path: str, params: Params | None) -> URL:
        """Parameters are this module's names with integer values or plain words (an event's kind):
        nothing in them needs escaping."""
        url = f"{self._prefix}{path}"
        if params:
            url += "?" + "&".join(f"{name}={_plain(value)}" for name, value in params.items())
        return URL(url, encoded=True)

    async def call(
        self, path: str, answer: TypeAdapter[Decoded], *, params: Params | None = None,
        json: Any = None,
    ) -> Decoded:
        """POST to `path` and return its answer, parsed and checked against `answer`.

        While the dependency's circuit is open (it failed `[serving] breaker_failures` times in a
        row), this raises at once instead of waiting for another timeout.
        """
        try:
            self._breaker.before_call()
        except CircuitOpen as exc:
            raise DependencyUnavailable(f"{self._where(path)}: {exc}") from None
        try:
            checked = await self._call(path, answer, params, json)
        except DependencyUnavailable as exc:
            self._breaker.failed(exc.message)
            raise
        except BaseException:  # cancelled: says nothing about the dependency
            self._breaker.abandoned()
            raise
        self._breaker.succeeded()
        return checked

    async def _call(
        self, path: str, answer: TypeAdapter[Decoded], params: Params | None, json: Any
    ) -> Decoded:
        try:
            async with self._session.post(self._url(path, params), json=json) as response:
                body = await response.read()
            if response.status != 200:
                detail = body[:200].decode(errors="replace")
                raise DependencyUnavailable(f"{self._where(path)} answered {response.status}: {detail}")
            return answer.validate_json(body, strict=True)  # 1.0 is not a track id
        except ValidationError as exc:
            problem = _first_problem(exc)
            raise DependencyUnavailable(f"{self._where(path)} answered unexpectedly: {problem}") from exc
        except aiohttp.SocketTimeoutError as exc:
            raise DependencyUnavailable(f"{self._where(path)}: no answer within {self._timeout.sock_read:g} s "
                                        "([serving] request_timeout)") from exc
        except aiohttp.ConnectionTimeoutError as exc:
            raise DependencyUnavailable(f"{self._where(path)}: could not connect within "
                                        f"{self._timeout.sock_connect:g} s ([serving] connect_timeout)") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            problem = str(exc) or type(exc).__name__
            raise DependencyUnavailable(f"{self._where(path)}: {problem}") from exc

    def _where(self, path: str) -> str:
        return f"{self.name} service at {self.base_url}{path}"

    async def aclose(self) -> None:
        await self._session.close()


def _first_problem(error: ValidationError) -> str:
    """E.g. "events.0: Input should be a valid integer" (the rest are usually the same mistake)."""
    first = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]


class EventsClient(ServiceClient):
    """The events service: a user's latest events and dislikes."""

    def __init__(self, base_url: str, serving: ServingSettings,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__("events", base_url, serving, clock)

    async def history(self, user_id: int, k: int) -> History:
        """The user's latest `k` events (newest first, with their kinds) and every disliked track."""
        answer = await self.call("/get", RECENT_EVENTS, params={schema.USER_ID: user_id, "k": k})
        events = answer["events"]
        kinds = answer.get("kinds", [])
        if kinds and len(kinds) != len(events):
            raise DependencyUnavailable(f"events service at {self.base_url}/get answered {len(events)} "
                                        f"events with {len(kinds)} kinds")
        return History(events, kinds, frozenset(answer.get("disliked", ())))

    async def put(self, user_id: int, item_id: int, kind: EventKind = LISTEN) -> None:
        """Record that the user listened to (or skipped, or disliked) a track."""
        params: Params = {schema.USER_ID: user_id, schema.ITEM_ID: item_id}
        if kind != LISTEN:  # the course call stays as it was
            params["kind"] = kind
        await self.call("/put", PUT, params=params)


class FeaturesClient(ServiceClient):
    """The features service: similar tracks of several tracks in one call."""

    def __init__(self, base_url: str, serving: ServingSettings,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__("features", base_url, serving, clock)

    async def similar_batch(self, item_ids: list[int], k: int) -> list[SimilarList]:
        """For each track, in order: up to `k` similar tracks and their scores, best first (and for a
        new track, found by content, what each shares with it)."""
        batch = {"item_ids": item_ids, "k": k}
        answer = await self.call("/similar_items_batch", SIMILAR_BATCH, json=batch)
        entries = answer["items"]
        if len(entries) != len(item_ids):
            raise DependencyUnavailable("features service answered a batch of the wrong length")
        return [(entry["item_id_2"], entry["score"], entry["relations"]) if "relations" in entry
                else (entry["item_id_2"], entry["score"]) for entry in entries]
