"""The real PostgreSQL at 127.0.0.1:5432: a throw-away database per test, made from a
migrated template so each test starts from the schema and nothing else."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from cloud.migrate import connect, migrate

ADMIN_DSN = os.environ.get(
    "TILLBOX_TEST_PG", "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=5"
)


def dsn_for(database: str) -> str:
    """The admin DSN pointed at another database."""
    return psycopg.conninfo.make_conninfo(ADMIN_DSN, dbname=database)


def _admin(sql: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(sql.encode())


@pytest.fixture(scope="session")
def template_db() -> Iterator[str]:
    """A database with every migration applied, copied by each test."""
    name = f"tillbox_test_tpl_{secrets.token_hex(4)}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        with connect(dsn_for(name)) as conn:
            migrate(conn)
        yield name
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_db() -> Iterator[str]:
    """A brand-new empty database's DSN, dropped after the test."""
    name = f"tillbox_test_{secrets.token_hex(6)}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield dsn_for(name)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def cloud_dsn(template_db: str) -> Iterator[str]:
    """A migrated database of this test's own, dropped after it."""
    name = f"tillbox_test_{secrets.token_hex(6)}"
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    try:
        yield dsn_for(name)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg(cloud_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to the test's database."""
    with connect(cloud_dsn) as conn:
        yield conn


class ResettableDb:
    """One migrated database that a test puts back as the migrations left it, in a fraction of
    the time a new copy of the template takes (tens of milliseconds, not one or two seconds):
    every table emptied, the rows the migrations seed written back, every sequence where it
    stood. For suites of many small cases (the HQ authorization matrix) that each need the
    database as new; only for tests that leave no connection open across the reset."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        with connect(dsn) as conn:
            self._tables = [
                name
                for (name,) in conn.execute(
                    "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename)"
                    " FROM pg_tables WHERE schemaname = 'public'"
                    " AND tablename <> 'schema_migrations' ORDER BY 1"
                )
            ]
            self._seeds: list[tuple[str, bytes]] = []
            for table in self._tables:
                with conn.cursor().copy(f"COPY {table} TO STDOUT (FORMAT binary)") as copy:
                    data = b"".join(bytes(chunk) for chunk in copy)
                if conn.execute(f"SELECT EXISTS (SELECT FROM {table})").fetchone() == (True,):
                    self._seeds.append((table, data))
            self._sequences = conn.execute(
                "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename),"
                " last_value, start_value FROM pg_sequences WHERE schemaname = 'public'"
            ).fetchall()

    def reset(self) -> None:
        """The database as the migrations left it."""
        with connect(self.dsn) as conn, conn.transaction():
            # DELETE, not TRUNCATE: a few rows each, and TRUNCATE makes every table's and
            # index's files anew (most of a second for fifty tables). Foreign keys are not
            # checked meanwhile (every table is emptied); no trigger of the schema's runs.
            conn.execute("SET LOCAL session_replication_role = replica")
            for table in self._tables:
                conn.execute(f"DELETE FROM {table}")
            for table, data in self._seeds:
                with conn.cursor().copy(f"COPY {table} FROM STDIN (FORMAT binary)") as copy:
                    copy.write(data)
            for name, last, start in self._sequences:
                if last is None:
                    conn.execute(f"ALTER SEQUENCE {name} RESTART WITH {int(start)}")
                else:
                    conn.execute("SELECT setval(%s, %s, true)", (name, last))


@pytest.fixture(scope="module")
def resettable_db(template_db: str) -> Iterator[ResettableDb]:
    """A migrated database of this module's own, to reset between tests (ResettableDb)."""
    name = f"tillbox_test_{secrets.token_hex(6)}"
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    try:
        yield ResettableDb(dsn_for(name))
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
