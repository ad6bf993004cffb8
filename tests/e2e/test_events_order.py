"""Concurrent `/put`s for one user over HTTP (the events service as a real uvicorn process): the latest
20 are exactly the last acknowledged, newest first, with times in order."""

from __future__ import annotations

import threading

import httpx
import pytest

from musicrec.serving.event_store import Listen
from tests.e2e.conftest import Trio
from tests.event_order import check_latest, concurrent_puts

pytestmark = pytest.mark.slow
USER = 4242  # used by this test only
PUTS, CONNECTIONS = 400, 64


def test_concurrent_puts_keep_the_true_latest_in_order(shared_trio: Trio) -> None:
    url = shared_trio.url("events")
    keep = shared_trio.settings.events.max_per_user
    local, clients = threading.local(), []

    def put(item: int) -> None:
        if not hasattr(local, "client"):  # one connection per writer thread
            local.client = httpx.Client(base_url=url, timeout=30)
            clients.append(local.client)
        local.client.post("/put", params={"user_id": USER, "item_id": item}).raise_for_status()

    try:
        acknowledged = concurrent_puts(put, PUTS, CONNECTIONS)
    finally:
        for client in clients:
            client.close()
    assert len(acknowledged) == PUTS  # every put was acknowledged, none lost to the concurrency
    answer = httpx.get(f"{url}/get", params={"user_id": USER, "k": keep}).json()
    found = [Listen(item, at) for item, at in zip(answer["events"], answer["listened_at"])]
    check_latest(found, acknowledged, keep)
