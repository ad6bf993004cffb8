"""How the three services take requests: validated query parameters and POST-and-GET routes.

Every route declares its inputs with these aliases, so a bad id or `k` gets the same 422 and message
from every service, and no handler checks ranges itself:

    @post_and_get(router, "/get", response_model=EventsResponse)
    async def get_events(request: Request, user_id: UserId, k: TopK = None) -> JSONResponse:
        count = resolve_k(request, k)   # the default, or 422 beyond [serving] max_k

Ids are stored as int32 in every artifact, so a larger id can never be known: it is refused
(422) instead of overflowing later. The upper bound of `k` comes from settings (`[serving] max_k`),
which are only known when the app is built, hence `resolve_k`. `TopK` was once a dependency
(`Depends`) that did this itself; FastAPI solves a dependency as a second set of parameters on
every request, which cost 6% of the offline route's CPU.
"""

from __future__ import annotations

from typing import Annotated, Any, Callable, TypeVar

from fastapi import APIRouter, Query, Request

from musicrec.api.state import ServiceState
from musicrec.api.wire import INT32_MAX
from musicrec.errors import InvalidInput

UserId = Annotated[
    int, Query(ge=0, le=INT32_MAX, description="User id: a non-negative 32-bit integer.")
]
ItemId = Annotated[
    int, Query(ge=0, le=INT32_MAX, description="Track id: a non-negative 32-bit integer.")
]

TopK = Annotated[
    int | None,
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


def post_and_get(router: APIRouter, path: str, **route_options: Any) -> Callable[[Endpoint], Endpoint]:
    """Register one handler for POST (as the course's clients call it) and GET (handy in a browser).

    Two routes with distinct operation ids, because one route with both methods gives OpenAPI a
    duplicate operation id (a warning, and an ambiguous spec for clients generated from it).
    """

    def register(endpoint: Endpoint) -> Endpoint:
        for method in ("POST", "GET"):
            router.add_api_route(
                path,
                endpoint,
                methods=[method],
                operation_id=f"{endpoint.__name__}_{method.lower()}",
                **route_options,
            )
        return endpoint

    return register
