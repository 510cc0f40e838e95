"""A store's directory in the cloud (`cloud.store_directory`) against the real PostgreSQL:
uploads kept when newer, refused without a write when they are not the store's, and the
restore's generation and pages."""

from __future__ import annotations

from typing import Any

import msgspec
import psycopg
import pytest

from cloud.ingest import Poison, _decode_any, decode_batch, ingest_batch
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
from protocol.ids import new_id
from tests.cloud.batches import batch, offline_till, received

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


def _with_ap(payload: bytes, ap: object) -> bytes:
    frame = msgspec.json.decode(payload)
    return msgspec.json.encode({**frame, "ap": ap})


def test_after_a_restore_only_the_new_appliance_s_batches_are_taken(pg: Conn) -> None:
    """A batch of the replaced appliance still on its way is refused (it would take store_seq
    numbers the new appliance uses); the new one names itself and is applied."""
    till = offline_till()
    variant = new_id()
    assert ingest_batch(pg, "s01", batch(1, [received(till, variant, 4)])) == {"applied_through": 1}
    apply_upload(pg, "s01", DirectoryUpload(directory=_directory(1)))
    assert isinstance(restore_begin(pg, "s01"), RestoreBegin)  # generation 2: s01-ap2

    late = received(till, variant, 9)
    refused = ingest_batch(pg, "s01", batch(2, [late]))
    assert refused == {"applied_through": 1}
    named_old = ingest_batch(pg, "s01", _with_ap(batch(2, [late]), "s01-ap3"))
    assert named_old == {"applied_through": 1}
    assert pg.execute("SELECT count(*) FROM event").fetchone() == (1,)
    kinds = pg.execute(
        "SELECT kind, details->>'appliance', details->>'current' FROM alert ORDER BY id"
    ).fetchall()
    assert kinds == [
        ("replaced_appliance", "s01-ap", "s01-ap2"),
        ("replaced_appliance", "s01-ap3", "s01-ap2"),
    ]

    assert ingest_batch(pg, "s01", _with_ap(batch(2, [late]), "s01-ap2")) == {"applied_through": 2}
    assert pg.execute(
        "SELECT qty FROM on_hand WHERE store = 's01' AND variant = %s", (variant,)
    ).fetchone() == (13,)


def test_a_batch_naming_an_appliance_that_is_not_the_store_s_is_poison(pg: Conn) -> None:
    till = offline_till()
    payload = batch(1, [received(till, new_id(), 1)])
    for ap in ("s02-ap2", "s01-ap1", "s01-ap", "s01-r01", 2, "s01-ap100"):
        assert ingest_batch(pg, "s01", _with_ap(payload, ap)) == {"applied_through": 0}
    assert pg.execute("SELECT count(*) FROM event").fetchone() == (0,)
    reasons = [r[0] for r in pg.execute("SELECT reason FROM dead_letter ORDER BY id")]
    assert len(reasons) == 6 and all("ap must be one of s01's" in r for r in reasons)


def test_both_decoding_paths_read_ap_alike() -> None:
    till = offline_till()
    payload = _with_ap(batch(1, [received(till, new_id(), 1)]), "s01-ap2")
    assert decode_batch("s01", payload).appliance == "s01-ap2"  # the fast path
    assert _decode_any("s01", payload).appliance == "s01-ap2"
    assert decode_batch("s01", batch(1, [received(till, new_id(), 1)])).appliance is None
    for bad in (_with_ap(payload, "s02-ap2"), payload.replace(b'"ap"', b'"ab"')):
        for decode in (decode_batch, _decode_any):
            with pytest.raises(Poison):
                decode("s01", bad)
