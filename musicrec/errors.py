"""Domain errors that carry their HTTP status.

Logic raises these with a message for people; the API's one exception handler turns them into
`{"detail": message}` with the status, so no route has its own try/except and nothing becomes a 500.
"""

from __future__ import annotations

from typing import ClassVar


class MusicRecError(Exception):
    """Base of the project's errors; `status_code` is what an HTTP caller gets."""

    status_code = 500
    headers: ClassVar[dict[str, str] | None] = None  # sent with the error answer

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(MusicRecError):
    """A request argument is out of range or malformed."""

    status_code = 422


class MalformedRequest(MusicRecError):
    """A request body that is not well-formed JSON (broken, or nested too deep)."""

    status_code = 400


class Unauthorized(MusicRecError):
    """The route needs the configured API key and the request did not carry it."""

    status_code = 401
    headers: ClassVar[dict[str, str] | None] = {"WWW-Authenticate": 'Bearer realm="musicrec"'}


class RequestTooLarge(MusicRecError):
    """A request body over `[serving] max_body_bytes`; the connection is closed, its rest never read."""

    status_code = 413
    headers: ClassVar[dict[str, str] | None] = {"Connection": "close"}


class NotFound(MusicRecError):
    """A user, track or resource the caller named does not exist."""

    status_code = 404


class ArtifactError(MusicRecError):
    """An artifact or raw file is missing, corrupt or has the wrong schema.

    Raised at start-up (a service refuses to start) or by the pipeline; the message names the file
    and the command that makes it.
    """

    status_code = 503


class DependencyUnavailable(MusicRecError):
    """Another service (events, features) did not answer in time."""

    status_code = 503


class RawDataError(MusicRecError):
    """A raw input file (tracks, catalog_names, interactions) is missing or has the wrong schema.

    The data came from the user, not from our pipeline, so it is a client-side problem (422); the
    message names the file and the column.
    """

    status_code = 422
