"""`LeanRoute`: FastAPI routes whose parameters are planned once, not on every request.

FastAPI 0.165 re-examines each parameter's annotation on every request (a sequence? a model? which
alias?) and runs each call inside two exit stacks kept for dependencies with `yield`. The services'
routes need none of that: a few scalar query parameters or one JSON body, no dependencies, and a
ready `Response`. For such a route `LeanRoute` works out once, when the route is built, what to read,
validates each value with FastAPI's own field validator (so a bad value gets the same 422 error),
and calls the endpoint. Any other route (dependencies, path, header or form parameters, a return
value FastAPI must serialize) keeps FastAPI's own handler. Declared parameters still make the
OpenAPI schema and `/docs` as usual; errors raised here reach the app's exception handlers.
Measured with callgrind, this took the offline route from 628k to 356k instructions per request,
and the events service's `/get` from 668k to 322k.

It leans on FastAPI internals (`ModelField.validate`, the included-router scope context) of the
version pinned in requirements.txt; tests/api/test_routing.py compares its answers with FastAPI's
own, so an upgrade that changes them fails there. The factory's `service_router` uses it.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from typing import Any, Callable

from fastapi import Request, Response, params
from fastapi._compat import ModelField
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_typed_return_annotation
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, _get_scope_effective_route_context
from starlette.routing import Match, get_route_path
from starlette.types import ASGIApp, Receive, Scope, Send

SCALARS = (int, float, str, bool, type(None))


class LeanRoute(APIRoute):
    """An APIRoute that answers plannable requests without FastAPI's per-request parameter analysis."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        super().__init__(path, endpoint, **options)
        if _is_plannable(self):
            self.app = _planned_app(self.dependant, self.body_field)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """A fixed path that differs is no match: said without a regex and two scope lookups.

        The router asks every route in turn, so this is paid once per route listed before the one
        that answers. A route reached through an included router (an effective route context in the
        scope, with its prefix) is left to FastAPI.
        """
        if scope["type"] == "http" and not self.param_convertors and get_route_path(scope) != self.path:
            if _get_scope_effective_route_context(scope) is None:
                return Match.NONE, {}
        return super().matches(scope)


def _is_plannable(route: APIRoute) -> bool:
    """Only query parameters, at most one JSON body and the Request, and a ready Response back."""
    dependant = route.dependant
    return (
        _takes_only_query_body_and_request(dependant)
        and all(_is_scalar(field.field_info.annotation) for field in dependant.query_params)
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
    body = route.body_field
    return body is None or (
        len(route.dependant.body_params) == 1 and not route._embed_body_fields
        and body.field_info.is_required() and not isinstance(body.field_info, (params.Form, params.File))
    )


def _returns_response(route: APIRoute) -> bool:
    answer = get_typed_return_annotation(route.endpoint)
    return inspect.isclass(answer) and issubclass(answer, Response)


def _is_scalar(annotation: Any) -> bool:
    """int, str, ... or an optional one: a single value per query parameter."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return all(member in SCALARS for member in typing.get_args(annotation))
    return annotation in SCALARS


def _planned_app(dependant: Dependant, body_field: ModelField | None) -> ASGIApp:
    endpoint = dependant.call
    assert endpoint is not None
    query_fields = [(field, field.alias, ("query", field.alias)) for field in dependant.query_params]
    request_name = dependant.request_param_name

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        """Read and validate the inputs, call the endpoint, send its response."""
        request = Request(scope, receive, send)
        values, errors = _query_values(request, query_fields)
        if body_field is not None:
            body = await _json_body(request)
            values[body_field.name], body_errors = body_field.validate(body, loc=("body",))
            errors.extend(body_errors)
        if errors:
            raise RequestValidationError(errors)
        if request_name:
            values[request_name] = request
        response = await endpoint(**values)
        await response(scope, receive, send)

    return app


QueryField = tuple[ModelField, str, tuple[str, str]]


def _query_values(request: Request, fields: list[QueryField]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if not fields:  # e.g. /health, a JSON-body route: nothing to parse
        return {}, []
    query = request.query_params
    values: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    for field, alias, loc in fields:
        raw = query.get(alias)
        if raw is not None:
            values[field.name], problems = field.validate(raw, values, loc=loc)
            errors.extend(problems)
        elif field.field_info.is_required():
            errors.append(_missing(loc))
        else:
            values[field.name] = field.default
    return values, errors


async def _json_body(request: Request) -> Any:
    """The decoded JSON body; the raw bytes when it is not declared JSON (they fail validation)."""
    body = await request.body()
    if not body:
        raise RequestValidationError([_missing(("body",))])
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not (media_type.startswith("application/") and media_type.endswith(("/json", "+json"))):
        return body
    try:
        return json.loads(body)
    except ValueError as error:
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": f"JSON decode error: {error}", "input": {}}]
        ) from error


def _missing(loc: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "missing", "loc": loc, "msg": "Field required", "input": None}
