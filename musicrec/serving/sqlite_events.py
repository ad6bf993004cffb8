"""The default event store: an embedded SQLite database that survives restarts and kill -9.

Layout: one `WITHOUT ROWID` table keyed by `(user_id, seq)`, where `seq` numbers a user's events
1, 2, 3... in the order they were committed, each with its `kind` (listen, skip, dislike). The rows
of one user are therefore stored together and in order, so `get` reads `k` rows from the end of one
key range (O(k), no sort, no extra index), and trimming to the latest N is one range delete: a
user's `seq` values stay contiguous because only the oldest are ever deleted. Dislikes are also
kept in a second table keyed by `(user_id, item_id)`, trimmed to the latest `max_dislikes` per user,
in the same transaction as the event. A database made before kinds existed gets the `kind` column
(every old row a listen) when it is opened.

Order: `seq` and the listen's time are both assigned inside the write transaction, so the latest N
are the last N committed, and their times never go backwards (taken before the write lock, they came
out of order under concurrent puts).

Durability and group commit: WAL journal with `synchronous=FULL`, so a commit is on disk when `put`
returns, and the inserts and the trim happen in one transaction. Writers queue their listen, and
whoever holds the write lock commits every listen queued so far in one transaction: one fsync for
many puts under load (the others find theirs committed when they get the lock), and waiting writers
queue on a lock instead of SQLite's sleep-and-retry busy handler, which served some of them seconds
late. Each thread gets its own connection (SQLite connections must not be shared while in use);
readers run in parallel with the writer. A `get` reads a few rows of a local file and, under
WAL, never waits for the writer, so the events service calls it straight from its event loop
(`quick_reads`): the loop's thread simply gets a connection of its own.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from musicrec.errors import DependencyUnavailable
from musicrec.serving.event_store import Listen
from musicrec.serving.history import DISLIKE, LISTEN, EventKind

BUSY_TIMEOUT_SECONDS = 30.0

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS listens (
    user_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    item_id INTEGER NOT NULL,
    listened_at REAL NOT NULL,
    kind TEXT NOT NULL DEFAULT 'listen',
    PRIMARY KEY (user_id, seq)
) WITHOUT ROWID
"""
_ADD_KIND = "ALTER TABLE listens ADD COLUMN kind TEXT NOT NULL DEFAULT 'listen'"
_CREATE_DISLIKES = """
CREATE TABLE IF NOT EXISTS dislikes (
    user_id INTEGER NOT NULL,
    item_id INTEGER NOT NULL,
    disliked_at REAL NOT NULL,
    PRIMARY KEY (user_id, item_id)
) WITHOUT ROWID
"""
_INSERT = """
INSERT INTO listens (user_id, seq, item_id, listened_at, kind)
SELECT :user_id, COALESCE(MAX(seq), 0) + 1, :item_id, :listened_at, :kind FROM listens WHERE user_id = :user_id
"""
_TRIM = """
DELETE FROM listens
WHERE user_id = :user_id AND seq <= (SELECT MAX(seq) FROM listens WHERE user_id = :user_id) - :keep
"""
_LATEST = "SELECT item_id, listened_at, kind FROM listens WHERE user_id = ? ORDER BY seq DESC LIMIT ?"
_DISLIKE = """
INSERT INTO dislikes (user_id, item_id, disliked_at) VALUES (:user_id, :item_id, :listened_at)
ON CONFLICT (user_id, item_id) DO UPDATE SET disliked_at = excluded.disliked_at
"""
_TRIM_DISLIKES = """
DELETE FROM dislikes WHERE user_id = :user_id AND item_id NOT IN (
    SELECT item_id FROM dislikes WHERE user_id = :user_id ORDER BY disliked_at DESC, item_id LIMIT :keep)
"""
_DISLIKED = "SELECT item_id FROM dislikes WHERE user_id = ? ORDER BY disliked_at DESC, item_id LIMIT ?"


@dataclass
class _Queued:
    """A listen waiting to be committed, and how its commit went (read by the thread that put it)."""

    user_id: int
    item_id: int
    listened_at: float | None
    kind: EventKind = LISTEN
    done: bool = False
    error: str | None = None


class SqliteEventStore:
    """Latest `max_per_user` events and `max_dislikes` dislikes per user in the SQLite file at `path`
    (created if missing)."""

    quick_reads: ClassVar[bool] = True  # `get` may run on an event loop (see the module docstring)

    def __init__(self, path: Path, max_per_user: int, max_dislikes: int = 1000) -> None:
        self.path = Path(path)
        self.max_per_user = max_per_user
        self.max_dislikes = max_dislikes
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._queue: list[_Queued] = []  # listens waiting for the next commit
        self._queue_lock = threading.Lock()
        self._write_lock = threading.Lock()  # held by the one thread committing the queue
        self._latest_now = 0.0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._guard("open"):
            connection = self._connection()
            connection.execute(_CREATE_TABLE)
            columns = [row[1] for row in connection.execute("PRAGMA table_info(listens)")]
            if "kind" not in columns:  # made before events had kinds: every row so far is a listen
                connection.execute(_ADD_KIND)
            connection.execute(_CREATE_DISLIKES)

    def put(self, user_id: int, item_id: int, listened_at: float | None = None, kind: EventKind = LISTEN) -> None:
        mine = _Queued(user_id, item_id, listened_at, kind)
        with self._queue_lock:
            self._queue.append(mine)
        with self._write_lock:
            if not mine.done:  # nobody committed it while this thread waited: commit the queue
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._commit(batch)
        if mine.error is not None:
            raise DependencyUnavailable(mine.error)

    def _commit(self, batch: list[_Queued]) -> None:
        """Store `batch` in one transaction, in queue order; mark each listen done (or failed)."""
        try:
            with self._guard("store a listen in"):
                connection = self._connection()
                connection.execute("BEGIN IMMEDIATE")  # take SQLite's write lock now: no upgrade deadlocks
                try:
                    rows = [self._row(queued) for queued in batch]
                    connection.executemany(_INSERT, rows)
                    users = {queued.user_id for queued in batch}
                    connection.executemany(_TRIM, [{"user_id": user, "keep": self.max_per_user} for user in users])
                    dislikes = [row for row in rows if row["kind"] == DISLIKE]
                    if dislikes:
                        connection.executemany(_DISLIKE, dislikes)
                        disliking = {row["user_id"] for row in dislikes}
                        connection.executemany(_TRIM_DISLIKES, [{"user_id": user, "keep": self.max_dislikes}
                                                                for user in disliking])
                    connection.execute("COMMIT")
                except BaseException:
                    if connection.in_transaction:
                        connection.execute("ROLLBACK")
                    raise
            for queued in batch:
                queued.done = True
        except DependencyUnavailable as exc:
            for queued in batch:
                queued.error, queued.done = exc.message, True
        finally:  # interrupted some other way: the listens are not stored, and their writers hear it
            lost = f"the listen was not stored in the event store {self.path}"
            for queued in batch:
                if not queued.done:
                    queued.error, queued.done = lost, True

    def _row(self, queued: _Queued) -> dict[str, float | int | str]:
        """The values of one insert; "now" is taken under the write lock and never goes backwards."""
        listened_at = queued.listened_at
        if listened_at is None:
            listened_at = self._latest_now = max(time.time(), self._latest_now)
        return {"user_id": queued.user_id, "item_id": queued.item_id, "listened_at": listened_at,
                "kind": queued.kind}

    def get(self, user_id: int, k: int) -> list[Listen]:
        if k < 1:
            return []
        with self._guard("read listens from"):
            rows = self._connection().execute(_LATEST, (user_id, k)).fetchall()
        return [Listen(item_id=item_id, listened_at=listened_at, kind=kind) for item_id, listened_at, kind in rows]

    def disliked(self, user_id: int) -> list[int]:
        with self._guard("read dislikes from"):
            rows = self._connection().execute(_DISLIKED, (user_id, self.max_dislikes)).fetchall()
        return [item_id for (item_id,) in rows]

    def describe(self) -> str:
        with self._guard("count listens in"):
            rows, users = self._connection().execute(
                "SELECT COUNT(*), COUNT(DISTINCT user_id) FROM listens"
            ).fetchone()
        return f"sqlite {self.path}: {rows} events of {users} users (keeping {self.max_per_user} per user)"

    def unreachable(self) -> str | None:
        return None  # a local file, opened at start-up: there is no server to lose touch with

    def close(self) -> None:
        with self._connections_lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # only so close() can close it from another thread
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            with self._connections_lock:
                self._connections.append(connection)
            self._local.connection = connection
        return connection

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Turn SQLite failures (disk full, locked too long, unreadable file) into a 503 with a message."""
        try:
            yield
        except sqlite3.Error as error:
            raise DependencyUnavailable(f"cannot {action} the event store {self.path}: {error}") from error
