"""How the services' requests reach their handlers with little per-request work.

`LeanRoute`: FastAPI routes whose parameters are planned once, not on every request.

FastAPI re-examines each parameter's annotation on every request (a sequence? a model? which
alias?) and runs each call inside two exit stacks kept for dependencies with `yield`. The services'
routes need none of that: a few scalar query parameters or one JSON body, no dependencies, and a
ready `Response`. For such a route `LeanRoute` works out once, when the route is built, what to read,
validates each value with FastAPI's own field validator (so a bad value gets the same 422 error;
a list parameter gets every value of a repeated name, as FastAPI gives it), and calls the endpoint:
that per-request analysis was a large part of a short answer's cost
(figures: bench/results/serving-notes.md). Any other route (dependencies, path, header or form
parameters, a return value FastAPI must serialize) is refused when it is built unless its endpoint is
marked `on_fastapis_handler(why)`, which keeps FastAPI's own handler for it. Declared parameters
still make the OpenAPI schema and `/docs` as usual; errors raised here reach the app's exception
handlers.

`FixedPathDispatch`: finds the route of a fixed path with a dict lookup instead of the router's loop.

`LeanRoute` leans on FastAPI internals (`ModelField.validate`, the route's dependant), and
`FixedPathDispatch` on Starlette's; all come through `musicrec.api.compat`, which names the releases
they were checked against; tests/api/test_routing.py compares the answers of both with FastAPI's own, so an
upgrade that changes them fails there. The factory uses both for every service.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl

from fastapi import Request, Response, params
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic_core import from_json
from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from musicrec.api.compat import (
    TELEMETRY_SCOPE_KEY,
    Dependant,
    ModelField,
    embeds_body_fields,
    get_route_path,
    get_typed_return_annotation,
    route_loop,
    set_route_loop,
)
from musicrec.api.state import ServiceState
from musicrec.errors import MalformedRequest, RequestTooLarge
from musicrec.settings import ServingSettings

SCALARS = (int, float, str, bool, type(None))
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


FASTAPI_HANDLED = "__musicrec_fastapi_handled__"  # the endpoint attribute `on_fastapis_handler` sets


class UnplannedRoute(TypeError):
    """A route LeanRoute cannot plan and that does not say it runs on FastAPI's own handler."""


class LeanRoute(APIRoute):
    """An APIRoute that answers plannable requests without FastAPI's per-request parameter analysis.

    A route it cannot plan is refused when it is built, unless its endpoint is marked with
    `on_fastapis_handler`: the routes left to FastAPI's slower handler are an explicit list, not
    whatever happens to fall out of the plan.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        super().__init__(path, endpoint, **options)
        self.planned = _is_plannable(self)
        if self.planned:
            self.app = _planned_app(self.dependant, self.body_field)
        elif not hasattr(endpoint, FASTAPI_HANDLED):
            raise UnplannedRoute(
                f"route {path} ({endpoint.__qualname__}) cannot be planned by LeanRoute: it may take only "
                "query parameters, one JSON body and the Request, be `async def` and return a Response; "
                "change it, or mark it @on_fastapis_handler(why) to leave it on FastAPI's own handler")


def on_fastapis_handler(why: str) -> Callable[[Endpoint], Endpoint]:
    """Mark an endpoint that LeanRoute leaves to FastAPI's own handler, saying why (apply it below the
    route decorator)."""
    def mark(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, FASTAPI_HANDLED, why)
        return endpoint
    return mark


def runs_on_fastapis_handler(route: APIRoute) -> bool:
    """Is this route left to FastAPI's own handler (not planned)?"""
    return not getattr(route, "planned", False)


def _is_plannable(route: APIRoute) -> bool:
    """Only query parameters, at most one JSON body and the Request, and a ready Response back."""
    dependant = route.dependant
    return (
        _takes_only_query_body_and_request(dependant)
        and all(_is_values(field.field_info.annotation) and field.field_info.default_factory is None
                for field in dependant.query_params)
        and _body_is_one_json_model(route)
        and inspect.iscoroutinefunction(route.endpoint)
        and _returns_response(route)
        and route.max_body_size is None
    )


def _takes_only_query_body_and_request(dependant: Dependant) -> bool:
    return not (
        dependant.dependencies or dependant.path_params or dependant.header_params
        or dependant.cookie_params or dependant.websocket_param_name
        or dependant.http_connection_param_name or dependant.response_param_name
        or dependant.background_tasks_param_name or dependant.security_scopes_param_name
    )


def _body_is_one_json_model(route: APIRoute) -> bool:
    """No body, or one JSON body (required, or optional: an empty body then gives its default)."""
    body = route.body_field
    return body is None or (
        len(route.dependant.body_params) == 1 and not embeds_body_fields(route)
        and not isinstance(body.field_info, (params.Form, params.File))
    )


def _returns_response(route: APIRoute) -> bool:
    answer = get_typed_return_annotation(route.endpoint)
    return inspect.isclass(answer) and issubclass(answer, Response)


def _is_scalar(annotation: Any) -> bool:
    """int, str, a Literal of them ... or an optional one: a single value per query parameter."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return all(_is_scalar(member) for member in typing.get_args(annotation))
    if typing.get_origin(annotation) is Literal:
        return all(type(value) in SCALARS for value in typing.get_args(annotation))
    return annotation in SCALARS


def _is_list(annotation: Any) -> bool:
    """list[int], list[str], ... or an optional one: every value of a repeated query parameter."""
    members = (typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType)
               else (annotation,))
    lists = [member for member in members if member is not type(None)]
    return len(lists) == 1 and typing.get_origin(lists[0]) is list and all(
        argument in SCALARS for argument in typing.get_args(lists[0]))


def _is_values(annotation: Any) -> bool:
    return _is_scalar(annotation) or _is_list(annotation)


def _planned_app(dependant: Dependant, body_field: ModelField | None) -> ASGIApp:
    endpoint = dependant.call
    assert endpoint is not None
    query_fields = [QueryField.plan(field) for field in dependant.query_params]
    request_name = dependant.request_param_name

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        """Read and validate the inputs, call the endpoint, send its response."""
        request = Request(scope, receive, send)
        values, errors = _query_values(scope, query_fields)
        if body_field is not None:
            body = await _json_body(request, required=body_field.field_info.is_required())
            if body is _NO_BODY:
                values[body_field.name] = body_field.default
            else:
                values[body_field.name], body_errors = body_field.validate(body, loc=("body",))
                errors.extend(body_errors)
        if errors:
            raise RequestValidationError(errors)
        if request_name:
            values[request_name] = request
        response = await endpoint(**values)
        await response(scope, receive, send)

    return app


@dataclass(frozen=True)
class QueryField:
    """A query parameter as planned: its validator, where errors point, its value when absent, and
    whether it takes every value of a repeated name (a list) or the last one."""

    field: ModelField
    loc: tuple[str, str]
    required: bool
    default: Any  # without a factory (see `_is_plannable`), so one value serves every request
    many: bool

    @classmethod
    def plan(cls, field: ModelField) -> QueryField:
        required = field.field_info.is_required()
        return cls(field, ("query", field.alias), required, None if required else field.default,
                   _is_list(field.field_info.annotation))


def _query_values(scope: Scope, fields: list[QueryField]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if not fields:  # e.g. /health, a JSON-body route: nothing to parse
        return {}, []
    # As Starlette's QueryParams reads it (the last of a repeated name counts), without building one.
    pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    query = dict(pairs)
    values: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    for planned in fields:
        field = planned.field
        raw: Any = query.get(field.alias)
        if planned.many and raw is not None:  # as FastAPI reads a list: every value, in order
            raw = [value for name, value in pairs if name == field.alias]
        if raw is not None:
            values[field.name], problems = field.validate(raw, values, loc=planned.loc)
            errors.extend(problems)
        elif planned.required:
            errors.append(_missing(planned.loc))
        else:
            values[field.name] = planned.default
    return values, errors


_NO_BODY = object()  # an optional body that was not sent


async def _json_body(request: Request, required: bool) -> Any:
    """The decoded JSON body; the raw bytes when it is not declared JSON (they fail validation);
    `_NO_BODY` for an empty one that is not required."""
    body = await read_body(request, ServiceState.of(request).settings.serving)
    if not body:
        if not required:
            return _NO_BODY
        raise RequestValidationError([_missing(("body",))])
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not (media_type.startswith("application/") and media_type.endswith(("/json", "+json"))):
        return body
    try:
        # pydantic's parser, not json.loads: it refuses nesting deeper than 200 levels (json.loads
        # recurses until a RecursionError) and it is faster.
        return from_json(body, allow_inf_nan=False)
    except ValueError as error:
        raise MalformedRequest(f"request body is not valid JSON: {error}") from None


async def read_body(request: Request, serving: ServingSettings) -> bytes:
    """The request body, refused (413) as soon as it is known to exceed `[serving] max_body_bytes`.

    A declared Content-Length over the limit is refused before a byte of the body is read; a body
    without one (chunked) is read only up to the limit. (How long a client may take to send it is
    bounded by the server: `musicrec.runtime.http_limits`.)
    """
    limit = serving.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = b""
    more_body = True
    while more_body and len(body) <= limit:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            break  # the caller is gone: whatever is answered goes nowhere
        body += message.get("body", b"")
        more_body = message.get("more_body", False)
    if len(body) > limit:
        raise _too_large(limit)
    return body


def _too_large(limit: int) -> RequestTooLarge:
    return RequestTooLarge(f"request body too large: the limit is {limit} bytes ([serving] max_body_bytes)")


def _missing(loc: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "missing", "loc": loc, "msg": "Field required", "input": None}


class FixedPathDispatch:
    """Sends a request for a fixed path straight to its route: one dict lookup.

    Starlette's router asks every route in turn whether it matches, so a route pays for each one
    listed before it (FastAPI's four documentation routes come first). The table maps (path, method)
    to the first route the router itself would pick, and stops at the first route that can match
    more than one path (path parameters, a mount), since that one could shadow a later fixed path.
    Every request the table does not know (an unknown path, a wrong method, a trailing-slash
    redirect, a route added later) goes to the router's own loop, so every answer stays the
    router's. FastAPI's telemetry hooks, which the factory switches off, are only fed by that loop.
    """

    def __init__(self, router: Router) -> None:
        self.router = router
        self.routes_in_order = route_loop(router)
        self.table = _fixed_path_table(router.routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = None
        if scope["type"] == "http" and TELEMETRY_SCOPE_KEY not in scope:
            route = self.table.get((get_route_path(scope), scope["method"]))
        if route is not None:
            match, child_scope = route.matches(scope)  # FULL unless FastAPI changed how routes match
            if match is Match.FULL:
                scope.setdefault("router", self.router)
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
        await self.routes_in_order(scope, receive, send)


def dispatch_fixed_paths(router: Router) -> None:
    """Route `router`'s requests through a `FixedPathDispatch` of the routes it has now."""
    set_route_loop(router, FixedPathDispatch(router))


def _fixed_path_table(routes: list[BaseRoute]) -> dict[tuple[str, str], Route]:
    table: dict[tuple[str, str], Route] = {}
    for route in routes:
        if not isinstance(route, Route) or route.param_convertors or route.methods is None:
            break  # it may match many paths: the routes after it are left to the router's loop
        for method in route.methods:
            table.setdefault((route.path, method), route)
    return table
