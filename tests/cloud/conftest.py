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
