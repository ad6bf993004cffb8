"""What a service's handlers reach: its settings, readiness, metrics and current data plane, typed.

Each service keeps one `ServiceState` (a subclass naming its data plane and counters) on the app
instead of loose names on Starlette's untyped `app.state`; handlers reach it through
`<TheState>.of(request)`, one lookup per call as before. Everything loaded from one artifact set
(or the opened events store) is one attribute, `plane`, so that a reload can swap it whole: a
handler reads `plane` once and uses that one plane for the whole request.
"""

from __future__ import annotations

from typing import Any, Generic, Self, TypeVar

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.requests import HTTPConnection

from musicrec.settings import Settings

Plane = TypeVar("Plane")


class ServiceState(Generic[Plane]):
    """The state of one service app, made when the app is built; `plane` is set by its loader."""

    plane: Plane  # set in the lifespan, before the service is ready

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics_registry = CollectorRegistry()  # per app: see musicrec.api.prometheus
        self.ready = False
        self.refused: str | None = None  # why the loaded data turned out unusable (see api.loading)
        self.reloader: Any = None  # the SetReloader of a service that serves artifact sets

    async def dependency_down(self) -> str | None:
        """Why the service cannot answer although its data is loaded, or None; `/ready` is 503 then.

        Only for a dependency without which there is no answer at all (the events service's store);
        one the service can answer degraded without (the recommendations service's) is no reason.
        """
        return None

    def attach(self, app: FastAPI) -> None:
        """Make this the state `of` finds for requests to `app` (the factory does this once)."""
        app.state.service = self

    @classmethod
    def of(cls, connection: HTTPConnection) -> Self:
        """The state of the app serving `connection` (a request)."""
        state: Self = connection.app.state.service  # what `attach` stored
        return state

    @classmethod
    def of_app(cls, app: FastAPI) -> Self:
        """The state of `app`, for tests and tools that hold the app rather than a request."""
        state: Self = app.state.service
        return state

