"""The services' answers and request bodies as they travel over HTTP: one definition for server and client.

The apps name these as their routes' `response_model` (the OpenAPI schema and `/docs`) and build
their answers as dict literals of these types; `musicrec.api.clients` checks the bytes it receives
against the same types. Answers are TypedDicts rather than pydantic models because both ends hold
plain dicts: handlers hand a dict to `JSONResponse` and the client validates the body straight into
dicts, so no model objects are made per request, and a type checker still checks every field. A
request body stays a pydantic model: FastAPI validates bodies into one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, NotRequired

from pydantic import BaseModel, Field, StrictInt
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from musicrec.serving.blending import Relation
from musicrec.serving.history import EventKind

if TYPE_CHECKING:  # only for the converters' signatures: clients of this module need no catalog code
    from musicrec.serving import reasons
    from musicrec.serving.catalog import TrackDetails

INT32_MAX = 2**31 - 1  # ids are int32 in every artifact, so a larger one can never be known
MAX_BATCH = 1000  # tracks per batch call: bounds the work one request can ask for

TrackId = Annotated[StrictInt, Field(ge=0, le=INT32_MAX)]  # in JSON: an integer, not 1.0 or "1"


class ErrorResponse(TypedDict):
    """Every error answer: a message for people."""

    detail: str


class HealthResponse(TypedDict):
    status: str
    artifact_set: NotRequired[str]  # the set a service that loads artifacts serves now


class ReloadResponse(TypedDict):
    """What `POST /admin/reload` did: the set serving now, and whether it just switched to it."""

    artifact_set: str
    switched: bool


# --- recommendations (8000) -------------------------------------------------------------------------
class Reason(TypedDict):
    """Why a track is recommended (see musicrec.serving.reasons)."""

    source: Annotated[Literal["online", "offline", "popular", "catalog"], Field(
        description="online: similar to a recent listen; offline: the personal list; popular: top popular; "
                    "catalog: a catalogue track that passed the filters when the lists had too few.")]
    text: Annotated[str, Field(description="The reason in words, for people.")]
    because_of: Annotated[int | None, Field(description="online: the recent listen it is most similar to.")]
    proposed_by: Annotated[str | None, Field(
        description="offline: the candidate source that proposed it, when the artifact set names it.")]


class TrackInfo(TypedDict):
    item_id: int
    name: str | None
    artists: list[str]
    genres: list[str]
    reason: NotRequired[Reason]


def track_info(track: TrackDetails, reason: reasons.Reason | None = None) -> TrackInfo:
    """A track's details (and why it is recommended) as they go over the wire, field by field."""
    info = TrackInfo(item_id=track.item_id, name=track.name, artists=track.artists, genres=track.genres)
    if reason is not None:
        info["reason"] = Reason(source=reason.source, text=reason.text, because_of=reason.because_of,
                                proposed_by=reason.proposed_by)
    return info


class RecsResponse(TypedDict):
    """The course answer `recs`, plus `degraded` (a dependency failed) and optional `details`."""

    recs: list[int]
    degraded: NotRequired[bool]
    details: NotRequired[list[TrackInfo]]
    arm: NotRequired[Annotated[str, Field(description="With details and an A/B experiment: the user's arm.")]]


# The web page's routes on the recommendations service.
class TracksResponse(TypedDict):
    """Tracks found by a search, best match first."""

    tracks: list[TrackInfo]


class ListenerResponse(TypedDict):
    """A user to try the service with."""

    user_id: int
    kind: Annotated[Literal["known", "cold", "long"], Field(
        description="known: has a personal list; cold: unknown; long: a heavy listener.")]
    listens: Annotated[int | None, Field(description="long: listens in the artifact set's log.")]


class ArtifactSetInfo(TypedDict):
    name: Annotated[str, Field(description="The artifact set's folder name.")]
    created_at: Annotated[str | None, Field(description="When the pipeline made it (manifest.json).")]
    tuned: Annotated[bool | None, Field(description="Whether the pipeline learned its settings from the data "
                                                    "(false: a quick set; null: not said, e.g. a course folder).")]


class ServingInfo(TypedDict):
    """The serving options the page shows."""

    max_per_artist: Annotated[int, Field(description="[serving] max_per_artist: the blended lists' cap.")]
    filter_heard: bool


class AboutResponse(TypedDict):
    """What the page shows beside the lists: the artifact set, its offline quality, the docs, and the
    serving options it shows."""

    artifact_set: ArtifactSetInfo
    quality: Annotated[dict[str, Any] | None, Field(description="metrics.json of the set, if it has one.")]
    docs: Annotated[dict[str, str], Field(description="Each service's /docs page.")]
    serving: ServingInfo


# --- events (8020) ----------------------------------------------------------------------------------
class PutResponse(TypedDict):
    result: Annotated[Literal["ok"], Field(description="The event is stored durably.")]


class RecentEvents(TypedDict):
    """The part of `/get` every events service answers, the course's included: what clients read.

    `kinds` and `disliked` are absent from an events service older than kinds: all listens, no dislikes.
    """

    events: Annotated[list[int], Field(description="Track ids of the user's latest events, newest first.")]
    kinds: NotRequired[Annotated[list[EventKind], Field(description="The kind of each of them.")]]
    disliked: NotRequired[Annotated[list[int], Field(
        description="Every track the user disliked (the latest [events] max_dislikes_per_user), newest first.")]]


class EventsResponse(RecentEvents):
    listened_at: Annotated[list[float], Field(description="When each of them was stored, unix seconds.")]


# --- features (8010) --------------------------------------------------------------------------------
class SimilarItemsResponse(TypedDict):
    """The course answer: similar tracks and their scores, best first."""

    item_id_2: list[int]
    score: list[float]
    relations: NotRequired[Annotated[list[Relation], Field(
        description="Only for a new track, whose similar tracks are found by content: what each shares "
                    "with it (album, artist or genre).")]]


class SimilarItemsOfTrack(SimilarItemsResponse):
    item_id: int


class SimilarItemsBatchResponse(TypedDict):
    """One entry per asked track, in the order asked (unknown tracks get empty lists)."""

    items: list[SimilarItemsOfTrack]


class SimilarItemsBatchRequest(BaseModel):
    """JSON integers only: `1.0`, `"5"` or `true` are not track ids (nor counts)."""

    item_ids: list[TrackId] = Field(max_length=MAX_BATCH)
    k: StrictInt = Field(10, ge=1, description="Similar tracks per track: 1..[serving] max_k.")
