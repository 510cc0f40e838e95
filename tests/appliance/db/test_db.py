"""The store database: durable pragmas on every connection, one transaction per write, one writer."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.db import Database, DatabaseError, IntegrityError
from appliance.runtime import Runtime

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "t.sqlite3")
    database.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    database.execute(
        "CREATE TABLE item (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id),"
        " name TEXT NOT NULL)"
    )
    database.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
    database.execute("INSERT INTO counter (id, n) VALUES (1, 0)")
    yield database
    database.close()


def pragmas(database: Database) -> dict[str, object]:
    return {
        name: database.pragma(name)
        for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
    }


EXPECTED = {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1, "busy_timeout": 30000}


def test_every_connection_is_durable(db: Database) -> None:
    assert pragmas(db) == EXPECTED
    seen: list[dict[str, object]] = []

    def other_thread() -> None:
        try:
            seen.append(pragmas(db))
        finally:
            db.close()

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert seen == [EXPECTED]
    # A connection opened again after close gets the pragmas again.
    db.close()
    assert pragmas(db) == EXPECTED


def test_the_store_database_is_durable(rt: Runtime) -> None:
    assert pragmas(rt.db) == EXPECTED
    assert Path(f"{rt.settings.database_path}-wal").exists()


def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(IntegrityError), db.write():
        db.execute("INSERT INTO item (parent_id, name) VALUES (42, 'orphan')")
    assert db.scalar("SELECT count(*) FROM item") == 0


def test_a_write_is_one_transaction(db: Database) -> None:
    with db.write():
        db.execute("INSERT INTO parent (id) VALUES (1)")
        db.execute("INSERT INTO item (parent_id, name) VALUES (1, 'a')")
    assert db.scalar("SELECT count(*) FROM item") == 1

    def sale_that_fails() -> None:
        with db.write():
            db.execute("INSERT INTO parent (id) VALUES (2)")
            db.execute("INSERT INTO item (parent_id, name) VALUES (2, 'b')")
            db.execute("UPDATE counter SET n = 99")
            raise RuntimeError("printer on fire")

    with pytest.raises(RuntimeError, match="printer on fire"):
        sale_that_fails()
    assert db.scalar("SELECT count(*) FROM parent") == 1
    assert db.scalar("SELECT count(*) FROM item") == 1
    assert db.scalar("SELECT n FROM counter") == 0


def test_a_failing_statement_rolls_back_the_whole_write(db: Database) -> None:
    def two_inserts() -> None:
        with db.write():
            db.execute("INSERT INTO parent (id) VALUES (5)")
            db.execute("INSERT INTO item (parent_id, name) VALUES (5, NULL)")

    with pytest.raises(IntegrityError):
        two_inserts()
    assert db.scalar("SELECT count(*) FROM parent") == 0


def test_a_nested_write_is_a_savepoint(db: Database) -> None:
    def inner_fails() -> None:
        with db.write():
            db.execute("INSERT INTO parent (id) VALUES (2)")
            raise ValueError("inner")

    with db.write():
        db.execute("INSERT INTO parent (id) VALUES (1)")
        with pytest.raises(ValueError, match="inner"):
            inner_fails()
        db.execute("INSERT INTO parent (id) VALUES (3)")
    assert [r[0] for r in db.query("SELECT id FROM parent ORDER BY id")] == [1, 3]

    # An error that escapes the inner write takes the outer one down with it.
    def outer_fails() -> None:
        with db.write():
            db.execute("INSERT INTO parent (id) VALUES (4)")
            with db.write():
                db.execute("INSERT INTO parent (id) VALUES (5)")
            raise ValueError("outer")

    with pytest.raises(ValueError, match="outer"):
        outer_fails()
    assert [r[0] for r in db.query("SELECT id FROM parent ORDER BY id")] == [1, 3]


def test_reads_outside_a_write_see_only_committed_rows(db: Database) -> None:
    seen: list[int] = []
    inside = threading.Event()
    release = threading.Event()

    def writer() -> None:
        try:
            with db.write():
                db.execute("INSERT INTO parent (id) VALUES (7)")
                inside.set()
                release.wait(5)
        finally:
            db.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert inside.wait(5)
        seen.append(db.scalar("SELECT count(*) FROM parent"))
    finally:
        release.set()
        thread.join()
    assert seen == [0]
    assert db.scalar("SELECT count(*) FROM parent") == 1


def test_threads_writing_at_once_take_turns(db: Database) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(4)
    per_thread = 40

    def bump() -> None:
        try:
            start.wait(5)
            for _ in range(per_thread):
                with db.write():
                    # Read, then write: lost updates would show if two writes interleaved.
                    n = db.scalar("SELECT n FROM counter WHERE id = 1")
                    time.sleep(0)
                    db.execute("UPDATE counter SET n = ? WHERE id = 1", (n + 1,))
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert db.scalar("SELECT n FROM counter WHERE id = 1") == 4 * per_thread


def _python(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_another_process_holding_the_write_lock_is_waited_for(db: Database) -> None:
    """The CLI writing while the server runs: busy_timeout makes the second writer wait."""
    holder = _python(
        f"""
        import sqlite3, sys, time
        conn = sqlite3.connect({str(db.path)!r}, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE counter SET n = n + 100 WHERE id = 1")
        print("locked", flush=True)
        time.sleep(0.8)
        conn.execute("COMMIT")
        conn.close()
        """
    )
    with holder:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        with db.write():
            db.execute("UPDATE counter SET n = n + 1 WHERE id = 1")
        waited = time.monotonic() - started
        _, err = holder.communicate(timeout=10)
    assert holder.returncode == 0, err
    assert waited >= 0.3
    assert db.scalar("SELECT n FROM counter WHERE id = 1") == 101


def test_another_process_waits_for_this_ones_write(db: Database) -> None:
    waiter = _python(
        f"""
        import sys, time
        from appliance.db import Database
        db = Database({str(db.path)!r})
        print(db.pragma("busy_timeout"), flush=True)
        sys.stdin.readline()
        started = time.monotonic()
        with db.write():
            db.execute("UPDATE counter SET n = n * 10 WHERE id = 1")
        print(round(time.monotonic() - started, 3), flush=True)
        db.close()
        """
    )
    with waiter:
        assert waiter.stdin is not None and waiter.stdout is not None
        assert waiter.stdout.readline().strip() == "30000"
        with db.write():
            db.execute("UPDATE counter SET n = 7 WHERE id = 1")
            waiter.stdin.write("go\n")
            waiter.stdin.flush()
            time.sleep(0.5)
        out, err = waiter.communicate(timeout=10)
    assert waiter.returncode == 0, err
    assert float(out.strip()) >= 0.2
    # The other process's write came after ours, on top of it.
    assert db.scalar("SELECT n FROM counter WHERE id = 1") == 70


def test_errors_found_while_reading_rows_are_the_databases_own_classes(tmp_path: Path) -> None:
    """A damaged page is found while stepping through rows, after execute() returned."""
    path = tmp_path / "damaged.sqlite3"
    database = Database(path)
    try:
        database.execute("CREATE TABLE big (id INTEGER PRIMARY KEY, filler TEXT NOT NULL)")
        with database.write():
            database.executemany(
                "INSERT INTO big (filler) VALUES (?)", [("x" * 200,) for _ in range(2000)]
            )
    finally:
        database.close()  # the last connection checkpoints the WAL into the file
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4096] = b"\xde\xad\xbe\xef" * 1024
    path.write_bytes(bytes(data))

    damaged = Database(path)
    try:
        with pytest.raises(DatabaseError, match="malformed"):
            damaged.query("SELECT * FROM big")
        with pytest.raises(DatabaseError, match="malformed"):
            damaged.scalar("SELECT sum(length(filler)) FROM big")
    finally:
        damaged.close()


def test_executemany_raises_the_databases_integrity_error(db: Database) -> None:
    def duplicates() -> None:
        with db.write():
            db.executemany("INSERT INTO parent (id) VALUES (?)", [(1,), (2,), (1,)])

    with pytest.raises(IntegrityError, match="UNIQUE"):
        duplicates()
    assert db.scalar("SELECT count(*) FROM parent") == 0


# ---- group commit ---------------------------------------------------------------------------


def _queue_behind_the_writer(db: Database, works: list[object]) -> list[object]:
    """Start one thread per work while this thread holds the writer, so they all queue and go
    in one group once it lets go; each thread's outcome (value or exception), in order."""
    outcomes: list[object] = [None] * len(works)

    def run(index: int) -> None:
        try:
            outcomes[index] = db.write_together(works[index])  # type: ignore[arg-type]
        except Exception as exc:
            outcomes[index] = exc
        finally:
            db.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(works))]
    with db.write():
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while len(db._queue) < len(works):
            assert time.monotonic() < deadline, "the threads never queued"
            time.sleep(0.001)
    for thread in threads:
        thread.join(timeout=10)
    return outcomes


def test_a_group_commits_together_and_a_failing_operation_rolls_back_alone(
    db: Database,
) -> None:
    db.execute("INSERT INTO parent (id) VALUES (1)")

    def work(n: int) -> object:
        def insert() -> tuple[int, int]:
            db.execute("INSERT INTO item (id, parent_id, name) VALUES (?, 1, ?)", (n, f"i{n}"))
            if n % 3 == 0:
                db.execute(
                    "INSERT INTO item (id, parent_id, name) VALUES (?, 99, 'orphan')", (100 + n,)
                )
            return n, threading.get_ident()

        return insert

    outcomes = _queue_behind_the_writer(db, [work(n) for n in range(1, 10)])
    failed = [n for n, o in enumerate(outcomes, start=1) if isinstance(o, IntegrityError)]
    assert failed == [3, 6, 9]
    done = [o for o in outcomes if isinstance(o, tuple)]
    assert [n for n, _ in done] == [1, 2, 4, 5, 7, 8]
    # One thread ran the whole group: one transaction, one COMMIT.
    assert len({ident for _, ident in done}) == 1
    stored = [row[0] for row in db.query("SELECT id FROM item ORDER BY id")]
    assert stored == [1, 2, 4, 5, 7, 8]


def test_a_failing_commit_fails_the_whole_group_and_keeps_nothing(db: Database) -> None:
    # A deferred foreign key is checked at COMMIT: one bad operation makes the COMMIT fail.
    db.execute(
        "CREATE TABLE note (id INTEGER PRIMARY KEY, parent_id INTEGER"
        " REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
    )

    def work(n: int) -> object:
        def insert() -> int:
            db.execute("INSERT INTO note (id, parent_id) VALUES (?, ?)", (n, 7 if n == 2 else None))
            return n

        return insert

    outcomes = _queue_behind_the_writer(db, [work(n) for n in range(1, 5)])
    assert all(isinstance(o, IntegrityError) for o in outcomes), outcomes
    assert db.scalar("SELECT count(*) FROM note") == 0
    # The database is usable afterwards.
    assert db.write_together(lambda: db.execute("INSERT INTO note (id) VALUES (1)").rowcount) == 1


def test_an_operation_alone_is_its_own_group(db: Database) -> None:
    def bump() -> int:
        db.execute("UPDATE counter SET n = n + 1 WHERE id = 1")
        return int(db.scalar("SELECT n FROM counter WHERE id = 1"))

    assert [db.write_together(bump) for _ in range(3)] == [1, 2, 3]
