"""Numbered migrations: discovery, idempotent runs, a backup before each change, rollback on failure."""

from __future__ import annotations

import contextlib
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import peewee
import pytest
from playhouse.migrate import SqliteMigrator

from appliance.db import Database
from appliance.db import migrate as migrate_module
from appliance.db.migrate import (
    KEEP_BACKUPS,
    Migration,
    MigrationFailed,
    applied,
    discover,
    migrate,
    pending,
)

TILLBOX = str(Path(sys.executable).parent / "tillbox")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "tillbox.sqlite3")
    yield database
    database.close()


def columns(database: Database | sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in database.execute(f"PRAGMA table_info({table})").fetchall()]


def add_note_column(number: int, column: str = "note") -> Migration:
    def up(database: Database, migrator: SqliteMigrator) -> None:
        migrator.add_column("variant", column, peewee.TextField(null=True)).run()

    return Migration(number=number, name=f"{number:04d}_add_{column}", up=up, summary="")


def failing(number: int) -> Migration:
    def up(database: Database, migrator: SqliteMigrator) -> None:
        database.execute("CREATE TABLE half_done (id INTEGER PRIMARY KEY)")
        migrator.add_column("variant", "broken", peewee.TextField(null=True)).run()
        raise RuntimeError("disk on fire")

    return Migration(number=number, name=f"{number:04d}_broken", up=up, summary="")


def with_extra(monkeypatch: pytest.MonkeyPatch, *extra: Migration) -> None:
    real = discover()
    monkeypatch.setattr(migrate_module, "discover", lambda: [*real, *extra])


def test_discover_finds_the_initial_migration() -> None:
    found = discover()
    assert found[0].number == 1
    assert found[0].name == "0001_initial"
    assert found[0].summary.startswith("Initial schema")
    assert [m.number for m in found] == list(range(1, len(found) + 1))


def test_a_fresh_file_gets_every_migration_and_no_backup(db: Database, tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    result = migrate(db, backup_dir=backups)
    assert result.applied == tuple(m.name for m in discover())
    assert result.backup is None
    assert not backups.exists() or not any(backups.iterdir())
    assert applied(db) == {m.name for m in discover()}
    assert pending(db) == []
    assert "event" in {r[0] for r in db.query("SELECT name FROM sqlite_master")}


def test_a_second_run_is_a_no_op(db: Database, tmp_path: Path) -> None:
    migrate(db, backup_dir=tmp_path / "backups")
    schema = db.query("SELECT name, sql FROM sqlite_master ORDER BY name")
    stamps = db.query("SELECT name, applied_at FROM schema_migrations ORDER BY name")
    again = migrate(db, backup_dir=tmp_path / "backups")
    assert again.applied == ()
    assert again.backup is None
    assert [tuple(r) for r in db.query("SELECT name, sql FROM sqlite_master ORDER BY name")] == [
        tuple(r) for r in schema
    ]
    assert [tuple(r) for r in db.query("SELECT name, applied_at FROM schema_migrations")] == [
        tuple(r) for r in stamps
    ]
    assert not (tmp_path / "backups").exists()


def test_a_pending_migration_is_applied_after_a_backup(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backups = tmp_path / "backups"
    migrate(db, backup_dir=backups)
    with db.write():
        db.execute("INSERT INTO store_info (key, value) VALUES ('store', 's01')")
    extra = add_note_column(len(discover()) + 1)
    with_extra(monkeypatch, extra)
    assert [m.name for m in pending(db)] == [extra.name]

    result = migrate(db, backup_dir=backups)

    assert result.applied == (extra.name,)
    assert "note" in columns(db, "variant")
    assert extra.name in applied(db)
    assert result.backup is not None
    assert result.backup.parent == backups
    assert re.fullmatch(
        rf"tillbox-\d{{8}}T\d{{6}}(-\d+)?-before-{extra.name}\.sqlite3", result.backup.name
    )
    with contextlib.closing(sqlite3.connect(result.backup)) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # The copy is the schema as it was before: no new column, no record of the migration.
        assert "note" not in columns(copy, "variant")
        names = {r[0] for r in copy.execute("SELECT name FROM schema_migrations")}
        assert extra.name not in names and "0001_initial" in names
        assert copy.execute("SELECT value FROM store_info WHERE key = 'store'").fetchone() == (
            "s01",
        )
    # And running again is a no-op that makes no new backup.
    assert migrate(db, backup_dir=backups) == migrate_module.MigrateResult(applied=(), backup=None)
    assert len(list(backups.iterdir())) == 1


def test_only_the_newest_backups_are_kept(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backups = tmp_path / "backups"
    migrate(db, backup_dir=backups)
    base = len(discover())
    extras: list[Migration] = []
    made: list[Path] = []
    for i in range(KEEP_BACKUPS + 3):
        extras.append(add_note_column(base + 1 + i, column=f"c{i}"))
        with_extra(monkeypatch, *extras)
        result = migrate(db, backup_dir=backups)
        assert result.applied == (extras[-1].name,)
        assert result.backup is not None
        made.append(result.backup)
    kept = sorted(p.name for p in backups.iterdir())
    # Several backups land in the same second; the newest five survive, whatever their names.
    assert kept == sorted(p.name for p in made[-KEEP_BACKUPS:])
    for name in kept:
        assert re.search(r"-before-\d{4}_add_c\d\.sqlite3$", name)


def test_a_failing_migration_rolls_back_its_own_transaction(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate(db, backup_dir=tmp_path / "backups")
    before = {r[0] for r in db.query("SELECT name FROM schema_migrations")}
    good = add_note_column(len(discover()) + 1)
    bad = failing(good.number + 1)
    with_extra(monkeypatch, good, bad)

    with pytest.raises(MigrationFailed, match=rf"{bad.name}.*disk on fire") as caught:
        migrate(db, backup_dir=tmp_path / "backups")

    assert caught.value.backup is not None and caught.value.backup.exists()
    # The good one before it stays applied; nothing of the bad one remains.
    assert {r[0] for r in db.query("SELECT name FROM schema_migrations")} == before | {good.name}
    assert "note" in columns(db, "variant")
    assert "broken" not in columns(db, "variant")
    assert db.scalar("SELECT 1 FROM sqlite_master WHERE name = 'half_done'") is None
    assert [m.name for m in pending(db)] == [bad.name]
    # The connection is usable afterwards (no transaction left open).
    with db.write():
        db.execute("INSERT INTO store_info (key, value) VALUES ('after', 'ok')")


def test_a_failing_first_migration_leaves_no_schema_migrations_table(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migrate_module, "discover", lambda: [failing(1)])
    with pytest.raises(MigrationFailed):
        migrate(db)
    assert applied(db) == set()
    assert db.query("SELECT name FROM sqlite_master") == []


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TILLBOX, "appliance", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_migrate_command_says_when_the_schema_is_up_to_date(data_dir: Path) -> None:
    result = run_cli("migrate", "--data", str(data_dir))
    assert result.returncode == 0, result.stderr
    assert "the schema is up to date" in result.stdout
    assert not (data_dir / "backups").exists()


def test_the_migrate_command_reports_a_failure_plainly(data_dir: Path) -> None:
    # Forget that 0001 ran: running it again fails on its first CREATE TABLE.
    with contextlib.closing(sqlite3.connect(data_dir / "tillbox.sqlite3")) as conn, conn:
        conn.execute("DELETE FROM schema_migrations WHERE name = '0001_initial'")
    result = run_cli("migrate", "--data", str(data_dir))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "migration 0001_initial failed and was rolled back" in result.stderr
    assert "backed up to" in result.stderr
    with contextlib.closing(sqlite3.connect(data_dir / "tillbox.sqlite3")) as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
    assert "0001_initial" not in names  # the failed one stays pending; the others stay applied
    assert len(list((data_dir / "backups").iterdir())) == 1


def test_the_migrate_command_on_a_missing_database_says_to_run_init(tmp_path: Path) -> None:
    result = run_cli("migrate", "--data", str(tmp_path / "nowhere"))
    assert result.returncode == 1
    assert "tillbox appliance init" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "nowhere").exists()


def test_0003_fills_the_stock_level_from_an_existing_ledger(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store upgraded with sales and counts already booked: every variant's level is what
    the protocol fold says, late arrivals (stamped before a count) included."""
    from protocol.hlc import HLC
    from protocol.stock import Entry, Movement, fold

    real = discover()
    monkeypatch.setattr(migrate_module, "discover", lambda: real[:2])
    migrate(db, backup_dir=tmp_path / "backups")
    base = 1_795_000_000_000
    rows = [
        # variant, event, kind, qty, wall offset, origin
        ("a", "e1", "receipt", 10, 0, "s01-r01"),
        ("a", "e2", "sale", -2, 5, "s01-r01"),
        ("a", "e3", "count", 7, 10, "s01-r02"),
        ("a", "e4", "sale", -1, 15, "s01-r01"),
        ("a", "e5", "sale", -3, 8, "s01-r03"),  # late: stamped before the count
        ("b", "e6", "receipt", 4, 0, "s01-r01"),
        ("b", "e7", "sale", -6, 3, "s01-r02"),
    ]
    with db.write():
        for variant, event, kind, qty, offset, origin in rows:
            db.execute(
                "INSERT INTO stock_ledger (event, line, variant, kind, qty, hlc_wall, hlc_counter,"
                " hlc_node, origin) VALUES (?, 1, ?, ?, ?, ?, 0, ?, ?)",
                (event, variant, kind, qty, base + offset, origin, origin),
            )
    monkeypatch.setattr(migrate_module, "discover", lambda: real)
    result = migrate(db, backup_dir=tmp_path / "backups")
    assert "0003_stock_level" in result.applied
    for variant in ("a", "b"):
        expected = fold(
            Entry(
                hlc=HLC(wall_ms=base + offset, counter=0, node=origin),
                origin=origin,
                kind=Movement(kind),
                qty=qty,
                event_id=event,
            )
            for v, event, kind, qty, offset, origin in rows
            if v == variant
        ).on_hand
        level = db.scalar("SELECT on_hand FROM stock_level WHERE variant = ?", (variant,))
        assert level == expected
    assert db.scalar("SELECT on_hand FROM stock_level WHERE variant = 'a'") == 6
    assert db.scalar("SELECT on_hand FROM stock_level WHERE variant = 'b'") == -2
