"""The HTTP replay target: the live trio, asked exactly as a player app would ask it.

If the trio is already running at the configured URLs (and serves the artifact set being
replayed), the replay uses it, and its listens land in that events store, as any client's would.
Otherwise it starts its own trio with the launcher, on free ports, with a throw-away SQLite
events store in a temporary folder, so the user's own events store is never touched; the trio is
stopped and the folder removed afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path

import httpx

from musicrec import schema
from musicrec.api.strategies import strategy_named
from musicrec.errors import DependencyUnavailable
from musicrec.replay.runner import Reply
from musicrec.runtime.launcher import private_trio_environment, running, trio
from musicrec.settings import Settings

logger = logging.getLogger(__name__)

TIMEOUT = httpx.Timeout(10.0, connect=2.0)  # generous: a slow answer is measured, not dropped


class HttpTarget:
    """A `ReplayTarget` over the course API of the recommendations and events services."""

    def __init__(self, recommendations_url: str, events_url: str, headers: dict[str, str] | None = None) -> None:
        """`headers`: sent with every call (the API key, when one is set: `access.key_headers`)."""
        client = partial(httpx.AsyncClient, timeout=TIMEOUT, headers=headers,
                         limits=httpx.Limits(max_connections=32, max_keepalive_connections=32))
        self._recommendations = client(base_url=recommendations_url)
        self._events = client(base_url=events_url)

    async def recommend(self, strategy: str, user_id: int, k: int) -> Reply:
        asked = strategy_named(strategy)
        params = {schema.USER_ID: user_id, "k": k} if asked.personal else {"k": k}
        answer = await _post(self._recommendations, asked.path, params)
        return Reply(answer["recs"], bool(answer.get("degraded", False)))

    async def put(self, user_id: int, item_id: int) -> None:
        await _post(self._events, "/put", {schema.USER_ID: user_id, schema.ITEM_ID: item_id})

    async def aclose(self) -> None:
        await self._recommendations.aclose()
        await self._events.aclose()


async def _post(client: httpx.AsyncClient, path: str, params: dict[str, int]) -> dict:
    """POST as the course clients do; a failed call stops the replay with the service's message."""
    try:
        response = await client.post(path, params=params)
        response.raise_for_status()
        return response.json()
    except httpx.HTTPError as exc:
        raise DependencyUnavailable(f"replay: {client.base_url}{path} failed: {exc}") from exc


def trio_is_ready(settings: Settings) -> bool:
    """Whether all three services answer /ready at the configured URLs."""
    with httpx.Client(timeout=1.0) as client:
        for spec in trio(settings):
            try:
                if client.get(f"{spec.url}/ready").status_code != 200:
                    return False
            except httpx.HTTPError:
                return False
    return True


def _own_trio_environment(settings: Settings, artifacts: Path, folder: Path) -> dict[str, str]:
    """Overrides for a private trio: free ports, the replayed artifacts, a temporary events store."""
    return private_trio_environment(artifacts, folder / "replay_events.sqlite3", settings.serving.host)


@contextlib.contextmanager
def trio_urls(settings: Settings, artifacts: Path, reuse_running: bool = True) -> Iterator[tuple[str, str]]:
    """(recommendations URL, events URL) of a ready trio serving `artifacts`: running or our own."""
    same_set = artifacts.absolute() == settings.paths.artifacts.absolute()
    if reuse_running and same_set and trio_is_ready(settings):
        logger.warning("replaying through the running trio at %s; its events store receives the listens",
                       settings.urls.recommendations_url)
        yield settings.urls.recommendations_url, settings.urls.events_store_url
        return
    with tempfile.TemporaryDirectory(prefix="musicrec-replay-") as temporary:
        folder = Path(temporary)
        environment = _own_trio_environment(settings, artifacts, folder)
        urls = settings.urls.model_copy(update={
            "events_store_url": environment["MUSICREC_URLS__EVENTS_STORE_URL"],
            "features_store_url": environment["MUSICREC_URLS__FEATURES_STORE_URL"],
            "recommendations_url": environment["MUSICREC_URLS__RECOMMENDATIONS_URL"],
        })
        own = settings.model_copy(update={"urls": urls})
        logger.info("starting a private trio for the replay (logs in %s)", folder)
        with running(trio(own), settings.serving.host, env=environment, log_dir=folder):
            yield urls.recommendations_url, urls.events_store_url


@contextlib.asynccontextmanager
async def http_target(
    recommendations_url: str, events_url: str, headers: dict[str, str] | None = None
) -> AsyncIterator[HttpTarget]:
    target = HttpTarget(recommendations_url, events_url, headers)
    try:
        yield target
    finally:
        await target.aclose()
