"""How the three services take requests: validated query parameters and POST-and-GET routes.

Every route declares its inputs with these aliases, so a bad id or `k` gets the same 422 and message
from every service, and no handler checks ranges itself:

    @post_and_get(router, "/get", response_model=EventsResponse)
    def get_events(request: Request, user_id: UserId, k: TopK) -> EventsResponse: ...

Ids are stored as int32 in every artifact, so a larger id can never be known: it is refused
(422) instead of overflowing later. The bound on `k` comes from settings (`[serving] max_k`), which
are only known when the app is built, so `TopK` is a dependency that reads them from the app. It is
`async def` although it never awaits: a plain `def` dependency costs a thread-pool hop on every
request that takes `k`, for a few attribute reads.
"""

from __future__ import annotations

from typing import Annotated, Any, Callable, TypeVar

from fastapi import APIRouter, Depends, Query, Request

from musicrec.errors import InvalidInput

INT32_MAX = 2**31 - 1

UserId = Annotated[
    int, Query(ge=0, le=INT32_MAX, description="User id: a non-negative 32-bit integer.")
]
ItemId = Annotated[
    int, Query(ge=0, le=INT32_MAX, description="Track id: a non-negative 32-bit integer.")
]


async def top_k(
    request: Request,
    k: Annotated[
        int | None,
        Query(ge=1, description="How many items to return: 1..[serving] max_k (default [serving] default_k)."),
    ] = None,
) -> int:
    """`k` from the query, defaulted and bounded by the serving settings of the app."""
    serving = request.app.state.settings.serving
    if k is None:
        return int(serving.default_k)
    if k > serving.max_k:
        raise InvalidInput(f"query parameter 'k': must be between 1 and {serving.max_k}, got {k}")
    return k


TopK = Annotated[int, Depends(top_k)]

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
