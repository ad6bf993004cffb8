"""The HTTP clients against a real local server: answers parsed, every failure one DependencyUnavailable."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from musicrec.api.clients import EventsClient, FeaturesClient
from musicrec.errors import DependencyUnavailable
from musicrec.runtime.launcher import free_port
from musicrec.serving.history import History
from musicrec.settings import ServingSettings

SERVING = ServingSettings(connect_timeout=0.2, request_timeout=0.3)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def good(request: web.Request) -> web.Response:
    if request.path == "/get":
        k = int(request.query["k"])
        events = [int(request.query["user_id"]) * 10 + n for n in range(k)]
        return web.json_response({"events": events, "kinds": ["listen", "skip", "dislike"][:k],
                                  "disliked": [events[-1]]})
    if request.path == "/put":
        return web.json_response({"result": "ok"})
    body = await request.json()
    return web.json_response({"items": [
        {"item_id": item, "item_id_2": [item + 1] * body["k"], "score": [0.5] * body["k"]}
        for item in body["item_ids"]
    ]})


async def wrong_shape(request: web.Request) -> web.Response:
    return web.json_response({"unexpected": True, "events": ["a"], "items": [{}]})


async def one_entry_too_few(request: web.Request) -> web.Response:
    asked = (await request.json())["item_ids"]
    entry = {"item_id": 1, "item_id_2": [2], "score": [0.5]}
    return web.json_response({"items": [entry] * (len(asked) - 1)})


async def failing(request: web.Request) -> web.Response:
    return web.json_response({"detail": "internal error"}, status=500)


async def not_json(request: web.Request) -> web.Response:
    return web.Response(text="<html>proxy error</html>", content_type="text/html")


async def too_slow(request: web.Request) -> web.Response:
    await asyncio.sleep(2)
    return await good(request)


def _run(handler: Handler | None, calls: Callable[[str], Awaitable[Any]]) -> Any:
    """Serve `handler` on a free port (or nothing, for a refused connection) and run `calls(url)`."""

    async def main() -> Any:
        if handler is None:
            return await calls(f"http://127.0.0.1:{free_port()}")
        app = web.Application()
        app.router.add_route("POST", "/{path:.*}", handler)
        async with TestServer(app, host="127.0.0.1") as server:
            return await calls(str(server.make_url("")).rstrip("/"))

    return asyncio.run(main())


def _recent_and_similar_with(serving: ServingSettings) -> Callable[[str], Awaitable[Any]]:
    async def calls(url: str) -> Any:
        events, features = EventsClient(url, serving), FeaturesClient(url, serving)
        try:
            await events.put(1, 2)
            await events.put(1, 2, kind="dislike")
            return await events.history(4, 3), await features.similar_batch([7, 9], 2)
        finally:
            await events.aclose()
            await features.aclose()

    return calls


def test_answers_are_parsed() -> None:
    recent, similar = _run(good, _recent_and_similar_with(SERVING))
    assert recent == History([40, 41, 42], ["listen", "skip", "dislike"], frozenset({42}))
    assert similar == [([8, 8], [0.5, 0.5]), ([10, 10], [0.5, 0.5])]


@pytest.mark.parametrize(
    ("handler", "message"),
    [(None, "Cannot connect"), (too_slow, "no answer within 0.3 s ([serving] request_timeout)"),
     (failing, "answered 500"),
     (not_json, "answered unexpectedly: Invalid JSON"),
     (wrong_shape, "answered unexpectedly: events.0: Input should be a valid integer")],
    ids=["refused", "slow", "error-status", "not-json", "wrong-shape"],
)
def test_every_failure_is_dependency_unavailable(handler: Handler | None, message: str) -> None:
    async def recent(url: str) -> History:
        events = EventsClient(url, SERVING)
        try:
            return await events.history(1, 3)
        finally:
            await events.aclose()

    with pytest.raises(DependencyUnavailable) as caught:
        _run(handler, recent)
    assert caught.value.message.startswith("events service")
    assert message in caught.value.message


def test_batch_of_the_wrong_length_or_shape_is_refused() -> None:
    async def similar(url: str) -> Any:
        features = FeaturesClient(url, SERVING)
        try:
            return await features.similar_batch([1, 2], 3)
        finally:
            await features.aclose()

    with pytest.raises(DependencyUnavailable, match="wrong length"):
        _run(one_entry_too_few, similar)
    with pytest.raises(DependencyUnavailable, match=r"answered unexpectedly: items\.0\.item_id_2: Field required"):
        _run(wrong_shape, similar)


def test_the_api_key_is_sent_when_one_is_set() -> None:
    seen: list[str | None] = []

    async def recording(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("X-API-Key"))
        return await good(request)

    for serving in (SERVING, ServingSettings(api_key="k3y")):
        _run(recording, _recent_and_similar_with(serving))
    assert seen == [None] * 4 + ["k3y"] * 4


def test_put_sends_a_kind_only_for_a_skip_or_a_dislike() -> None:
    seen: list[dict[str, str]] = []

    async def recording(request: web.Request) -> web.StreamResponse:
        if request.path == "/put":
            seen.append(dict(request.query))
        return await good(request)

    _run(recording, _recent_and_similar_with(SERVING))
    assert seen == [{"user_id": "1", "item_id": "2"}, {"user_id": "1", "item_id": "2", "kind": "dislike"}]


def test_an_events_service_without_kinds_gives_listens_and_no_dislikes() -> None:
    async def course_answer(request: web.Request) -> web.Response:
        return web.json_response({"events": [3, 2]})

    async def history(url: str) -> History:
        events = EventsClient(url, SERVING)
        try:
            return await events.history(1, 2)
        finally:
            await events.aclose()

    answer = _run(course_answer, history)
    assert (answer.listened, answer.skipped, answer.disliked) == ([3, 2], frozenset(), frozenset())



async def answers_in_450_ms(request: web.Request) -> web.Response:
    await asyncio.sleep(0.45)
    return await good(request)


def test_the_timeout_counts_the_dependency_not_the_wait_for_a_connection() -> None:
    """130 calls at once to a service answering each in 0.45 s, with a 1.2 s timeout: none times out
    (with a pool of 64 and the timeout counting the wait for it, the third wave did)."""
    serving = ServingSettings(connect_timeout=2.0, request_timeout=1.2)

    async def many(url: str) -> list[list[int]]:
        events = EventsClient(url, serving)
        try:
            answers = await asyncio.gather(*(events.history(user, 1) for user in range(130)))
            return [list(answer.items) for answer in answers]
        finally:
            await events.aclose()

    assert _run(answers_in_450_ms, many) == [[user * 10] for user in range(130)]


def test_a_dependency_that_keeps_failing_is_skipped_then_probed() -> None:
    serving = ServingSettings(request_timeout=0.2, breaker_failures=3, breaker_reset=0.5)
    slow = {"on": True}
    now = [0.0]  # the breaker's clock, moved by hand: its reset interval needs no real waiting

    async def switchable(request: web.Request) -> web.StreamResponse:
        return await (too_slow(request) if slow["on"] else good(request))

    async def calls(url: str) -> list[str]:
        events = EventsClient(url, serving, clock=lambda: now[0])
        outcomes = []
        try:
            for _ in range(6):
                started = asyncio.get_running_loop().time()
                try:
                    await events.history(1, 1)
                    outcomes.append("ok")
                except DependencyUnavailable as exc:
                    took = asyncio.get_running_loop().time() - started
                    outcomes.append(("skipped" if "skipped" in exc.message else "timed out")
                                    + (" at once" if took < 0.05 else ""))
            slow["on"] = False
            now[0] += 0.5
            for _ in range(2):
                await events.history(1, 1)
                outcomes.append("ok")
            return outcomes
        finally:
            await events.aclose()

    assert _run(switchable, calls) == ["timed out"] * 3 + ["skipped at once"] * 3 + ["ok", "ok"]
