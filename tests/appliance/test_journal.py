"""The journal: hash-chained per origin, gap-free store_seq, a clock that never runs back."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator

import msgspec
import pytest

from appliance import journal
from appliance.db import IntegrityError
from appliance.errors import Conflict, Invalid
from appliance.runtime import Runtime, open_runtime
from appliance.settings import Settings
from protocol.envelope import (
    Envelope,
    content_hash,
    envelope_dict,
    format_at,
    seal,
    verify_hash,
)
from protocol.hlc import HLC
from protocol.ids import new_id
from tests.conftest import FakeWall

REGISTER = "s01-r01"


def register_event(
    seq: int, prev: str | None, *, wall_ms: int, origin: str = REGISTER, store: str = "s01"
) -> Envelope:
    """An event as a register would have sealed it."""
    return seal(
        id=new_id(),
        type="sale.completed",
        store=store,
        origin=origin,
        seq=seq,
        hlc=HLC(wall_ms, 0, origin),
        at=format_at(wall_ms),
        actor="s01-staff-1",
        override=None,
        body={"total": 1299 * seq},
        prev=prev,
    )


def stored_rows(rt: Runtime) -> list[dict[str, object]]:
    return [
        dict(row)
        for row in rt.db.query(
            "SELECT id, origin, seq, store_seq, hlc_wall, hlc_counter, envelope, hash FROM event"
            " ORDER BY store_seq"
        )
    ]


def test_record_chains_the_appliances_events(rt: Runtime) -> None:
    made = []
    with rt.db.write():
        for n in range(3):
            made.append(journal.record(rt, type="cash.moved", body={"n": n}, actor="s01-staff-1"))
    envelopes = [s.envelope for s in made]
    assert [e.seq for e in envelopes] == [1, 2, 3]
    assert [e.origin for e in envelopes] == ["s01-ap"] * 3
    assert [e.store for e in envelopes] == ["s01"] * 3
    assert envelopes[0].prev is None
    assert envelopes[1].prev == envelopes[0].hash
    assert envelopes[2].prev == envelopes[1].hash
    assert all(verify_hash(e) for e in envelopes)
    hlcs = [HLC.parse(e.hlc) for e in envelopes]
    assert hlcs == sorted(hlcs) and len(set(hlcs)) == 3
    assert [s.store_seq for s in made] == [1, 2, 3]

    rows = stored_rows(rt)
    assert [r["id"] for r in rows] == [e.id for e in envelopes]
    # What is stored is the envelope exactly as sealed: its hash still verifies.
    for row, envelope in zip(rows, envelopes, strict=True):
        again = msgspec.convert(json.loads(str(row["envelope"])), Envelope)
        assert again == envelope and verify_hash(again)
        assert row["hash"] == envelope.hash
    cursor = rt.db.one("SELECT last_seq, last_hash FROM origin_cursor WHERE origin = 's01-ap'")
    assert cursor is not None and tuple(cursor) == (3, envelopes[2].hash)


def test_store_seq_has_no_gaps_across_origins(rt: Runtime, wall: FakeWall) -> None:
    prev: dict[str, str | None] = {REGISTER: None, "s01-r02": None}
    seqs = {REGISTER: 0, "s01-r02": 0}
    order = ["ap", REGISTER, REGISTER, "ap", "s01-r02", REGISTER, "ap", "s01-r02"]
    results = []
    for who in order:
        with rt.db.write():
            if who == "ap":
                results.append(journal.record(rt, type="cash.moved", body={}, actor=None))
                continue
            seqs[who] += 1
            event = register_event(seqs[who], prev[who], wall_ms=wall.ms, origin=who)
            results.append(journal.append(rt, event))
            prev[who] = event.hash
    assert [r.store_seq for r in results] == list(range(1, len(order) + 1))
    rows = stored_rows(rt)
    assert [r["store_seq"] for r in rows] == list(range(1, len(order) + 1))
    per_origin: dict[str, list[object]] = {}
    for row in rows:
        per_origin.setdefault(str(row["origin"]), []).append(row["seq"])
    assert per_origin == {"s01-ap": [1, 2, 3], REGISTER: [1, 2, 3], "s01-r02": [1, 2]}


def test_a_refused_event_in_a_write_rolls_back_with_it(rt: Runtime, wall: FakeWall) -> None:
    def both() -> None:
        with rt.db.write():
            journal.record(rt, type="cash.moved", body={}, actor=None)
            journal.append(rt, register_event(2, "f" * 64, wall_ms=wall.ms))

    with pytest.raises(Conflict):
        both()
    assert stored_rows(rt) == []
    assert rt.db.scalar("SELECT count(*) FROM origin_cursor") == 0
    # And the next event still starts the chain at seq 1, store_seq 1.
    first = journal.record(rt, type="cash.moved", body={}, actor=None)
    assert (first.envelope.seq, first.store_seq, first.envelope.prev) == (1, 1, None)


def test_threads_recording_at_once_get_distinct_ordered_seqs(rt: Runtime) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        try:
            barrier.wait(5)
            for _ in range(10):
                journal.record(rt, type="cash.moved", body={}, actor=None)
        except BaseException as exc:
            errors.append(exc)
        finally:
            rt.db.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    rows = stored_rows(rt)
    assert [r["seq"] for r in rows] == list(range(1, 41))
    stamps = [(r["hlc_wall"], r["hlc_counter"]) for r in rows]
    assert stamps == sorted(stamps) and len(set(stamps)) == 40
    envelopes = [msgspec.convert(json.loads(str(r["envelope"])), Envelope) for r in rows]
    for before, after in itertools.pairwise(envelopes):
        assert after.prev == before.hash


@pytest.fixture
def reopen(settings: Settings) -> Iterator[list[Runtime]]:
    opened: list[Runtime] = []
    yield opened
    for runtime in opened:
        runtime.db.close()


def test_the_clock_never_goes_back_across_a_restart(
    rt: Runtime, settings: Settings, wall: FakeWall, reopen: list[Runtime]
) -> None:
    for _ in range(3):
        last = journal.record(rt, type="cash.moved", body={}, actor=None)
    before = HLC.parse(last.envelope.hlc)
    rt.db.close()

    # The Pi has no real-time clock: after a power cut it may boot an hour in the past.
    earlier = FakeWall(ms=wall.ms - 3_600_000)
    restarted = open_runtime(settings, wall=earlier)
    reopen.append(restarted)
    after = journal.record(restarted, type="cash.moved", body={}, actor=None)
    stamp = HLC.parse(after.envelope.hlc)
    assert stamp > before
    assert stamp.wall_ms == before.wall_ms and stamp.counter == before.counter + 1
    assert after.envelope.at == format_at(earlier.ms)  # `at` tells the truth; the HLC orders
    assert after.envelope.seq == 4 and after.envelope.prev == last.envelope.hash


def test_a_restart_continues_after_a_register_event_too(
    rt: Runtime, settings: Settings, wall: FakeWall, reopen: list[Runtime]
) -> None:
    journal.record(rt, type="cash.moved", body={}, actor=None)
    ahead = wall.ms + 60_000  # a register a minute ahead: within the trusted range
    journal.append(rt, register_event(1, None, wall_ms=ahead))
    rt.db.close()
    restarted = open_runtime(settings, wall=FakeWall(ms=wall.ms))
    reopen.append(restarted)
    stamp = HLC.parse(
        journal.record(restarted, type="cash.moved", body={}, actor=None).envelope.hlc
    )
    assert stamp > HLC(ahead, 0, REGISTER)


def test_append_refuses_another_stores_event(rt: Runtime, wall: FakeWall) -> None:
    event = register_event(1, None, wall_ms=wall.ms, store="s02", origin="s02-r01")
    with pytest.raises(Invalid) as caught:
        journal.append(rt, event)
    assert caught.value.code == "wrong_store"
    assert "s02" in caught.value.message
    assert stored_rows(rt) == []


def test_append_refuses_a_bad_hash(rt: Runtime, wall: FakeWall) -> None:
    event = register_event(1, None, wall_ms=wall.ms)
    tampered = msgspec.structs.replace(event, body={"total": 1})
    with pytest.raises(Invalid) as caught:
        journal.append(rt, tampered)
    assert caught.value.code == "bad_hash"
    assert stored_rows(rt) == []


def test_append_refuses_a_seq_gap_and_says_what_it_expects(rt: Runtime, wall: FakeWall) -> None:
    first = register_event(1, None, wall_ms=wall.ms)
    journal.append(rt, first)
    gap = register_event(3, first.hash, wall_ms=wall.ms + 1)
    with pytest.raises(Conflict) as caught:
        journal.append(rt, gap)
    assert caught.value.status == 409
    assert caught.value.code == "seq_gap"
    assert caught.value.details == {"expected": {gap.origin: 2}}
    # A replay of an event already held is not silently written twice either.
    with pytest.raises(Conflict) as again:
        journal.append(rt, register_event(1, None, wall_ms=wall.ms))
    assert again.value.details == {"expected": {gap.origin: 2}}
    assert [r["seq"] for r in stored_rows(rt)] == [1]


def test_a_first_event_must_start_at_seq_one(rt: Runtime, wall: FakeWall) -> None:
    second = register_event(2, "f" * 64, wall_ms=wall.ms)
    with pytest.raises(Conflict) as caught:
        journal.append(rt, second)
    assert caught.value.details == {"expected": {second.origin: 1}}


def test_append_refuses_a_broken_prev_link(rt: Runtime, wall: FakeWall) -> None:
    first = register_event(1, None, wall_ms=wall.ms)
    journal.append(rt, first)
    with pytest.raises(Invalid) as caught:
        journal.append(rt, register_event(2, "0" * 64, wall_ms=wall.ms + 1))
    assert caught.value.code == "broken_chain"
    # A first event that claims a predecessor is broken too (resealed past seal's own check).
    first_other = register_event(1, None, wall_ms=wall.ms, origin="s01-r02")
    claims = msgspec.structs.replace(first_other, prev="a" * 64)
    claims = msgspec.structs.replace(claims, hash=content_hash(envelope_dict(claims)))
    with pytest.raises(Invalid) as first_broken:
        journal.append(rt, claims)
    assert first_broken.value.code == "broken_chain"
    assert len(stored_rows(rt)) == 1
    assert journal.append(rt, register_event(2, first.hash, wall_ms=wall.ms + 1)).store_seq == 2


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE event SET type = 'sale.voided'",
        "UPDATE event SET store_seq = store_seq + 100",
        "DELETE FROM event",
    ],
)
def test_the_event_table_refuses_changes(rt: Runtime, statement: str) -> None:
    journal.record(rt, type="cash.moved", body={}, actor=None)
    before = stored_rows(rt)
    with pytest.raises(IntegrityError, match="append-only"), rt.db.write():
        rt.db.execute(statement)
    assert stored_rows(rt) == before


@pytest.mark.parametrize(
    "statement", ["UPDATE override_log SET reason = 'x'", "DELETE FROM override_log"]
)
def test_the_override_log_refuses_changes(rt: Runtime, statement: str) -> None:
    stored = journal.record(rt, type="cash.moved", body={}, actor=None)
    with rt.db.write():
        rt.db.execute(
            "INSERT INTO override_log (id, event_id, at, action, requester_id, approver_id, reason)"
            " VALUES ('o1', ?, 'now', 'line_void', 'a', 'b', 'test')",
            (stored.envelope.id,),
        )
    with pytest.raises(IntegrityError, match="append-only"), rt.db.write():
        rt.db.execute(statement)
    assert rt.db.scalar("SELECT reason FROM override_log") == "test"
