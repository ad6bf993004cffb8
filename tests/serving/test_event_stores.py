"""One contract for every event store backend: SQLite (a temp file) and Redis (a real redis-server)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from musicrec.cluster.redis_server import running_redis_server
from musicrec.errors import DependencyUnavailable
from musicrec.runtime.launcher import free_port
from musicrec.serving.event_backends import open_event_store
from musicrec.serving.event_store import EventStore, Listen
from musicrec.serving.redis_events import RedisEventStore, decode_listen, encode_listen
from musicrec.settings import EventSettings
from tests.event_order import check_latest, concurrent_puts

OpenStore = Callable[..., EventStore]


@pytest.fixture(params=["sqlite", "redis"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    """Opens stores of one backend on the same empty storage; closes them all after the test."""
    backend = request.param
    settings = EventSettings(backend=backend, sqlite_path=tmp_path / "events.sqlite3", max_per_user=3)
    if backend == "redis":
        url = request.getfixturevalue("redis_url")
        with redis.Redis.from_url(url) as client:
            client.flushdb()
        settings = settings.model_copy(update={"redis_url": url})
    opened: list[EventStore] = []

    def open_(max_per_user: int = 3, max_dislikes: int = 1000) -> EventStore:
        store = open_event_store(settings.model_copy(update={"max_per_user": max_per_user,
                                                              "max_dislikes_per_user": max_dislikes}))
        opened.append(store)
        return store

    yield open_
    for store in opened:
        store.close()


def items(listens: list[Listen]) -> list[int]:
    return [listen.item_id for listen in listens]


def test_newest_first_at_most_k(open_store: OpenStore) -> None:
    store = open_store()
    for item in (10, 11, 12):
        store.put(user_id=1, item_id=item)
    assert items(store.get(1, k=10)) == [12, 11, 10]
    assert items(store.get(1, k=2)) == [12, 11]
    assert store.get(1, k=0) == []


def test_unknown_user_has_no_listens(open_store: OpenStore) -> None:
    assert open_store().get(42, k=5) == []


def test_keeps_exactly_the_latest_n(open_store: OpenStore) -> None:
    store = open_store(max_per_user=3)
    for item in range(1, 8):
        store.put(user_id=5, item_id=item)
    assert items(store.get(5, k=10)) == [7, 6, 5]
    # A store allowed to keep more still finds only 3: the older ones were deleted, not hidden.
    assert items(open_store(max_per_user=10).get(5, k=10)) == [7, 6, 5]


def test_repeated_listens_of_one_track_are_kept(open_store: OpenStore) -> None:
    store = open_store()
    for item in (9, 9, 8):
        store.put(user_id=2, item_id=item)
    assert items(store.get(2, k=3)) == [8, 9, 9]


def test_users_are_isolated(open_store: OpenStore) -> None:
    store = open_store()
    store.put(user_id=1, item_id=100)
    store.put(user_id=2, item_id=200)
    store.put(user_id=1, item_id=101)
    assert items(store.get(1, k=5)) == [101, 100]
    assert items(store.get(2, k=5)) == [200]


def test_listen_times_are_kept(open_store: OpenStore) -> None:
    store = open_store()
    store.put(user_id=3, item_id=1, listened_at=1_700_000_000.25)
    before = time.time()
    store.put(user_id=3, item_id=2)
    newest, oldest = store.get(3, k=2)
    assert oldest == Listen(item_id=1, listened_at=1_700_000_000.25)
    assert before - 1 <= newest.listened_at <= time.time() + 1


def test_extreme_ids_round_trip(open_store: OpenStore) -> None:
    store = open_store()
    store.put(user_id=2**31 - 1, item_id=0)
    store.put(user_id=0, item_id=2**31 - 1)
    assert items(store.get(2**31 - 1, k=1)) == [0]
    assert items(store.get(0, k=1)) == [2**31 - 1]


def test_concurrent_puts_from_threads_lose_nothing(open_store: OpenStore) -> None:
    store = open_store(max_per_user=1000)
    threads, per_thread = 8, 40

    def put_many(thread: int) -> None:
        for n in range(per_thread):
            store.put(user_id=thread % 2, item_id=thread * 1000 + n)  # two users, four writers each

    workers = [threading.Thread(target=put_many, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for user in (0, 1):
        found = items(store.get(user, k=1000))
        writers = [t for t in range(threads) if t % 2 == user]
        assert sorted(found) == sorted(t * 1000 + n for t in writers for n in range(per_thread))
        for t in writers:  # each writer's listens come back in the reverse of its put order
            own = [item for item in found if item // 1000 == t]
            assert own == sorted(own, reverse=True)


def test_reopened_store_finds_everything(open_store: OpenStore) -> None:
    first = open_store()
    first.put(user_id=7, item_id=70)
    first.put(user_id=7, item_id=71)
    first.close()
    assert items(open_store().get(7, k=5)) == [71, 70]


def test_describe_names_the_backend(open_store: OpenStore) -> None:
    store = open_store()
    store.put(user_id=1, item_id=1)
    store.put(user_id=2, item_id=1)
    assert "2 users" in store.describe()


def test_each_event_keeps_its_kind(open_store: OpenStore) -> None:
    store = open_store()
    store.put(user_id=1, item_id=10)
    store.put(user_id=1, item_id=11, kind="skip")
    store.put(user_id=1, item_id=12, kind="dislike")
    assert [(listen.item_id, listen.kind) for listen in store.get(1, k=5)] == [
        (12, "dislike"), (11, "skip"), (10, "listen")]
    assert store.disliked(1) == [12]
    assert store.disliked(2) == []


def test_a_dislike_outlives_the_window_of_latest_events(open_store: OpenStore) -> None:
    store = open_store(max_per_user=3)
    store.put(user_id=4, item_id=40, listened_at=100.0, kind="dislike")
    for item in range(1, 6):
        store.put(user_id=4, item_id=item, listened_at=100.0 + item)
    assert 40 not in items(store.get(4, k=10))
    assert store.disliked(4) == [40]
    store.close()
    assert open_store().disliked(4) == [40]  # as durable as the listens


def test_only_the_latest_dislikes_are_kept_and_a_repeated_one_is_renewed(open_store: OpenStore) -> None:
    store = open_store(max_per_user=10, max_dislikes=2)
    for at, item in enumerate([1, 2, 1, 3]):  # 1 again: now newer than 2
        store.put(user_id=6, item_id=item, listened_at=1000.0 + at, kind="dislike")
    assert store.disliked(6) == [3, 1]


def test_an_open_store_is_reachable(open_store: OpenStore) -> None:
    assert open_store().unreachable() is None


def test_a_redis_store_outlives_a_kill_of_its_server(tmp_path: Path) -> None:
    """While the server is down every call is a clear 503; once it is back the same store works again."""
    with running_redis_server(tmp_path / "redis") as server:
        store = RedisEventStore(server.url, max_per_user=3)
        try:
            store.put(user_id=1, item_id=10)
            assert server.process is not None
            server.process.kill()
            server.process.wait()
            down = store.unreachable() or ""
            assert down.startswith(f"cannot reach the Redis event store at {server.url}")
            with pytest.raises(DependencyUnavailable, match="cannot store a listen in the Redis event store"):
                store.put(user_id=1, item_id=11)
            with pytest.raises(DependencyUnavailable, match="cannot read listens from the Redis event store"):
                store.get(1, k=3)
            server.start()  # same port and files: the append-only file is replayed
            assert store.unreachable() is None
            store.put(user_id=1, item_id=12)
            assert items(store.get(1, k=3)) == [12, 10]
        finally:
            store.close()


def test_unreachable_redis_is_a_clear_503() -> None:
    settings = EventSettings(backend="redis", redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(DependencyUnavailable, match="cannot reach the Redis event store at redis://127.0.0.1"):
        open_event_store(settings)


def test_unusable_sqlite_file_is_a_clear_503(tmp_path: Path) -> None:
    not_a_database = tmp_path / "events.sqlite3"
    not_a_database.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DependencyUnavailable, match="event store .*events.sqlite3"):
        open_event_store(EventSettings(sqlite_path=not_a_database))


@pytest.mark.parametrize("keep", [20, 1000])
def test_many_concurrent_writers_for_one_user_keep_the_true_latest(open_store: OpenStore, keep: int) -> None:
    """400 puts for one user from 64 threads: the latest `keep` come back exactly, newest first."""
    store = open_store(max_per_user=keep)
    acknowledged = concurrent_puts(lambda item: store.put(user_id=9, item_id=item), 400, 64)
    check_latest(store.get(9, k=keep), acknowledged, keep)


def test_a_database_made_before_kinds_opens_with_its_listens(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    with sqlite3.connect(path) as old:  # the layout of the first release
        old.execute("CREATE TABLE listens (user_id INTEGER NOT NULL, seq INTEGER NOT NULL, item_id INTEGER "
                    "NOT NULL, listened_at REAL NOT NULL, PRIMARY KEY (user_id, seq)) WITHOUT ROWID")
        old.execute("INSERT INTO listens VALUES (1, 1, 10, 100.0), (1, 2, 11, 101.0)")
    store = open_event_store(EventSettings(sqlite_path=path))
    try:
        store.put(user_id=1, item_id=12, kind="skip")
        assert [(listen.item_id, listen.kind) for listen in store.get(1, k=5)] == [
            (12, "skip"), (11, "listen"), (10, "listen")]
    finally:
        store.close()


def test_redis_elements_written_before_kinds_are_listens() -> None:
    assert decode_listen(b"10:100.5") == Listen(10, 100.5, "listen")
    assert encode_listen(10, 100.5) == "10:100.5"  # a listen is written as before
    assert decode_listen(encode_listen(10, 100.5, "dislike").encode()) == Listen(10, 100.5, "dislike")
