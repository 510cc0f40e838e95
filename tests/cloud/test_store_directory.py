"""A store's directory in the cloud (`cloud.store_directory`) against the real PostgreSQL:
uploads kept when newer, refused without a write when they are not the store's, and the
restore's generation and pages."""

from __future__ import annotations

from typing import Any

import msgspec
import psycopg

from cloud.store_directory import (
    apply_upload,
    read_directory,
    restore_begin,
    restore_events,
    restore_variants,
)
from protocol.directory import (
    Directory,
    DirectoryUpload,
    RegisterEntry,
    RestoreBegin,
    RestoreError,
    RestoreRequest,
    StaffEntry,
    parse_upload,
)

Conn = psycopg.Connection[Any]
PIN_HASH = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g"
WHEN = "2026-12-01T09:00:00Z"
UID = "0193a000-0000-7000-8000-{:012d}"


def _directory(version: int, name: str = "Mona", register: str = "s01-r01") -> Directory:
    return Directory(
        version=version,
        staff=[
            StaffEntry(
                id="s01-staff-1",
                name=name,
                role="manager",
                pin_hash=PIN_HASH,
                active=True,
                created_at=WHEN,
                updated_at=WHEN,
            )
        ],
        registers=[RegisterEntry(id=register, name="Till 1", token_hash="a" * 64, created_at=WHEN)],
        reasons=[],
        settings={"store_name": "Main St"},
    )


def _counts(pg: Conn) -> tuple[int, ...]:
    row = pg.execute(
        "SELECT (SELECT count(*) FROM store_directory), (SELECT count(*) FROM store_staff),"
        " (SELECT count(*) FROM store_register), (SELECT count(*) FROM store_variant)"
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_a_newer_snapshot_replaces_an_older_one_never_the_reverse(pg: Conn) -> None:
    ack = apply_upload(pg, "s01", DirectoryUpload(directory=_directory(2)))
    assert (ack.version, ack.error) == (2, None)
    stale = apply_upload(pg, "s01", DirectoryUpload(directory=_directory(1, name="Old")))
    assert stale.version == 2
    assert apply_upload(pg, "s01", DirectoryUpload(directory=_directory(3, name="Mo"))).version == 3
    held = read_directory(pg, "s01")
    assert held is not None and held.version == 3 and held.staff[0].name == "Mo"
    assert held.registers[0].token_hash == "a" * 64


def test_variant_ids_are_acknowledged_through_the_last_rowid(pg: Conn) -> None:
    upload = DirectoryUpload(
        variants_after=0, variants=[(1, UID.format(1), "A-1"), (4, UID.format(4), "B-4")]
    )
    assert apply_upload(pg, "s01", upload).variants_through == 4
    # Sent again (a lost reply): the same rows, the same answer.
    assert apply_upload(pg, "s01", upload).variants_through == 4
    page = restore_variants(pg, "s01", RestoreRequest(op="variants", limit=1))
    assert page.variants == [(UID.format(1), "A-1")]
    rest = restore_variants(pg, "s01", RestoreRequest(op="variants", after_uid=UID.format(1)))
    assert rest.variants == [(UID.format(4), "B-4")]


def test_an_upload_that_is_not_the_stores_changes_nothing(pg: Conn) -> None:
    assert apply_upload(pg, "s01", DirectoryUpload(directory=_directory(1))).version == 1
    before = _counts(pg)
    other = apply_upload(pg, "s01", DirectoryUpload(directory=_directory(2, register="s02-r01")))
    assert other.error == "register s02-r01 is not one of s01's"
    unordered = DirectoryUpload(variants_after=5, variants=[(3, UID.format(3), "C")])
    assert "increasing rowid order" in (apply_upload(pg, "s01", unordered).error or "")
    assert _counts(pg) == before
    for bad in (
        b"{",
        b'{"directory":{"version":0}}',
        b'{"surprise":1}',
        b'{"variants":[[1,"x","A"]]}',
    ):
        assert isinstance(parse_upload(bad), str)


def test_restore_takes_the_next_generation_and_pages_the_events(pg: Conn) -> None:
    refused = restore_begin(pg, "s01")
    assert isinstance(refused, RestoreError) and "no directory" in refused.error
    apply_upload(pg, "s01", DirectoryUpload(directory=_directory(1)))
    first = restore_begin(pg, "s01")
    second = restore_begin(pg, "s01")
    assert isinstance(first, RestoreBegin) and isinstance(second, RestoreBegin)
    assert (first.generation, second.generation) == (2, 3)
    assert first.applied_through == 0 and first.directory.staff[0].id == "s01-staff-1"
    page = restore_events(pg, "s01", RestoreRequest(op="events", after=0, through=0))
    assert page.events == []
    assert msgspec.json.decode(msgspec.json.encode(first), type=RestoreBegin) == first
