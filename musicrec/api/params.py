"""How the three services take requests: validated query parameters, read and write routes.

Every route declares its inputs with these aliases, so a bad id or `k` gets the same 422 and message
from every service, and no handler checks ranges itself:

    @post_and_get(router, "/get", response_model=EventsResponse, access=Access.PRIVATE)
    async def get_events(request: Request, user_id: UserId, k: TopK = None) -> JSONResponse:
        count = resolve_k(request, k)   # the default, or 422 beyond [serving] max_k

Reads take POST (as the course's clients call them) and GET; writes (`post_only`) take POST only, so
a link or an image on some web page cannot store anything, and always need the key when one is set.

Ids are stored as int32 in every artifact, so a larger id can never be known: it is refused
(422) instead of overflowing later. Numbers in the query must be plain digits: Python and pydantic
would also read `1_000`, `+5`, ` 5` or `1.0` as integers, and an id that is not written the way the
ids are is a caller's mistake to report, not to guess at. The upper bound of `k` comes from
settings (`[serving] max_k`), which are only known when the app is built, hence `resolve_k` rather
than a dependency (`Depends`): FastAPI solves a dependency as a second set of parameters on every
request, and a route with one leaves LeanRoute's fast path.
"""

from __future__ import annotations

from typing import Annotated, Any, Callable, TypeVar

from fastapi import APIRouter, Query, Request
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from musicrec.api.access import Access, declare
from musicrec.api.state import ServiceState
from musicrec.api.wire import INT32_MAX
from musicrec.errors import InvalidInput

INT32_DIGITS = len(str(INT32_MAX))


def _plain_digits(value: Any) -> Any:
    """Let through only text made of the digits 0-9, perhaps after a minus (and whatever is not text)."""
    if isinstance(value, str):
        digits = value[1:] if value.startswith("-") else value
        if not (digits.isascii() and digits.isdigit()):
            raise PydanticCustomError("int_digits", "Input should be a whole number in the digits 0-9 only")
        if len(digits.lstrip("0")) > INT32_DIGITS:  # refused before parsing a long number
            raise PydanticCustomError("int_too_long", "Input should be at most {limit}", {"limit": INT32_MAX})
    return value


Digits = BeforeValidator(_plain_digits)

UserId = Annotated[
    int, Digits, Query(ge=0, le=INT32_MAX, description="User id: a non-negative 32-bit integer.")
]
ItemId = Annotated[
    int, Digits, Query(ge=0, le=INT32_MAX, description="Track id: a non-negative 32-bit integer.")
]

TopK = Annotated[
    int | None,
    Digits,
    Query(ge=1, description="How many items to return: 1..[serving] max_k (default [serving] default_k)."),
]


def resolve_k(request: Request, k: int | None) -> int:
    """`k` from the query, defaulted and bounded by the serving settings of the app."""
    serving = ServiceState.of(request).settings.serving
    if k is None:
        return int(serving.default_k)
    if k > serving.max_k:
        raise InvalidInput(f"query parameter 'k': must be between 1 and {serving.max_k}, got {k}")
    return k

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def post_and_get(
    router: APIRouter, path: str, *, access: Access = Access.READ, **route_options: Any
) -> Callable[[Endpoint], Endpoint]:
    """Register a read for POST (as the course's clients call it) and GET (handy in a browser).

    Two routes with distinct operation ids, because one route with both methods gives OpenAPI a
    duplicate operation id (a warning, and an ambiguous spec for clients generated from it).
    """
    return _register(router, path, ("POST", "GET"), access, route_options)


def post_only(router: APIRouter, path: str, **route_options: Any) -> Callable[[Endpoint], Endpoint]:
    """Register a write: POST only (a GET gets 405), and the key is needed whenever one is set."""
    return _register(router, path, ("POST",), Access.PRIVATE, route_options)


def _register(
    router: APIRouter, path: str, methods: tuple[str, ...], access: Access, route_options: dict[str, Any]
) -> Callable[[Endpoint], Endpoint]:
    def register(endpoint: Endpoint) -> Endpoint:
        declare(endpoint, access)
        for method in methods:
            router.add_api_route(
                path,
                endpoint,
                methods=[method],
                operation_id=f"{endpoint.__name__}_{method.lower()}",
                **route_options,
            )
        return endpoint

    return register
