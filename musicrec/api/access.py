"""Which routes need the API key, and the check itself.

Each service route declares how private it is (`Access`), where it is registered (see
`musicrec.api.params`); the factory then wraps exactly the routes that need the key under the app's
settings (`[serving] api_key`, `open_reads`), so a route that needs none pays nothing per request.
The key may come as `X-API-Key: KEY` or `Authorization: Bearer KEY`; it is compared in constant time
(`hmac.compare_digest`), so the answer's timing does not tell how much of a guess was right.
"""

from __future__ import annotations

import copy
import hmac
import ipaddress
from collections.abc import Callable
from enum import Enum
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from musicrec.errors import Unauthorized
from musicrec.settings import ServingSettings, SettingsError

API_KEY_HEADER = "X-API-Key"
_API_KEY_HEADER = API_KEY_HEADER.lower().encode()
_BEARER = b"bearer "
# How the OpenAPI document names the scheme (see `openapi_security`).
API_KEY_SCHEME = "APIKeyHeader"
_ACCESS_ATTRIBUTE = "musicrec_access"
_GUARDED_ATTRIBUTE = "musicrec_needs_key"


class Access(Enum):
    """How private a service route is."""

    READ = "read"  # recommendations, similar tracks: need the key only with `open_reads = false`
    PRIVATE = "private"  # writes and a user's listening history: need the key whenever one is set


def declare(endpoint: Callable[..., Any], access: Access) -> None:
    """Note on the endpoint how private it is (read back by `access_of`)."""
    setattr(endpoint, _ACCESS_ATTRIBUTE, access)


def access_of(route: BaseRoute) -> Access:
    """A service route is READ unless it was declared PRIVATE."""
    return getattr(getattr(route, "endpoint", None), _ACCESS_ATTRIBUTE, Access.READ)


def _is_guarded(route: BaseRoute) -> bool:
    return getattr(route, _GUARDED_ATTRIBUTE, False)


def needs_key(access: Access, serving: ServingSettings) -> bool:
    if not serving.api_key.get_secret_value():
        return False
    return access is Access.PRIVATE or not serving.open_reads


def guarded_routes(routes: list[BaseRoute], serving: ServingSettings) -> list[BaseRoute]:
    """The routes as given, those that need the key replaced by copies that check it.

    Copies, because a service module's router (and its routes) is shared by every app built from it,
    each with its own settings.
    """
    key = serving.api_key.get_secret_value().encode()
    guarded: list[BaseRoute] = []
    for route in routes:
        if needs_key(access_of(route), serving):
            route = copy.copy(route)
            route.app = _requiring_key(route.app, key)  # type: ignore[attr-defined]  # every route here has one
            setattr(route, _GUARDED_ATTRIBUTE, True)
        guarded.append(route)
    return guarded


def _requiring_key(app: ASGIApp, key: bytes) -> ASGIApp:
    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        presented = presented_key(scope["headers"])
        if presented is None:
            raise Unauthorized(f"this route needs the API key: send it in the {API_KEY_HEADER} header")
        if not hmac.compare_digest(presented, key):
            raise Unauthorized("wrong API key")
        await app(scope, receive, send)

    return guarded


def presented_key(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The key a request carries in X-API-Key or as a bearer token, if any."""
    for name, value in headers:
        if name == _API_KEY_HEADER:
            return value.strip()
        if name == b"authorization" and value[: len(_BEARER)].lower() == _BEARER:
            return value[len(_BEARER):].strip()
    return None


def check_bind(host: str, serving: ServingSettings) -> None:
    """Refuse (SettingsError) to listen beyond loopback without an API key.

    Without a key anyone who can reach the port can store listens and read every user's history;
    on 127.0.0.1 that is only this machine's users and programs.
    """
    if serving.api_key.get_secret_value() or _is_loopback(host):
        return
    raise SettingsError(
        f"refusing to listen on {host} (beyond loopback) without an API key: set [serving] api_key "
        "(or MUSICREC_SERVING__API_KEY), or listen on 127.0.0.1 ([serving] host)"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def key_headers(serving: ServingSettings) -> dict[str, str]:
    """What a client of the services sends: the key header when a key is configured, else nothing."""
    key = serving.api_key.get_secret_value()
    return {API_KEY_HEADER: key} if key else {}


def document_key(app: FastAPI, serving: ServingSettings, error_model: dict[str, Any]) -> None:
    """Make the app's OpenAPI document show which routes need the key (and their 401 answer)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        guarded = [route for route in app.routes if isinstance(route, APIRoute)
                   and route.include_in_schema and _is_guarded(route)]
        if guarded:
            schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
            schemes[API_KEY_SCHEME] = {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}
        for route in guarded:
            for method in route.methods or ():
                operation = schema["paths"][route.path_format][method.lower()]
                operation["security"] = [{API_KEY_SCHEME: []}]
                operation["responses"]["401"] = {"description": "The API key is missing or wrong",
                                                 "content": {"application/json": {"schema": error_model}}}
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to change the schema
