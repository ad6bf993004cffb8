"""Hot reload: a service switches to a new artifact set while it serves.

A `SetReloader` owns the service's current set. It polls the current-set pointer (`[paths]
artifacts`, a symlink switched by the pipeline's publish or `fetch`; with `[serving] reload_from =
s3`, the bucket's LATEST, fetched first) every `[serving] reload_interval` seconds, and reloads on
demand from `POST /admin/reload` (which needs the API key when one is set). A new set is opened,
fully verified (every checksum) and mapped on a worker thread beside the old one, then swapped in
with one assignment of `state.plane`; a request reads `state.plane` once, so requests in flight
finish on the set they started with. A set that fails is refused with a log line naming the file,
and the old one keeps serving. The first set at start-up is verified right after the service is
ready instead (see `musicrec.api.loading`), since hashing takes longer than the whole start.

While a set serves, its folder is held with a shared `flock` (`SetLease`); `prune_sets` skips a set
it cannot lock, so pruning never removes a set a running service uses. `/ready`, `/metrics` and
the `X-Artifact-Set` header of every answer name the set that served it.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from prometheus_client import Counter, Gauge
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from musicrec.api.loading import verify_in_background
from musicrec.api.params import post_only
from musicrec.api.routing import LeanRoute
from musicrec.api.state import ServiceState
from musicrec.api.wire import ErrorResponse, ReloadResponse
from musicrec.artifacts import SetLease, current_set
from musicrec.errors import MusicRecError
from musicrec.manifest import read_manifest
from musicrec.serving.set_indexes import SetIndexes

logger = logging.getLogger(__name__)

ARTIFACT_SET_HEADER = "X-Artifact-Set"
_HEADER_BYTES = ARTIFACT_SET_HEADER.lower().encode()


@dataclass(frozen=True)
class SetPlane:
    """Base of a data plane made from one artifact set: it knows which (for answers' headers)."""

    artifact_set: str

    @property
    def headers(self) -> dict[str, str]:
        return {ARTIFACT_SET_HEADER: self.artifact_set}


Plane = TypeVar("Plane", bound=SetPlane)


@dataclass
class ReloadOutcome:
    artifact_set: str
    switched: bool
    refused: str | None = None


@dataclass
class SetReloader(Generic[Plane]):
    """Loads sets for one service and swaps them into `state.plane`.

    `open_set(folder)` size-checks a set and says where its indexes are; `build(indexes)` maps them
    into the service's plane.
    """

    state: ServiceState[Plane]
    service: str
    open_set: Callable[[Path], SetIndexes]
    build: Callable[[SetIndexes], Plane]
    lease: SetLease | None = None
    refused_folder: Path | None = None  # the last set refused: not retried until the pointer moves
    refused_message: str | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _metrics: tuple[Gauge, Counter] | None = None

    @property
    def artifacts(self) -> Path:
        return self.state.settings.paths.artifacts

    def load_first(self) -> None:
        """The set the pointer names now, checked quickly; its checksums right after (background)."""
        folder = current_set(self.artifacts)
        indexes = self.open_set(folder)
        lease = SetLease(folder)
        self._swap(self.build(indexes), lease)
        verify_in_background(self.state, self.service, indexes)

    async def reload(self) -> ReloadOutcome:
        """Switch to the set the pointer names if it is another one; refuse it if it does not verify."""
        async with self._lock:
            if self.state.settings.serving.reload_from == "s3":
                await asyncio.to_thread(self._follow_s3)
            folder = current_set(self.artifacts)
            serving = self.state.plane.artifact_set
            if self.lease is not None and folder == self.lease.folder:
                return ReloadOutcome(serving, switched=False)
            if folder == self.refused_folder:
                return ReloadOutcome(serving, switched=False, refused=self.refused_message)
            started = time.perf_counter()
            try:
                plane, lease = await asyncio.to_thread(self._load_verified, folder)
            except (MusicRecError, OSError) as error:
                message = getattr(error, "message", str(error))
                logger.error("%s: artifact set %s refused, still serving %s: %s", self.service, folder.name,
                             serving, message)
                self.refused_folder, self.refused_message = folder, message
                self._count("refused")
                return ReloadOutcome(serving, switched=False, refused=message)
            self._swap(plane, lease)
            self.state.refused = None  # a problem of the previous set is gone with it
            logger.info("%s: switched from artifact set %s to %s in %.2f s", self.service, serving,
                        folder.name, time.perf_counter() - started)
            self._count("switched")
            return ReloadOutcome(folder.name, switched=True)

    def _load_verified(self, folder: Path) -> tuple[Plane, SetLease]:
        """Everything slow, on a worker thread: size checks, conversion if needed, every checksum, mapping."""
        lease = SetLease(folder)
        try:
            indexes = self.open_set(folder)
            indexes.verify_checksums()
            return self.build(indexes), lease
        except BaseException:
            lease.release()
            raise

    def _swap(self, plane: Plane, lease: SetLease) -> None:
        previous = self.lease
        self.state.plane = plane  # the one reference handlers read
        self.lease = lease
        if previous is not None:
            previous.release()  # requests still on the old plane keep its mapped pages
        self._show(plane.artifact_set)

    def _follow_s3(self) -> None:
        """With `reload_from = s3`: fetch the version LATEST names unless the current set is it."""
        settings = self.state.settings
        from musicrec import s3  # boto3 is imported only by replicas that fetch

        latest = s3.latest_version(settings.s3)
        manifest_version = _manifest_version(self.artifacts)
        if manifest_version != latest:
            with _fetch_lock(self.artifacts):  # replicas sharing one folder fetch once
                if _manifest_version(self.artifacts) != latest:
                    s3.fetch_current(settings.s3, self.artifacts, latest)

    def close(self) -> None:
        if self.lease is not None:
            self.lease.release()
            self.lease = None

    # --- /metrics -------------------------------------------------------------------------------
    def _registered(self) -> tuple[Gauge, Counter]:
        if self._metrics is None:
            registry = self.state.metrics_registry
            self._metrics = (
                Gauge("artifact_set_info", "The artifact set this process serves (value 1).", ["set"],
                      registry=registry),
                Counter("artifact_set_reloads", "Reloads by outcome: switched or refused.", ["outcome"],
                        registry=registry),
            )
        return self._metrics

    def _show(self, name: str) -> None:
        info, _ = self._registered()
        info.clear()
        info.labels(name).set(1)

    def _count(self, outcome: str) -> None:
        self._registered()[1].labels(outcome).inc()


def _manifest_version(artifacts: Path) -> str | None:
    try:
        manifest = read_manifest(artifacts.resolve())
    except MusicRecError:
        return None
    return None if manifest is None else str(manifest.get("version"))


@contextmanager
def _fetch_lock(artifacts: Path) -> Iterator[None]:
    with open(artifacts.with_name(f".{artifacts.name}.fetch.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@asynccontextmanager
async def serving_sets(reloader: SetReloader[Any]) -> AsyncIterator[None]:
    """Load the first set, then poll the pointer every `[serving] reload_interval` s (0: never)."""
    reloader.load_first()
    reloader.state.reloader = reloader
    interval = reloader.state.settings.serving.reload_interval
    poller = asyncio.create_task(_poll(reloader, interval)) if interval > 0 else None
    try:
        yield
    finally:
        if poller is not None:
            poller.cancel()
        reloader.close()


async def _poll(reloader: SetReloader[Any], interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await reloader.reload()
        except Exception:  # a bad moment (pointer mid-switch, S3 down) must not end the polling
            logger.exception("%s: checking for a new artifact set failed; trying again in %g s",
                             reloader.service, interval)


# --- HTTP: the admin route and the header ------------------------------------------------------
def reload_router() -> APIRouter:
    """`POST /admin/reload`: switch to the current set now (the API key is needed when one is set)."""
    router = APIRouter(tags=["operations"], route_class=LeanRoute,
                       responses={409: {"model": ErrorResponse, "description": "The new set was refused"}})

    async def admin_reload(request: Request) -> JSONResponse:
        """Load the set the pointer names now (if it changed), verify it, switch; 409 if it is refused."""
        reloader: SetReloader[Any] = ServiceState.of(request).reloader
        outcome = await reloader.reload()
        if outcome.refused:
            return JSONResponse({"detail": f"new artifact set refused, still serving {outcome.artifact_set}: "
                                           f"{outcome.refused}"}, status_code=409)
        return JSONResponse(ReloadResponse(artifact_set=outcome.artifact_set, switched=outcome.switched))

    post_only(router, "/admin/reload", response_model=ReloadResponse)(admin_reload)
    return router


class ArtifactSetHeader:
    """Adds `X-Artifact-Set` (the set serving now) to answers whose route did not name its own."""

    def __init__(self, app: ASGIApp, state: ServiceState[Any]) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                plane = getattr(self.state, "plane", None)
                headers = message.setdefault("headers", [])
                if plane is not None and not any(name == _HEADER_BYTES for name, _ in headers):
                    headers.append((_HEADER_BYTES, plane.artifact_set.encode()))
            await send(message)

        await self.app(scope, receive, send_with_header)
