"""The store's SQLite database: peewee connections with durable pragmas and a single writer."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import peewee

_log = logging.getLogger(__name__)

# peewee wraps sqlite3's errors in its own classes; callers catch these.
IntegrityError = peewee.IntegrityError
DatabaseError = peewee.DatabaseError

# Durability first: a sale exists once it is committed, so the WAL is fsynced at every
# commit (synchronous=FULL). busy_timeout covers the CLI writing while the server runs.
PRAGMAS: tuple[tuple[str, Any], ...] = (
    ("journal_mode", "wal"),
    ("synchronous", "full"),
    ("foreign_keys", 1),
    ("busy_timeout", 5000),
    ("temp_store", "memory"),
    # 2 MiB of page cache per connection; waitress threads each hold one, so keep it small
    # to stay inside the Pi's memory budget.
    ("cache_size", -2000),
)


class _SqliteDatabase(peewee.SqliteDatabase):
    """peewee's SqliteDatabase, with rows that can be read by column name."""

    def _add_conn_hooks(self, conn: sqlite3.Connection) -> None:
        super()._add_conn_hooks(conn)  # type: ignore[misc]  # not in peewee's annotations
        conn.row_factory = sqlite3.Row


class Database:
    """One store database. Reads run on per-thread connections; writes go one at a time."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.peewee = _SqliteDatabase(
            str(self.path),
            pragmas=PRAGMAS,
            # BEGIN IMMEDIATE takes the write lock up front, so a transaction never fails
            # halfway with SQLITE_BUSY when it upgrades from reading to writing.
            lock_type="IMMEDIATE",
            check_same_thread=False,
            timeout=5,
        )
        self._writer = threading.RLock()

    @contextmanager
    def write(self) -> Iterator[None]:
        """One business operation as one write transaction; nested calls become savepoints."""
        with self._writer, self.peewee.atomic():
            yield

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        """Run one statement on this thread's connection."""
        cursor: sqlite3.Cursor = self.peewee.execute_sql(sql, params)
        return cursor

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for many rows (bulk import)."""
        self.connection().executemany(sql, rows)

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        """All rows of a query."""
        return self.execute(sql, params).fetchall()

    def one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Row | None:
        """The first row of a query, or None."""
        row: sqlite3.Row | None = self.execute(sql, params).fetchone()
        return row

    def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        """The first column of the first row, or None."""
        row = self.execute(sql, params).fetchone()
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
