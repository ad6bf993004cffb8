"""HTTP clients for the events and features services, as the recommendations service uses them.

One pooled `httpx.AsyncClient` per dependency, created when the service starts and closed when it
stops: connections are reused instead of opened per request, and the timeouts from
`[serving] connect_timeout / request_timeout` bound how long a slow dependency can hold an answer.
Every failure (refused, timed out, 5xx, an answer of the wrong shape) becomes one
`DependencyUnavailable`, so the caller has a single case to handle: answer degraded.
"""

from __future__ import annotations

from typing import Any

import httpx

from musicrec import schema
from musicrec.errors import DependencyUnavailable
from musicrec.settings import ServingSettings

Transport = httpx.AsyncBaseTransport | None  # None: the network; tests pass httpx.MockTransport
POOL_LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=32)


class ServiceClient:
    """A pooled client of one service; `call` returns its JSON answer or raises DependencyUnavailable."""

    def __init__(
        self,
        name: str,
        base_url: str,
        serving: ServingSettings,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url
        timeout = httpx.Timeout(serving.request_timeout, connect=serving.connect_timeout)
        # trust_env=False: the trio talks directly over the local network, never via HTTP(S)_PROXY.
        self._http = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, limits=POOL_LIMITS, transport=transport, trust_env=False
        )

    async def call(self, path: str, *, params: dict[str, Any] | None = None, json: Any = None) -> Any:
        try:
            response = await self._http.post(path, params=params, json=json)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            problem = str(exc) or type(exc).__name__
            raise DependencyUnavailable(f"{self.name} service at {self.base_url}{path}: {problem}") from exc

    async def aclose(self) -> None:
        await self._http.aclose()


def _numbers(answer: Any, field: str, service: ServiceClient, kinds: tuple[type, ...] = (int,)) -> list:
    """A list of numbers from an answer, or DependencyUnavailable: a wrong answer is as bad as none."""
    values = answer.get(field) if isinstance(answer, dict) else None
    if not isinstance(values, list) or not all(isinstance(value, kinds) for value in values):
        raise DependencyUnavailable(f"{service.name} service answered without a list of numbers in {field!r}")
    return values


class EventsClient(ServiceClient):
    """The events service: a user's latest listens."""

    def __init__(self, base_url: str, serving: ServingSettings, transport: Transport = None) -> None:
        super().__init__("events", base_url, serving, transport)

    async def recent(self, user_id: int, k: int) -> list[int]:
        """The user's latest `k` listened tracks, newest first."""
        answer = await self.call("/get", params={schema.USER_ID: user_id, "k": k})
        return _numbers(answer, "events", self)

    async def put(self, user_id: int, item_id: int) -> None:
        """Record that the user listened to a track (used by `test_service.py --add_online`)."""
        await self.call("/put", params={schema.USER_ID: user_id, schema.ITEM_ID: item_id})


class FeaturesClient(ServiceClient):
    """The features service: similar tracks of several tracks in one call."""

    def __init__(self, base_url: str, serving: ServingSettings, transport: Transport = None) -> None:
        super().__init__("features", base_url, serving, transport)

    async def similar_batch(self, item_ids: list[int], k: int) -> list[tuple[list[int], list[float]]]:
        """For each track, in order: up to `k` similar tracks and their scores, best first."""
        answer = await self.call("/similar_items_batch", json={"item_ids": item_ids, "k": k})
        entries = answer.get("items") if isinstance(answer, dict) else None
        if not isinstance(entries, list) or len(entries) != len(item_ids):
            raise DependencyUnavailable("features service answered a batch of the wrong length")
        return [
            (_numbers(entry, schema.ITEM_ID_2, self), _numbers(entry, schema.SCORE, self, (int, float)))
            for entry in entries
        ]
