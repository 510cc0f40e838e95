"""Apply the cloud's numbered SQL migrations (cloud/db/migrations/NNNN_name.sql) in order."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

_log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Two workers starting at once must not both apply 0001: the first takes this lock.
_LOCK_KEY = 0x7411B0C5


@dataclass(frozen=True, slots=True, kw_only=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """Every migration shipped with the package, by version."""
    folder = resources.files("cloud.db") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match is None:
            continue
        found.append(
            Migration(version=int(match[1]), name=entry.name, sql=entry.read_text("utf-8"))
        )
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a version: {versions}")
    return found


def migrate(conn: psycopg.Connection[Any]) -> list[str]:
    """Apply what is not applied yet, each file in its own transaction; the names applied."""
    applied: list[str] = []
    with conn.transaction():
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
    for migration in migrations():
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            done = conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = %s", (migration.version,)
            ).fetchone()
            if done is not None:
                continue
            conn.execute(migration.sql.encode())
            conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
        _log.info("applied migration %s", migration.name)
        applied.append(migration.name)
    return applied


# TCP keepalive so a connection to a database host that vanished without a FIN (power cut, cut
# cable) fails within about a minute instead of hanging until the kernel's two-hour default; a DSN
# that sets any of these keeps its own value.
KEEPALIVE = {
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
}


def connect(dsn: str) -> psycopg.Connection[Any]:
    """A connection in autocommit mode; callers open transactions explicitly."""
    given = conninfo_to_dict(dsn)
    extra = {key: value for key, value in KEEPALIVE.items() if key not in given}
    return psycopg.connect(make_conninfo(dsn, **extra), autocommit=True)
