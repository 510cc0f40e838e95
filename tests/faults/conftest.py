"""Fixtures shared by the fault tests: the cloud's throw-away PostgreSQL databases, as in
tests/cloud (a migrated template copied per test)."""

from __future__ import annotations

from tests.cloud.conftest import cloud_dsn, empty_db, pg, template_db

__all__ = ["cloud_dsn", "empty_db", "pg", "template_db"]
