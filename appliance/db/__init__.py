"""The store's SQLite database: peewee connections with durable pragmas and a single writer."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Generic, TypeVar

import peewee

_log = logging.getLogger(__name__)

# peewee wraps sqlite3's errors in its own classes; callers catch these.
IntegrityError = peewee.IntegrityError
DatabaseError = peewee.DatabaseError


def _wrapped(exc: sqlite3.Error) -> Exception:
    """sqlite3's error as peewee's class of the same name (callers catch only those two)."""
    wrapper: type[Exception] = getattr(peewee, type(exc).__name__, DatabaseError)
    return wrapper(exc, *exc.args)


@contextmanager
def _wrap_errors() -> Iterator[None]:
    """Raise sqlite3's errors as peewee's classes of the same name.

    peewee wraps only cursor.execute(); an error that SQLite reports while stepping through
    the rows (a damaged page found by fetchall, say) would escape as a bare sqlite3 error.
    Every method here goes through this, so callers catch only the two classes above.
    """
    try:
        yield
    except sqlite3.Error as exc:
        wrapper = getattr(peewee, type(exc).__name__, DatabaseError)
        raise wrapper(exc, *exc.args) from exc


# Durability first: a sale exists once it is committed, so the WAL is fsynced at every
# commit (synchronous=FULL). busy_timeout covers another process writing meanwhile: a
# 100,000-row CLI import holds the write lock for about 8 s, and a sale must wait it out
# rather than fail.
PRAGMAS: tuple[tuple[str, Any], ...] = (
    ("journal_mode", "wal"),
    ("synchronous", "full"),
    ("foreign_keys", 1),
    ("busy_timeout", 30_000),
    ("temp_store", "memory"),
    # 2 MiB of page cache per connection; waitress threads each hold one, so keep it small
    # to stay inside the Pi's memory budget.
    ("cache_size", -2000),
    # A WAL that grew during a long import is cut back to this when it is next reset. (The
    # WAL is checkpointed by the committing connection at 1,000 pages, SQLite's default: a
    # checkpointer thread of its own was tried, and either let the WAL grow without end
    # under steady reads or stalled commits to reset it; see benchmarks.md.)
    ("journal_size_limit", 16 * 1024 * 1024),
)


T = TypeVar("T")

# How many queued operations one group commit takes at most; the rest go in the next.
GROUP_MAX = 64


class _Queued(Generic[T]):
    """One operation waiting for a group commit, and what became of it."""

    __slots__ = ("done", "error", "value", "work")

    def __init__(self, work: Callable[[], T]) -> None:
        self.work = work
        self.done = False
        self.value: T | None = None
        self.error: BaseException | None = None

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]  # set when done without error


class _SqliteDatabase(peewee.SqliteDatabase):
    """peewee's SqliteDatabase, with rows that can be read by column name."""

    def _add_conn_hooks(self, conn: sqlite3.Connection) -> None:
        super()._add_conn_hooks(conn)  # type: ignore[misc]  # not in peewee's annotations
        conn.row_factory = sqlite3.Row


class Database:
    """One store database. Reads run on per-thread connections; writes go one at a time."""

    def __init__(self, path: Path | str, *, busy_timeout_ms: int = 30_000) -> None:
        self.path = Path(path)
        pragmas = tuple(
            (name, busy_timeout_ms if name == "busy_timeout" else value) for name, value in PRAGMAS
        )
        self.peewee = _SqliteDatabase(
            str(self.path),
            pragmas=pragmas,
            # BEGIN IMMEDIATE takes the write lock up front, so a transaction never fails
            # halfway with SQLITE_BUSY when it upgrades from reading to writing.
            lock_type="IMMEDIATE",
            check_same_thread=False,
            timeout=busy_timeout_ms / 1000,
        )
        self._writer = threading.RLock()
        self._queue: list[_Queued[Any]] = []
        self._queue_lock = threading.Lock()

    @contextmanager
    def write(self) -> Iterator[None]:
        """One business operation as one write transaction; nested calls become savepoints."""
        with self._writer, self.peewee.atomic():
            yield

    def write_together(self, work: Callable[[], T]) -> T:
        """Run `work` as one write operation, committed with whatever other threads queued
        meanwhile: one COMMIT, so one fsync, for the group (group commit).

        Each operation runs in its own savepoint: one that raises is rolled back alone, and
        its error is raised in its own thread. None returns before the COMMIT that holds it
        has returned, so an answered push is on disk. Whichever waiting thread takes the
        writer lock first runs the queue on its own connection (the others' work included),
        so `work` must not rely on thread-local state.
        """
        mine: _Queued[T] = _Queued(work)
        with self._queue_lock:
            self._queue.append(mine)
        with self._writer:
            if mine.done:
                return mine.outcome()
            with self._queue_lock:
                # This thread's own first, then the oldest others, GROUP_MAX in all.
                self._queue.remove(mine)
                group: list[_Queued[Any]] = [mine, *self._queue[: GROUP_MAX - 1]]
                del self._queue[: GROUP_MAX - 1]
            try:
                with self.peewee.atomic():
                    for queued in group:
                        try:
                            with self.peewee.atomic():
                                queued.value = queued.work()
                        except Exception as exc:
                            queued.error = exc
            except BaseException as exc:
                # The COMMIT (or a savepoint's rollback) failed: nothing of the group is kept.
                for queued in group:
                    queued.value, queued.error = None, exc
                raise
            finally:
                for queued in group:
                    queued.done = True
        return mine.outcome()

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        """Run one statement on this thread's connection."""
        # Straight to sqlite3 (the connection runs in autocommit mode, as peewee's does):
        # a push runs thirty statements, and peewee's per-statement wrapper was a tenth of it.
        try:
            cursor: sqlite3.Cursor = self.peewee.connection().execute(sql, params)
        except sqlite3.Error as exc:
            raise _wrapped(exc) from exc
        return cursor

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for many rows (bulk import)."""
        connection = self.connection()
        with _wrap_errors():
            connection.executemany(sql, rows)

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        """All rows of a query."""
        try:
            rows: list[sqlite3.Row] = self.peewee.connection().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise _wrapped(exc) from exc
        return rows

    def one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Row | None:
        """The first row of a query, or None."""
        try:
            row: sqlite3.Row | None = self.peewee.connection().execute(sql, params).fetchone()
        except sqlite3.Error as exc:
            raise _wrapped(exc) from exc
        return row

    def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        """The first column of the first row, or None."""
        row = self.one(sql, params)
        return None if row is None else row[0]

    def connection(self) -> sqlite3.Connection:
        """This thread's sqlite3 connection, opened on first use."""
        conn: sqlite3.Connection = self.peewee.connection()
        return conn

    def close(self) -> None:
        """Close this thread's connection."""
        if not self.peewee.is_closed():
            self.peewee.close()

    def pragma(self, name: str) -> Any:
        """Read one PRAGMA value."""
        return self.scalar(f"PRAGMA {name}")
