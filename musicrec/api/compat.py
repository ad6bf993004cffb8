"""The one seam to FastAPI's, Starlette's and uvicorn's internals, and the versions it supports.

The services lean on a few names those projects do not document as public (`LeanRoute` plans
routes with FastAPI's own field validation, `FixedPathDispatch` replaces Starlette's route loop,
`BoundedHttpToolsProtocol` subclasses uvicorn's HTTP protocol). Every such name is imported or
read here and nowhere else, so an upgrade has one file to read, and `SUPPORTED` says which
releases these names were checked against (tests/api/test_compat.py fails on any other installed
release, checks that the lock's versions are inside the ranges, and that pyproject.toml asks for
the same ranges). Public API (`fastapi.FastAPI`, `starlette.types`, ...) is imported where used.
"""

from __future__ import annotations

from importlib.metadata import version

from fastapi._compat import ModelField
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_typed_return_annotation
from fastapi.routing import APIRoute
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from starlette._utils import get_route_path
from starlette.routing import Router
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle

# The releases the internals below were checked against (pyproject.toml asks for the same ranges).
SUPPORTED: dict[str, str] = {
    "fastapi": ">=0.165,<0.166",
    "starlette": ">=1.10,<1.11",
    "uvicorn": ">=0.54,<0.55",
}

# The scope key FastAPI's telemetry hooks set on requests that its router loop instruments.
TELEMETRY_SCOPE_KEY = "fastapi.telemetry"

__all__ = [
    "STATUS_LINE", "SUPPORTED", "TELEMETRY_SCOPE_KEY", "Dependant", "HttpToolsProtocol", "ModelField",
    "RequestResponseCycle", "UnsupportedFramework", "check_versions", "embeds_body_fields", "get_route_path",
    "get_typed_return_annotation", "route_loop", "set_route_loop", "unsupported",
]


class UnsupportedFramework(RuntimeError):
    """An installed FastAPI, Starlette or uvicorn outside `SUPPORTED`."""


def unsupported(installed: dict[str, str] | None = None) -> list[str]:
    """"name version (supported: range)" for each framework installed outside its range."""
    installed = installed if installed is not None else {name: version(name) for name in SUPPORTED}
    return [f"{name} {installed[name]} (supported: {SUPPORTED[name]})" for name in SUPPORTED
            if Version(installed[name]) not in SpecifierSet(SUPPORTED[name])]


def check_versions(installed: dict[str, str] | None = None) -> None:
    """Raise UnsupportedFramework when an installed framework is outside `SUPPORTED`."""
    problems = unsupported(installed)
    if problems:
        raise UnsupportedFramework("unsupported framework version: " + "; ".join(problems)
                                   + " (musicrec/api/compat.py)")


def embeds_body_fields(route: APIRoute) -> bool:
    """Whether FastAPI reads a route's single body parameter as a field of an object (`Body(embed=True)`,
    or several body parameters), from its private `_embed_body_fields`."""
    return bool(route._embed_body_fields)


def route_loop(router: Router) -> ASGIApp:
    """The ASGI app Starlette's router runs its route loop through (its `middleware_stack`)."""
    stack: ASGIApp = router.middleware_stack
    return stack


def set_route_loop(router: Router, app: ASGIApp) -> None:
    """Have `router` hand its requests to `app` instead (which may call `route_loop`'s app)."""
    router.middleware_stack = app  # type: ignore[assignment]  # typed by Starlette as its own bound method
