"""uvicorn's HTTP protocol with two bounds it lacks: the size of a request head, and its time to arrive.

uvicorn's httptools protocol (the fast one the services use) accepts a request line and headers of
any size, buffering them in memory, and waits for a request as long as the client likes, so slow
senders can hold every connection (what was measured: bench/results/serving-notes.md). Its h11
protocol has a head limit but costs far more CPU per request. This subclass, the one place the services touch
uvicorn's internals (imported through `musicrec.api.compat`; guarded by tests/e2e/test_http_limits.py
against real uvicorn processes):

- counts the bytes received while a request head is incomplete; beyond `[serving] max_header_bytes`
  it answers 431 and closes the connection, so at most one read (256 KB) more is ever buffered;
- gives each request `[serving] read_timeout` seconds, from the connection's opening or the previous
  answer until the request (head and body) is complete; a request still arriving then gets 408 and
  the connection is closed. An idle keep-alive connection is closed earlier, by uvicorn (5 s).

Both answers are JSON `{"detail": ...}` like every other error of the services.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

from musicrec.api.compat import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle
from musicrec.settings import ServingSettings


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol bounding each request's head size and arrival time (see the module docstring)."""

    max_head_bytes: ClassVar[int] = 16384
    read_timeout: ClassVar[float] = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading_head = True
        self._head_bytes = 0
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._expect_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._reading_head and self._head_bytes > self.max_head_bytes:
            self._refuse(431, f"request line and headers over {self.max_head_bytes} bytes "
                              "([serving] max_header_bytes)")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True  # a pipelined request's head is counted too

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._cancel_deadline()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._expect_request()

    def _expect_request(self) -> None:
        self._reading_head = True
        self._head_bytes = 0
        self._cancel_deadline()
        self._deadline = self.loop.call_later(self.read_timeout, self._too_slow)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        cycle: RequestResponseCycle | None = self.cycle  # uvicorn types it as set; None before a request
        if self._head_bytes == 0 and self._reading_head and (cycle is None or cycle.response_complete):
            self.transport.close()  # nothing of a request arrived: just an idle connection
            return
        self._refuse(408, f"the request did not arrive within {self.read_timeout:g} s ([serving] read_timeout)")

    def _refuse(self, status: int, message: str) -> None:
        """Answer `status` with `{"detail": message}` (unless an answer is under way) and close."""
        if self.transport.is_closing():
            return
        self._cancel_deadline()
        cycle: RequestResponseCycle | None = self.cycle
        answering = cycle is not None and cycle.response_started and not cycle.response_complete
        if cycle is not None:
            cycle.disconnected = True  # the app's answer, if it still sends one, goes nowhere
        if not answering:
            body = json.dumps({"detail": message}).encode()
            head = [STATUS_LINE[status], b"content-type: application/json\r\n",
                    b"content-length: %d\r\n" % len(body), b"connection: close\r\n", b"\r\n"]
            self.transport.write(b"".join(head) + body)
        self.transport.close()


def bounded_protocol(serving: ServingSettings) -> type[BoundedHttpToolsProtocol]:
    """The protocol class with the limits of `serving`, for uvicorn's `Config(http=...)`."""
    return type("BoundedHttpToolsProtocol", (BoundedHttpToolsProtocol,), {
        "max_head_bytes": serving.max_header_bytes, "read_timeout": serving.read_timeout,
    })
