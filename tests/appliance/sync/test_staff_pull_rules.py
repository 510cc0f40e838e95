"""The staff master's conflict rules (decisions.md §57), on a real appliance database and the
real PostgreSQL, through the same functions the uplink and the responder run (the directory
upload as the responder answers it, the pull's pages as the responder builds them), without a
broker in between so each interleaving is exact.

- A field the store edited after applying HQ's last change to it: the store's value wins.
- A field both edited concurrently: HQ's value wins, except a deactivation, which wins from
  either side.
- Different fields edited on each side: both edits stand.
"""

from __future__ import annotations

from typing import Any

import msgspec
import psycopg
import pytest

from appliance.runtime import Runtime
from appliance.staff.directory import update_staff
from appliance.sync.directory import refresh
from appliance.sync.staff_pull import apply_page, read_state
from cloud import staff
from cloud.store_rpc import _answer_directory
from protocol.directory import DirectoryAck, DirectoryUpload, RegisterEntry
from protocol.permissions import Role
from protocol.staff import StaffReply
from tests.cloud.conftest import cloud_dsn, pg, template_db  # noqa: F401  (fixtures)
from tests.conftest import Store
from tests.hq.test_staff import cheap_pin

Conn = psycopg.Connection[Any]


def upload(rt: Runtime, pg: Conn, **replace: Any) -> DirectoryAck:  # noqa: F811
    """The store's directory as the uplink sends it, answered as the responder does."""
    directory = refresh(rt)
    if replace:
        directory = msgspec.structs.replace(directory, **replace)
    answer = _answer_directory(pg, "s01", msgspec.json.encode(DirectoryUpload(directory=directory)))
    return msgspec.json.decode(answer, type=DirectoryAck)


def pull(rt: Runtime, pg: Conn) -> StaffReply:  # noqa: F811
    """One page of the store's changes, applied as the uplink applies it."""
    since = read_state(rt).version
    reply = staff.changes_since(pg, "s01", since, 500)
    apply_page(rt, since, reply)
    return reply


def local(rt: Runtime, staff_id: str) -> dict[str, Any]:
    row = rt.db.one(
        "SELECT name, role, active, pin_hash, changed, hq_seq FROM staff WHERE id = ?", (staff_id,)
    )
    return dict(row)


def master(pg: Conn, staff_id: str, store: str = "s01") -> tuple[Any, ...]:  # noqa: F811
    row = pg.execute(
        "SELECT p.name, a.role, p.active AND a.active, a.pin_hash FROM staff_person p"
        " JOIN staff_assignment a ON a.person = p.id WHERE p.id = %s AND a.store = %s",
        (staff_id, store),
    ).fetchone()
    assert row is not None
    return tuple(row)


@pytest.fixture
def synced(store: Store, pg: Conn) -> Store:  # noqa: F811
    """The store's staff taken into the master and the echo applied: nothing pending."""
    pg.execute("INSERT INTO store (id) VALUES ('s01'), ('s02') ON CONFLICT DO NOTHING")
    assert upload(store.rt, pg).error is None
    pull(store.rt, pg)
    assert upload(store.rt, pg).error is None
    rows = store.rt.db.query("SELECT changed, hq_seq FROM staff")
    assert {r["changed"] for r in rows} == {""} and all(r["hq_seq"] for r in rows)
    return store


def test_hq_deactivating_while_the_store_changes_the_role_keeps_both(
    synced: Store,
    pg: Conn,  # noqa: F811
) -> None:
    rt, cashier = synced.rt, synced.staff["cashier"]
    staff.set_active(pg, cheap_pin, cashier, active=False, pin=None)
    update_staff(rt, cashier, role=Role.SUPERVISOR)
    assert local(rt, cashier)["changed"] == "role"
    upload(rt, pg)
    pull(rt, pg)
    upload(rt, pg)
    pull(rt, pg)
    assert master(pg, cashier)[1:3] == ("supervisor", False)
    mine = local(rt, cashier)
    assert (mine["role"], mine["active"], mine["changed"]) == ("supervisor", 0, "")


def test_the_same_field_edited_on_both_sides_concurrently_goes_to_hq(
    synced: Store,
    pg: Conn,  # noqa: F811
) -> None:
    rt, cashier = synced.rt, synced.staff["cashier"]
    staff.assign(pg, cheap_pin, cashier, store="s01", role="manager", pin=None)
    update_staff(rt, cashier, role=Role.SUPERVISOR)
    # Whichever arrives first, the result is HQ's.
    upload(rt, pg)
    assert master(pg, cashier)[1] == "manager"
    pull(rt, pg)
    assert (local(rt, cashier)["role"], local(rt, cashier)["changed"]) == ("manager", "")


@pytest.mark.parametrize("first", ["pull", "upload"])
def test_a_store_deactivation_wins_over_hqs_concurrent_change_of_the_same_field(
    synced: Store,
    pg: Conn,  # noqa: F811
    first: str,
) -> None:
    rt, cashier = synced.rt, synced.staff["cashier"]
    update_staff(rt, cashier, active=False)
    # Meanwhile HQ makes them leave and come back (the field's latest HQ change: active).
    staff.set_active(pg, cheap_pin, cashier, active=False, pin=None)
    staff.set_active(pg, cheap_pin, cashier, active=True, pin="8080")
    if first == "pull":
        # HQ's reactivation reaches the store first: the store keeps its deactivation.
        pull(rt, pg)
        assert (local(rt, cashier)["active"], local(rt, cashier)["changed"]) == (0, "active")
        upload(rt, pg)
    else:
        # The store's deactivation reaches HQ first, made before HQ's change: it still wins.
        upload(rt, pg)
    assert master(pg, cashier)[2] is False
    pull(rt, pg)
    assert (local(rt, cashier)["active"], local(rt, cashier)["changed"]) == (0, "")


def test_store_edits_made_after_seeing_hqs_win_and_reach_the_other_stores(
    synced: Store,
    pg: Conn,  # noqa: F811
) -> None:
    rt, cashier = synced.rt, synced.staff["cashier"]
    staff.assign(pg, cheap_pin, cashier, store="s02", role="cashier", pin="4444")
    staff.rename(pg, cashier, "Casey From HQ")
    pull(rt, pg)
    assert local(rt, cashier)["name"] == "Casey From HQ"
    update_staff(rt, cashier, name="Casey Local", pin="2222")
    upload(rt, pg)
    name, _, _, pin_hash = master(pg, cashier)
    assert name == "Casey Local" and pin_hash == local(rt, cashier)["pin_hash"]
    # The name goes to s02 too; the PIN, being s01's, does not.
    [at_s02] = staff.changes_since(pg, "s02", 0, 100).changes
    assert at_s02.name == "Casey Local" and at_s02.pin_hash != pin_hash
    pull(rt, pg)
    assert local(rt, cashier)["changed"] == ""


def test_pages_applied_twice_or_late_change_nothing(
    synced: Store,
    pg: Conn,  # noqa: F811
) -> None:
    rt = synced.rt
    before = read_state(rt).version
    person = staff.add_person(
        pg, cheap_pin, name="Pat New", store="s01", role="cashier", pin="3131"
    )
    reply = staff.changes_since(pg, "s01", before, 500)
    assert apply_page(rt, before, reply) == reply.next
    snapshot = local(rt, person)
    assert apply_page(rt, before, reply) == reply.next  # a late copy of the same reply
    assert local(rt, person) == snapshot and read_state(rt).version == reply.next


def test_an_old_appliance_upload_is_still_taken_and_a_refused_one_changes_nothing(
    synced: Store,
    pg: Conn,  # noqa: F811
) -> None:
    rt, cashier = synced.rt, synced.staff["cashier"]
    directory = refresh(rt)
    # An appliance from before the staff master: no hq_seq, no changed list. Its values stand.
    legacy = [
        msgspec.structs.replace(
            s,
            hq_seq=None,
            changed=None,
            locked_until_ms=None,
            lockouts=None,
            name="Old Box Name" if s.id == cashier else s.name,
        )
        for s in directory.staff
    ]
    assert upload(rt, pg, staff=legacy, version=directory.version + 1).error is None
    assert master(pg, cashier)[0] == "Old Box Name"
    before = pg.execute(
        "SELECT string_agg(person || change_seq, ',') FROM staff_assignment"
    ).fetchone()
    foreign = RegisterEntry(
        id="s02-r01", name="Not ours", token_hash="0" * 64, created_at="2026-12-01T00:00:00Z"
    )
    renamed = [msgspec.structs.replace(s, name="Sneaky") for s in directory.staff]
    refused = upload(rt, pg, staff=renamed, registers=[foreign], version=directory.version + 2)
    assert refused.error is not None and "s02-r01" in refused.error
    assert (
        pg.execute("SELECT string_agg(person || change_seq, ',') FROM staff_assignment").fetchone()
        == before
    )
    assert master(pg, cashier)[0] == "Old Box Name"


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b'{"since": -1, "limit": 5}',
        b'{"since": 0, "limit": 0}',
        b'{"since": 0}',
        b'{"since": 0, "limit": 5, "store": "s02"}',
    ],
)
def test_a_staff_request_that_is_not_one_is_answered_with_an_error(
    synced: Store,
    pg: Conn,  # noqa: F811
    payload: bytes,
) -> None:
    from cloud.store_rpc import _answer_staff

    reply = msgspec.json.decode(_answer_staff(pg, "s01", payload), type=StaffReply)
    assert reply.error is not None and reply.changes == []


def test_a_reply_the_appliance_cannot_read_is_reported_and_applies_nothing(
    synced: Store,
    pg: Conn,  # noqa: F811
) -> None:
    from appliance.sync.staff_pull import StaffPull

    rt = synced.rt
    sent: list[tuple[str, bytes, Any]] = []
    puller = StaffPull(rt, lambda topic, payload, props: sent.append((topic, payload, props)))
    staff.add_person(pg, cheap_pin, name="Pat New", store="s01", role="cashier", pin="3131")
    head = staff.head_version(pg)
    puller.heard("tillbox/v1/catalog/staff-head", msgspec.json.encode({"version": head}), None)
    puller.heard("tillbox/v1/catalog/staff-head", b"garbage", None)  # ignored
    puller.drain()
    puller.step()
    [(topic, request, props)] = sent
    before = read_state(rt).version
    assert topic == "tillbox/v1/stores/s01/rpc/staff"
    assert msgspec.json.decode(request) == {"since": before, "limit": 200}
    puller.heard(puller.reply_topic, b'{"changes": [{"seq": "x"}]}', props.CorrelationData)
    puller.drain()
    state = read_state(rt)
    assert state.version == before and state.problem and "could not be read" in state.problem
    # The right answer to the same request is then applied.
    answer = staff.changes_since(pg, "s01", before, 200)
    puller.heard(puller.reply_topic, msgspec.json.encode(answer), props.CorrelationData)
    puller.drain()
    assert read_state(rt).version == head and read_state(rt).problem is None
    assert rt.db.scalar("SELECT name FROM staff WHERE id LIKE 'hq-%'") == "Pat New"
