"""Numbered, append-only schema migrations, with a backup of the database file first."""

from __future__ import annotations

import importlib
import logging
import pkgutil
import re
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from playhouse.migrate import SqliteMigrator

from appliance.db import Database
from appliance.db import migrations as migrations_package

_log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+$")
KEEP_BACKUPS = 5
_BACKUP_NAME = re.compile(r"^tillbox-(\d{8}T\d{6})(?:-(\d+))?-before-.+\.sqlite3$")


class MigrationFailed(RuntimeError):
    """A migration raised; its own transaction was rolled back, earlier ones stay applied."""

    def __init__(self, name: str, cause: BaseException, backup: Path | None) -> None:
        saved = f"; the file was backed up to {backup} first" if backup else ""
        super().__init__(
            f"migration {name} failed and was rolled back ({type(cause).__name__}: {cause}){saved}"
        )
        self.name = name
        self.backup = backup


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
    with closing(sqlite3.connect(target)) as copy:
        db.connection().backup(copy)
    prune_backups(backup_dir)
    return target


def prune_backups(backup_dir: Path) -> None:
    """Keep only the newest KEEP_BACKUPS backups made before migrations."""
    # Oldest first by time stamp, then by the counter added for backups made in the same
    # second. Plain name order would be wrong: "…T120000-2-before…" < "…T120000-before…".
    ours: list[tuple[str, int, Path]] = []
    for path in backup_dir.glob("tillbox-*-before-*.sqlite3"):
        match = _BACKUP_NAME.match(path.name)
        if match:
            ours.append((match.group(1), int(match.group(2) or 1), path))
    for *_, stale in sorted(ours)[:-KEEP_BACKUPS]:
        stale.unlink(missing_ok=True)


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
        try:
            with db.write():
                # Checked again under the write lock: another process may have just applied it.
                if migration.name in applied(db):
                    continue
                db.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " name TEXT PRIMARY KEY, applied_at TEXT NOT NULL) WITHOUT ROWID"
                )
                migration.up(db, migrator)
                db.execute(
                    "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                    (migration.name, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
                )
        except Exception as exc:
            # Not logged here: the caller reports MigrationFailed, which says all of it.
            raise MigrationFailed(migration.name, exc, saved) from exc
        _log.info("applied migration %s", migration.name)
        done.append(migration.name)
    return MigrateResult(applied=tuple(done), backup=saved)
