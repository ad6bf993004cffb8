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

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from musicrec.api.access import Access, declare
from musicrec.api.state import ServiceState
from musicrec.api.wire import INT32_MAX, MAX_BATCH, TrackId
from musicrec.errors import InvalidInput
from musicrec.serving.selection import CAP_PER, ListOptions

INT32_DIGITS = len(str(INT32_MAX))
MAX_OFFSET = 1000  # how deep a page may start: bounds the ranking one request walks through
MAX_NAMES = 20  # genres (or artists) one request may filter on
MAX_NAME_LENGTH = 200
Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH)]


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


Exclude = Annotated[list[str] | None, Query(
    description="Tracks to leave out: ids, comma-separated or the parameter repeated "
                f"(at most {MAX_BATCH}; a POST body's `exclude` adds more).")]
Genre = Annotated[list[str] | None, Query(
    description="Keep only tracks of this genre, named as `details` names it (any case); repeat it for "
                "several (a track of any of them passes).")]
Artist = Annotated[list[str] | None, Query(
    description="Keep only tracks of this artist, named as `details` names it (any case); repeat it for "
                "several. Turns the cap per artist off.")]
Offset = Annotated[int, Digits, Query(
    ge=0, le=MAX_OFFSET, description="Skip this many tracks of the ranking: the next page starts at offset + k.")]
MaxPerArtist = Annotated[int | None, Digits, Query(
    ge=0, le=CAP_PER, description=f"Tracks of one main artist allowed per {CAP_PER} tracks of the list "
                                  "(scaled with k, at least 1); 0: no cap; default [serving] max_per_artist "
                                  "for blended lists, none for the others.")]


class ListFilters(BaseModel):
    """A POST body for long exclusion lists (query parameters given too add to these)."""

    model_config = ConfigDict(extra="forbid")

    exclude: list[TrackId] = Field(default_factory=list, max_length=MAX_BATCH,
                                   description="Track ids to leave out.")
    genre: list[Name] = Field(default_factory=list, max_length=MAX_NAMES, description="Genres to keep.")
    artist: list[Name] = Field(default_factory=list, max_length=MAX_NAMES, description="Artists to keep.")


Filters = Annotated[ListFilters | None, Body(description="Optional: more exclusions and filters (POST only).")]


def list_options(exclude: list[str] | None, genre: list[str] | None, artist: list[str] | None, offset: int,
                 max_per_artist: int | None, body: ListFilters | None) -> ListOptions:
    """The list options of a recommendation request, from its query and its optional body."""
    excluded = _track_ids("exclude", exclude or [])
    genres, artists = _names("genre", genre or []), _names("artist", artist or [])
    if body is not None:
        excluded |= frozenset(body.exclude)
        genres, artists = genres + tuple(body.genre), artists + tuple(body.artist)
    if len(excluded) > 2 * MAX_BATCH:
        raise InvalidInput(f"'exclude': at most {2 * MAX_BATCH} tracks in all, got {len(excluded)}")
    return ListOptions(offset=offset, exclude=excluded, genres=genres, artists=artists,
                       max_per_artist=max_per_artist)


def _track_ids(name: str, values: list[str]) -> frozenset[int]:
    """Ids from values like "1,2" (repeats allowed, empty parts ignored); 422 naming the bad one."""
    ids = [part for value in values for part in value.split(",") if part != ""]
    if len(ids) > MAX_BATCH:
        raise InvalidInput(f"query parameter '{name}': at most {MAX_BATCH} track ids, got {len(ids)}")
    for part in ids:
        if not (part.isascii() and part.isdigit()) or len(part.lstrip("0")) > INT32_DIGITS or int(part) > INT32_MAX:
            raise InvalidInput(f"query parameter '{name}': each id should be a whole number from 0 to "
                               f"{INT32_MAX} in the digits 0-9 only (got {part[:40]!r})")
    return frozenset(int(part) for part in ids)


def _names(name: str, values: list[str]) -> tuple[str, ...]:
    if len(values) > MAX_NAMES:
        raise InvalidInput(f"query parameter '{name}': at most {MAX_NAMES} names, got {len(values)}")
    for value in values:
        if not 1 <= len(value) <= MAX_NAME_LENGTH:
            raise InvalidInput(f"query parameter '{name}': a name of 1 to {MAX_NAME_LENGTH} characters, "
                               f"got {len(value)}")
    return tuple(values)


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
    router: APIRouter, path: str, *, access: Access = Access.READ, post_body: str | None = None,
    **route_options: Any
) -> Callable[[Endpoint], Endpoint]:
    """Register a read for POST (as the course's clients call it) and GET (handy in a browser).

    Two routes with distinct operation ids, because one route with both methods gives OpenAPI a
    duplicate operation id (a warning, and an ambiguous spec for clients generated from it).
    `post_body` names the endpoint's optional body parameter, which only POST takes: the GET route
    is the same endpoint without it (the body's default is passed instead).
    """
    return _register(router, path, ("POST", "GET"), access, route_options, post_body)


def post_only(router: APIRouter, path: str, **route_options: Any) -> Callable[[Endpoint], Endpoint]:
    """Register a write: POST only (a GET gets 405), and the key is needed whenever one is set."""
    return _register(router, path, ("POST",), Access.PRIVATE, route_options)


def _register(
    router: APIRouter, path: str, methods: tuple[str, ...], access: Access, route_options: dict[str, Any],
    post_body: str | None = None,
) -> Callable[[Endpoint], Endpoint]:
    def register(endpoint: Endpoint) -> Endpoint:
        declare(endpoint, access)
        for method in methods:
            handler = endpoint if method == "POST" or post_body is None else _without(endpoint, post_body)
            router.add_api_route(
                path,
                handler,
                methods=[method],
                operation_id=f"{endpoint.__name__}_{method.lower()}",
                **route_options,
            )
        return endpoint

    return register


def _without(endpoint: Endpoint, parameter: str) -> Endpoint:
    """`endpoint` as FastAPI sees one without `parameter` (called with its default)."""
    signature = inspect.signature(endpoint)
    default = signature.parameters[parameter].default

    @functools.wraps(endpoint)
    async def without(**values: Any) -> Any:
        return await endpoint(**values, **{parameter: default})

    # FastAPI reads the parameters from __signature__, which mypy does not know functions may carry
    without.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[value for name, value in signature.parameters.items() if name != parameter])
    return without  # type: ignore[return-value]  # the endpoint's call, less one keyword
