"""Numbered, append-only schema migrations, with a backup of the database file first."""

from __future__ import annotations

import importlib
import logging
import pkgutil
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from playhouse.migrate import SqliteMigrator

from appliance.db import Database
from appliance.db import migrations as migrations_package

_log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+$")
KEEP_BACKUPS = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class Migration:
    """One numbered migration module with an `up(db, migrator)` function."""

    number: int
    name: str
    up: Callable[[Database, SqliteMigrator], None]
    summary: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MigrateResult:
    """What a migrate run did."""

    applied: tuple[str, ...]
    backup: Path | None


def discover() -> list[Migration]:
    """All migrations in the package, in number order."""
    found: list[Migration] = []
    for info in pkgutil.iter_modules(migrations_package.__path__):
        match = _NAME.match(info.name)
        if not match:
            continue
        module: ModuleType = importlib.import_module(f"{migrations_package.__name__}.{info.name}")
        found.append(
            Migration(
                number=int(match.group(1)),
                name=info.name,
                up=module.up,
                summary=(module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else "",
            )
        )
    found.sort(key=lambda m: m.number)
    numbers = [m.number for m in found]
    if numbers != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {numbers}")
    return found


def applied(db: Database) -> set[str]:
    """Names of the migrations already applied to this database."""
    exists = db.scalar(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_migrations'"
    )
    if not exists:
        return set()
    return {row[0] for row in db.query("SELECT name FROM schema_migrations")}


def pending(db: Database) -> list[Migration]:
    """Migrations not yet applied, in order."""
    done = applied(db)
    return [m for m in discover() if m.name not in done]


def backup(db: Database, backup_dir: Path, label: str) -> Path:
    """Copy the live database with SQLite's online backup API (consistent even under WAL)."""
    backup_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    target = backup_dir / f"tillbox-{stamp}-before-{label}.sqlite3"
    counter = 1
    while target.exists():
        counter += 1
        target = backup_dir / f"tillbox-{stamp}-{counter}-before-{label}.sqlite3"
    with sqlite3.connect(target) as copy:
        db.connection().backup(copy)
    copy.close()
    old = sorted(backup_dir.glob("tillbox-*-before-*.sqlite3"))
    for stale in old[:-KEEP_BACKUPS]:
        stale.unlink(missing_ok=True)
    return target


def migrate(db: Database, *, backup_dir: Path | None = None) -> MigrateResult:
    """Apply every pending migration, each in its own transaction. Running it again is a no-op."""
    todo = pending(db)
    if not todo:
        return MigrateResult(applied=(), backup=None)
    saved: Path | None = None
    has_tables = db.scalar("SELECT count(*) FROM sqlite_master WHERE type='table'")
    if backup_dir is not None and has_tables:
        saved = backup(db, backup_dir, todo[0].name)
        _log.info("backed up %s to %s before migrating", db.path, saved)
    migrator = SqliteMigrator(db.peewee)
    done: list[str] = []
    for migration in todo:
        with db.write():
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name TEXT PRIMARY KEY, applied_at TEXT NOT NULL) WITHOUT ROWID"
            )
            migration.up(db, migrator)
            db.execute(
                "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                (migration.name, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
            )
        _log.info("applied migration %s", migration.name)
        done.append(migration.name)
    return MigrateResult(applied=tuple(done), backup=saved)
