"""Checks that a store's "latest N" listens agree with what concurrent writers saw (store and HTTP tests)."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from musicrec.serving.event_store import Listen


@dataclass(frozen=True)
class Acknowledged:
    """One put as its writer saw it: when it was sent and when it returned (monotonic seconds)."""

    item_id: int
    sent: float
    returned: float


def concurrent_puts(put: Callable[[int], None], count: int, writers: int) -> list[Acknowledged]:
    """`count` puts of items 0..count-1 from `writers` threads at once, each timed by its writer."""
    def timed(item: int) -> Acknowledged:
        sent = time.monotonic()
        put(item)
        return Acknowledged(item, sent, time.monotonic())

    with ThreadPoolExecutor(writers) as pool:
        return list(pool.map(timed, range(count)))


def check_latest(found: list[Listen], acknowledged: list[Acknowledged], keep: int) -> None:
    """`found` (newest first) must be the latest `keep` listens in an order every writer agrees with.

    A listen acknowledged before another was sent is older than it. So no listen left out may have
    been sent after a listen in `found` was acknowledged, and within `found` no listen may come
    before (be newer than) one that was sent only after it had been acknowledged. Times never
    increase down the list.
    """
    by_item = {put.item_id: put for put in acknowledged}
    assert len(found) == min(keep, len(acknowledged))
    kept = [by_item[listen.item_id] for listen in found]
    assert len({put.item_id for put in kept}) == len(kept)
    earliest_kept_ack = min(put.returned for put in kept)
    left_out = [put for put in acknowledged if put.item_id not in {k.item_id for k in kept}]
    assert not [put.item_id for put in left_out if put.sent > earliest_kept_ack], "a newer listen was dropped"
    for newer, older in zip(kept, kept[1:]):
        assert not newer.returned < older.sent, (newer, older)
    times = [listen.listened_at for listen in found]
    assert times == sorted(times, reverse=True)
