"""POST /api/v1/events (appliance/push.py): the Replicache rule per origin, the hash chain,
who may push what, live refusals, replay flags and review, all-or-nothing pushes."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from appliance.app import create_app
from appliance.runtime import Runtime, open_runtime
from protocol.envelope import Envelope, envelope_dict, format_at, seal
from protocol.hlc import Clock
from protocol.ids import new_id
from tests.appliance.selling.helpers import make_till, ok, uid
from tests.appliance.till import Item, Till
from tests.conftest import FakeWall, Store, make_settings

# ---- helpers shared by the tests below ----------------------------------------------------

TABLES = ("event", "sale", "sale_line", "payment", "stock_ledger", "review_flag", "return_doc")


def counts(rt: Runtime) -> dict[str, int]:
    return {table: int(rt.db.scalar(f"SELECT count(*) FROM {table}")) for table in TABLES}


def other_till(store: Store, wall: FakeWall, who: str = "cashier2") -> Till:
    register, device = store.new_register("Back till")
    till = Till(store.client, "s01", register, device, wall, actor=store.staff[who])
    till.staff_token = store.login(who, device=device)
    opened = till.open_shift()
    assert opened.status_code == 200, opened.get_json()
    return till


def refused(response: Any, code: str, status: int) -> dict[str, Any]:
    """The one error shape, with this status and code."""
    data: dict[str, Any] = response.get_json()
    assert response.status_code == status, data
    assert set(data) == {"error", "message", "details"}, data
    assert data["error"] == code, data
    return data


def post(store: Store, token: str, events: list[Any], mode: str = "live") -> Any:
    return store.client.post(
        "/api/v1/events", json={"events": events, "mode": mode}, headers=store.bearer(token)
    )


def sale(till: Till, rt: Runtime, qty: int = 1) -> Envelope:
    """A sealed (not yet pushed) sale of mugs."""
    return till.event("sale.completed", till.sale_body([Item(uid(rt, "MUG-1"), qty, 950)]))


def reseal(env: Envelope, **changes: Any) -> Envelope:
    """The same event with some fields changed, sealed again (a valid hash)."""
    fields = {k: v for k, v in envelope_dict(env).items() if k not in ("v", "hash")}
    fields.update(changes)
    return seal(**fields)


def flags_by_event(store: Store) -> dict[str, list[str]]:
    manager = store.login("manager")
    response = store.client.get("/api/v1/review?open=false", headers=store.bearer(manager))
    assert response.status_code == 200, response.get_json()
    found: dict[str, list[str]] = {}
    for flag in response.get_json()["flags"]:
        found.setdefault(flag["event"], []).append(flag["code"])
    return found


@pytest.fixture
def till(store: Store, catalog: Runtime, wall: FakeWall) -> Till:
    """A register with a shift open and plenty of stock (so no negative_stock flags)."""
    till = make_till(store, wall)
    lines = [{"variant": uid(catalog, sku), "qty": 100} for sku in ("MUG-1", "TEE-M-RED")]
    ok(till.send("stock.received", {"lines": lines}))
    return till


# ---- the Replicache rule -------------------------------------------------------------------


def test_a_repeated_push_is_a_no_op(store: Store, till: Till) -> None:
    rt = store.rt
    events = [sale(till, rt, 2), sale(till, rt, 1)]
    before = counts(rt)
    first = ok(till.push(*events))
    assert (first["applied"], first["duplicates"]) == (2, 0)
    after = counts(rt)
    grew = {table: after[table] - before[table] for table in TABLES}
    assert grew == {
        "event": 2,
        "sale": 2,
        "sale_line": 2,
        "payment": 2,
        "stock_ledger": 2,
        "review_flag": 0,
        "return_doc": 0,
    }

    again = ok(till.push(*events))
    assert again["acked"] == first["acked"] == {store.register_id: events[-1].seq}
    assert (again["applied"], again["duplicates"]) == (0, 2)
    assert counts(rt) == after
    # Replayed from the outbox later (device token), still nothing twice.
    replayed = ok(till.push(*events, mode="replay", token=store.device))
    assert (replayed["applied"], replayed["duplicates"]) == (0, 2)
    assert counts(rt) == after


def test_a_push_that_repeats_some_events_applies_only_the_new_ones(
    store: Store, till: Till
) -> None:
    rt = store.rt
    first, second = sale(till, rt), sale(till, rt)
    ok(till.push(first))
    data = ok(till.push(first, second))
    assert (data["applied"], data["duplicates"], data["acked"]) == (
        1,
        1,
        {store.register_id: second.seq},
    )
    assert counts(rt)["sale"] == 2


def test_the_same_seq_with_a_different_body_is_a_conflict(store: Store, till: Till) -> None:
    rt = store.rt
    env = sale(till, rt)
    ok(till.push(env))
    before = counts(rt)
    changed_body = dict(env.body, receipt=f"{store.register_id}-000077")
    data = refused(till.push(reseal(env, body=changed_body)), "seq_conflict", 409)
    assert data["details"] == {"origin": store.register_id, "seq": env.seq, "held": env.id}
    other_id = reseal(env, id=new_id())
    refused(till.push(other_id), "seq_conflict", 409)
    assert counts(rt) == before


def test_a_held_id_under_a_new_seq_is_a_conflict(store: Store, till: Till) -> None:
    rt = store.rt
    env = sale(till, rt)
    ok(till.push(env))
    before = counts(rt)
    copy = reseal(env, seq=env.seq + 1, prev=env.hash)
    data = refused(till.push(copy), "id_conflict", 409)
    assert data["details"] == {"id": env.id}
    assert counts(rt) == before


def test_a_gap_is_refused_with_the_seq_expected(store: Store, till: Till) -> None:
    rt = store.rt
    skipped = sale(till, rt)
    ahead = sale(till, rt)
    before = counts(rt)
    data = refused(till.push(ahead), "seq_gap", 409)
    assert data["details"]["expected"] == {store.register_id: skipped.seq}
    assert counts(rt) == before
    # A gap in the middle of a batch refuses the whole batch.
    after_gap = sale(till, rt)
    refused(till.push(skipped, after_gap), "seq_gap", 409)
    assert counts(rt) == before
    assert ok(till.push(skipped, ahead, after_gap))["acked"] == {store.register_id: after_gap.seq}


def test_seq_order_inside_a_batch_does_not_matter(store: Store, till: Till) -> None:
    rt = store.rt
    events = [sale(till, rt, n) for n in (1, 2, 3)]
    data = ok(till.push(events[2], events[0], events[1]))
    assert data["acked"] == {store.register_id: events[2].seq}
    stored = [
        (row["seq"], row["id"])
        for row in rt.db.query(
            "SELECT seq, id FROM event WHERE origin = ? AND seq >= ? ORDER BY store_seq",
            (store.register_id, events[0].seq),
        )
    ]
    assert stored == [(e.seq, e.id) for e in events]


# ---- envelopes that are not what they claim ------------------------------------------------


def _bad_hash(till: Till, rt: Runtime) -> list[Any]:
    raw = envelope_dict(sale(till, rt))
    raw["body"]["lines"][0]["qty"] = 5  # still a valid body, no longer the hashed one
    return [raw]


def _broken_prev(till: Till, rt: Runtime) -> list[Any]:
    env = sale(till, rt)
    return [envelope_dict(reseal(env, prev="0" * 64))]


def _wrong_store(till: Till, rt: Runtime) -> list[Any]:
    env = sale(till, rt)
    return [
        envelope_dict(
            reseal(env, store="s02", origin="s02-r01", hlc=env.hlc.replace("s01-r01", "s02-r01"))
        )
    ]


def _missing_field(till: Till, rt: Runtime) -> list[Any]:
    raw = envelope_dict(sale(till, rt))
    del raw["hlc"]
    return [raw]


def _not_an_object(till: Till, rt: Runtime) -> list[Any]:
    return [envelope_dict(sale(till, rt)), "sale"]


def _bad_body(till: Till, rt: Runtime) -> list[Any]:
    body = till.sale_body([Item(uid(rt, "MUG-1"), 1, 950)])
    body["lines"][0]["qty"] = -1
    return [envelope_dict(till.event("sale.completed", body))]


def _unknown_body_field(till: Till, rt: Runtime) -> list[Any]:
    body = till.sale_body([Item(uid(rt, "MUG-1"), 1, 950)])
    body["note"] = "free mug"
    return [envelope_dict(till.event("sale.completed", body))]


def _good_then_bad_hash(till: Till, rt: Runtime) -> list[Any]:
    good = envelope_dict(sale(till, rt))
    return [good, *_bad_hash(till, rt)]


@pytest.mark.parametrize("mode", ["live", "replay"])
@pytest.mark.parametrize(
    ("make", "status", "code"),
    [
        (_bad_hash, 422, "bad_hash"),
        (_broken_prev, 422, "broken_chain"),
        (_wrong_store, 422, "wrong_store"),
        (_missing_field, 422, "invalid_envelope"),
        (_not_an_object, 422, "invalid_body"),
        (_bad_body, 422, "invalid_body"),
        (_unknown_body_field, 422, "invalid_body"),
        (_good_then_bad_hash, 422, "bad_hash"),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else str(v),
)
def test_a_bad_envelope_is_refused_and_nothing_is_stored(
    store: Store, till: Till, make: Any, status: int, code: str, mode: str
) -> None:
    rt = store.rt
    events = make(till, rt)
    before = counts(rt)
    token = till.staff_token if mode == "live" else store.device
    refused(post(store, token or "", events, mode), code, status)
    assert counts(rt) == before


def test_a_bad_envelope_names_the_field(store: Store, till: Till) -> None:
    data = refused(
        post(store, till.staff_token or "", _missing_field(till, store.rt)),
        "invalid_envelope",
        422,
    )
    assert data["details"] == {"index": 0, "field": "hlc"}


def test_a_register_pushes_only_its_own_events(store: Store, till: Till, wall: FakeWall) -> None:
    rt = store.rt
    back = other_till(store, wall)
    theirs = sale(back, rt)
    before = counts(rt)
    # Register 1's staff session and device token, register 2's event.
    refused(post(store, till.staff_token or "", [envelope_dict(theirs)]), "wrong_origin", 403)
    refused(post(store, store.device, [envelope_dict(theirs)], "replay"), "wrong_origin", 403)
    # Mixed in with one of its own: still nothing.
    refused(
        post(store, till.staff_token or "", [envelope_dict(sale(till, rt)), envelope_dict(theirs)]),
        "wrong_origin",
        403,
    )
    assert counts(rt) == before


def test_live_events_come_from_the_actors_staff_session(store: Store, till: Till) -> None:
    rt = store.rt
    before = counts(rt)
    env = sale(till, rt)
    refused(till.push(env, token=store.device), "actor_mismatch", 403)
    # Another staff member logged in on this register cannot push the cashier's events live.
    supervisor = store.login("supervisor")
    refused(till.push(env, token=supervisor), "actor_mismatch", 403)
    assert counts(rt) == before
    # Replayed from the outbox, the device token is enough.
    data = ok(till.push(env, mode="replay", token=store.device))
    assert data["acked"] == {store.register_id: env.seq}
    assert rt.db.scalar("SELECT actor FROM sale WHERE id = ?", (env.id,)) == store.staff["cashier"]


def test_no_token_and_a_bad_token_are_401(store: Store, till: Till) -> None:
    env = envelope_dict(sale(till, store.rt))
    response = store.client.post("/api/v1/events", json={"events": [env], "mode": "live"})
    refused(response, "unauthorized", 401)
    refused(post(store, "tbd_nonsense", [env]), "bad_token", 401)


def test_a_push_body_that_is_not_a_push_is_refused(store: Store, till: Till) -> None:
    before = counts(store.rt)
    refused(post(store, store.device, [], "replay"), "invalid_body", 422)
    response = store.client.post(
        "/api/v1/events",
        json={"events": [envelope_dict(sale(till, store.rt))], "mode": "later"},
        headers=store.bearer(store.device),
    )
    refused(response, "invalid_body", 422)
    response = store.client.post(
        "/api/v1/events",
        data=b'{"events": [',
        content_type="application/json",
        headers=store.bearer(store.device),
    )
    refused(response, "malformed_json", 400)
    assert counts(store.rt) == before


def test_a_live_batch_with_one_bad_event_stores_none_of_it(store: Store, till: Till) -> None:
    rt = store.rt
    good = sale(till, rt)
    bad = till.event("sale.completed", till.sale_body([Item(new_id(), 1, 500)]))
    before = counts(rt)
    data = refused(till.push(good, bad), "unknown_variant", 422)
    assert data["details"]["event"] == bad.id
    assert counts(rt) == before
    assert (
        rt.db.scalar("SELECT last_seq FROM origin_cursor WHERE origin = ?", (store.register_id,))
        == good.seq - 1
    )


def test_push_max_events_is_enforced(
    store: Store, catalog: Runtime, wall: FakeWall, settings: Any
) -> None:
    small = open_runtime(make_settings(settings.data_dir, push_max_events=2), wall=wall)
    try:
        client = create_app(small.settings, runtime=small).test_client()
        till = make_till(store, wall)
        till.client = client
        events = [sale(till, store.rt) for _ in range(3)]
        before = counts(store.rt)
        data = refused(till.push(*events), "too_many_events", 422)
        assert "at most 2 events" in data["message"]
        assert counts(store.rt) == before
        assert ok(till.push(*events[:2]))["acked"] == {store.register_id: events[1].seq}
        assert ok(till.push(events[2]))["acked"] == {store.register_id: events[2].seq}
    finally:
        small.close()


# ---- replay: kept and flagged --------------------------------------------------------------


def test_replayed_rule_breaking_events_are_kept_and_flagged(
    store: Store, till: Till, wall: FakeWall
) -> None:
    rt = store.rt
    mug, tee = uid(rt, "MUG-1"), uid(rt, "TEE-M-RED")
    # Offline: the register rang these up and could not check them.
    unknown = till.event("sale.completed", till.sale_body([Item(new_id(), 1, 500)]))
    price = till.event("sale.completed", till.sale_body([Item(tee, 1, 999)]))
    totals_body = till.sale_body([Item(mug, 1, 950)])
    totals_body["totals"]["total"] = 900
    totals_body["tenders"][0]["amount"] = 900
    totals = till.event("sale.completed", totals_body)
    sold = till.event(
        "sale.completed",
        till.sale_body([Item(mug, 1, 950)], tenders=[{"kind": "cash", "amount": 950}]),
    )
    over = till.event(
        "return.completed",
        {
            "receipt": till.next_receipt(),
            "shift": till.shift,
            "original": sold.body["receipt"],
            "lines": [
                {
                    "line": 1,
                    "original_line": 1,
                    "variant": mug,
                    "qty": 2,
                    "refund": 1900,
                    "tax": 317,
                    "reason": "changed_mind",
                }
            ],
            "tenders": [{"kind": "store_credit", "amount": 1900, "reference": "SC-1"}],
            "totals": {"total": 1900, "tax": 317},
        },
    )
    shift = till.shift
    close = till.event(
        "shift.closed",
        {
            "shift": shift,
            "cash": {
                "counts": {"2000": 5, "1000": 5, "500": 4, "100": 20, "50": 19},
                "total": 19950,
            },
        },
    )
    late = till.event("sale.completed", till.sale_body([Item(mug, 1, 950)]))
    events = [unknown, price, totals, sold, over, close, late]

    before = counts(rt)
    # Live, the first of them is refused, and so is the whole batch.
    refused(till.push(*events), "unknown_variant", 422)
    assert counts(rt) == before

    data = ok(till.push(*events, mode="replay", token=store.device))
    assert data["applied"] == len(events)
    assert data["acked"] == {store.register_id: late.seq}
    flagged = {entry["id"]: [f["code"] for f in entry["flags"]] for entry in data["flagged"]}
    assert "unknown_variant" in flagged[unknown.id]
    assert "override_required" in flagged[price.id]
    assert "totals_mismatch" in flagged[totals.id]
    assert "over_return" in flagged[over.id]
    assert "shift_closed" in flagged[late.id]
    assert sold.id not in flagged and close.id not in flagged
    # Every one of them is kept: the journal, and what they did.
    for env in events:
        assert rt.db.scalar("SELECT 1 FROM event WHERE id = ?", (env.id,)), env.type
    for env in (unknown, price, totals, sold, late):
        assert rt.db.scalar("SELECT 1 FROM sale WHERE id = ?", (env.id,)), env.seq
    assert rt.db.scalar("SELECT qty FROM return_line WHERE return_id = ?", (over.id,)) == 2

    review = flags_by_event(store)
    assert review == {event_id: codes for event_id, codes in flagged.items() if codes}, (
        "GET /review lists what the push reported"
    )
    # Replaying again changes nothing and flags nothing twice.
    after = counts(rt)
    again = ok(till.push(*events, mode="replay", token=store.device))
    assert (again["applied"], again["duplicates"], again["flagged"]) == (0, len(events), [])
    assert counts(rt) == after


def test_a_replayed_sale_with_a_used_approval_is_flagged(store: Store, till: Till) -> None:
    rt = store.rt
    tee = uid(rt, "TEE-M-RED")
    response = store.client.post(
        "/api/v1/overrides",
        json={
            "action": "price_override",
            "reason": "damaged box",
            "approver_pin": "2468",
            "amount": 999,
        },
        headers=store.bearer(till.staff_token or ""),
    )
    approval = response.get_json()["id"]
    first = till.event(
        "sale.completed", till.sale_body([Item(tee, 1, 999, price_approval=approval)])
    )
    second = till.event(
        "sale.completed", till.sale_body([Item(tee, 1, 999, price_approval=approval)])
    )
    data = ok(till.push(first, second, mode="replay", token=store.device))
    flagged = {entry["id"]: [f["code"] for f in entry["flags"]] for entry in data["flagged"]}
    assert flagged == {second.id: ["approval_invalid"]}


def test_a_flag_is_resolved_with_a_note(store: Store, till: Till) -> None:
    rt = store.rt
    # A price changed offline without an approval.
    env = till.event("sale.completed", till.sale_body([Item(uid(rt, "MUG-1"), 1, 500)]))
    ok(till.push(env, mode="replay", token=store.device))
    manager = store.login("manager")
    flags = store.client.get("/api/v1/review", headers=store.bearer(manager)).get_json()["flags"]
    [flag] = flags
    assert (flag["event"], flag["code"], flag["resolved_by"], flag["note"]) == (
        env.id,
        "override_required",
        None,
        None,
    )
    assert (flag["type"], flag["origin"], flag["seq"], flag["actor"]) == (
        "sale.completed",
        store.register_id,
        env.seq,
        store.staff["cashier"],
    )

    # Cashiers and supervisors do not review.
    supervisor = store.login("supervisor")
    refused(
        store.client.get("/api/v1/review", headers=store.bearer(supervisor)), "role_required", 403
    )
    refused(
        store.client.post(
            f"/api/v1/review/{flag['id']}/resolve",
            json={"note": "ok"},
            headers=store.bearer(supervisor),
        ),
        "role_required",
        403,
    )

    response = store.client.post(
        f"/api/v1/review/{flag['id']}/resolve",
        json={"note": "old barcode label; sold as MUG-1"},
        headers=store.bearer(manager),
    )
    assert response.status_code == 200, response.get_json()
    [resolved] = response.get_json()["flags"]
    assert resolved["note"] == "old barcode label; sold as MUG-1"
    assert resolved["resolved_by"] == store.staff["manager"]
    assert resolved["resolved_at"] == format_at(store.rt.now_ms())
    # Off the open list, still on the full one; the event is untouched.
    open_flags = store.client.get("/api/v1/review", headers=store.bearer(manager)).get_json()
    assert open_flags["flags"] == []
    every = store.client.get("/api/v1/review?open=false", headers=store.bearer(manager)).get_json()
    assert [f["note"] for f in every["flags"]] == ["old barcode label; sold as MUG-1"]
    assert rt.db.scalar("SELECT 1 FROM sale WHERE id = ?", (env.id,))
    # Once only; an unknown flag is 404.
    refused(
        store.client.post(
            f"/api/v1/review/{flag['id']}/resolve",
            json={"note": "again"},
            headers=store.bearer(manager),
        ),
        "already_resolved",
        409,
    )
    refused(
        store.client.post(
            "/api/v1/review/999/resolve", json={"note": "x"}, headers=store.bearer(manager)
        ),
        "not_found",
        404,
    )


# ---- clocks --------------------------------------------------------------------------------


def test_a_register_clock_far_ahead_is_accepted_and_flagged(
    store: Store, till: Till, wall: FakeWall
) -> None:
    rt = store.rt
    ahead = lambda: wall.ms + 6 * 60_000  # noqa: E731 - a clock six minutes fast
    till.clock = Clock(till.origin, wall=ahead)
    env = sale(till, rt)
    data = ok(till.push(env))
    assert [(e["id"], [f["code"] for f in e["flags"]]) for e in data["flagged"]] == [
        (env.id, ["clock_ahead"])
    ]
    assert rt.db.scalar("SELECT 1 FROM sale WHERE id = ?", (env.id,))
    # The appliance's clock follows only as far as it trusts: five minutes.
    assert rt.clock.now().wall_ms <= wall.ms + 5 * 60_000 + 1

    # Four minutes ahead is within tolerance (another register: one's own clock never goes back).
    back = other_till(store, wall)
    back.clock = Clock(back.origin, wall=lambda: wall.ms + 4 * 60_000)
    ok(back.send("stock.received", {"lines": [{"variant": uid(rt, "MUG-1"), "qty": 10}]}))
    assert ok(back.push(sale(back, rt)))["flagged"] == []


def test_a_register_clock_far_behind_is_flagged_live_but_not_on_replay(
    store: Store, till: Till, wall: FakeWall
) -> None:
    """A live event is sealed the moment it is sent, so an old stamp there is a slow clock;
    a replayed one may just be late."""
    rt = store.rt

    def register(name: str, behind_ms: int) -> tuple[Till, list[str]]:
        origin, device = store.new_register(name)
        slow = Till(
            store.client,
            "s01",
            origin,
            device,
            lambda: wall.ms - behind_ms,
            actor=store.staff["cashier2"],
        )
        slow.staff_token = store.login("cashier2", device=device)
        opened = ok(slow.open_shift())
        return slow, [f["code"] for e in opened["flagged"] for f in e["flags"]]

    slow, codes = register("Slow till", 2 * 3_600_000)
    assert codes == ["clock_behind"]
    env = sale(slow, rt)
    data = ok(slow.push(env))
    assert [(e["id"], [f["code"] for f in e["flags"]]) for e in data["flagged"]] == [
        (env.id, ["clock_behind"])
    ]
    assert rt.db.scalar("SELECT code FROM review_flag WHERE event = ?", (env.id,)) == "clock_behind"
    assert rt.db.scalar("SELECT 1 FROM sale WHERE id = ?", (env.id,))
    # Replayed from the outbox, the same age says nothing: the register may have been offline.
    late = sale(slow, rt)
    assert ok(slow.push(late, mode="replay", token=slow.device))["flagged"] == []
    # Four minutes behind is within tolerance.
    near, codes = register("Near till", 4 * 60_000)
    assert codes == []
    assert ok(near.push(sale(near, rt)))["flagged"] == []


def test_a_register_clock_going_backwards_is_refused_live_and_flagged_on_replay(
    store: Store, till: Till, wall: FakeWall
) -> None:
    """The stock fold orders by HLC: a register's own clock must only move forward."""
    rt = store.rt
    ok(till.push(sale(till, rt)))
    till.clock = Clock(till.origin, wall=lambda: wall.ms - 60_000)  # a new clock, a minute slow
    seq, prev = till.seq, till.prev
    behind = sale(till, rt)
    refused(till.push(behind), "clock_backwards", 422)
    till.seq, till.prev = seq, prev
    behind = sale(till, rt)
    data = ok(till.push(behind, mode="replay", token=store.device))
    assert [f["code"] for f in data["flagged"][0]["flags"]] == ["clock_backwards"]


def test_replay_keeps_a_sale_by_an_unknown_staff_member(store: Store, till: Till) -> None:
    rt = store.rt
    env = till.event(
        "sale.completed", till.sale_body([Item(uid(rt, "MUG-1"), 1, 950)]), actor="s01-staff-99"
    )
    refused(till.push(env, token=store.device), "actor_mismatch", 403)
    data = ok(till.push(env, mode="replay", token=store.device))
    assert [f["code"] for f in data["flagged"][0]["flags"]] == ["unknown_actor"]


def test_the_journal_keeps_each_envelope_as_pushed(store: Store, till: Till) -> None:
    """Stamped with a gap-free store_seq beside it, the envelope itself unchanged."""
    rt = store.rt
    events = [sale(till, rt) for _ in range(3)]
    ok(till.push(*events))
    rows = rt.db.query(
        "SELECT id, store_seq, envelope FROM event WHERE id IN (?, ?, ?) ORDER BY store_seq",
        tuple(e.id for e in events),
    )
    assert [r["id"] for r in rows] == [e.id for e in events]
    seqs = [r["store_seq"] for r in rows]
    assert seqs == list(range(seqs[0], seqs[0] + 3))
    for row, env in zip(rows, events, strict=True):
        assert msgspec.json.decode(row["envelope"]) == envelope_dict(env)


def test_an_offline_override_is_replayed_used_and_flagged(store: Store, till: Till) -> None:
    """A supervisor approved a price on the tablet while the appliance was out of reach."""
    rt = store.rt
    tee = uid(rt, "TEE-M-RED")
    approval = new_id()
    granted = till.event(
        "override.granted",
        {
            "approval": approval,
            "action": "price_override",
            "amount": 999,
            "currency": "EUR",
            "requester": store.staff["cashier"],
            "approver": store.staff["supervisor"],
            "register": store.register_id,
            "reason": "damaged box",
            "expires_at": format_at(rt.now_ms() + 60_000),
            "offline": True,
        },
        actor=store.staff["supervisor"],
    )
    sold = till.event(
        "sale.completed", till.sale_body([Item(tee, 1, 999, price_approval=approval)])
    )
    data = ok(till.push(granted, sold, mode="replay", token=store.device))
    flagged = {e["id"]: [f["code"] for f in e["flags"]] for e in data["flagged"]}
    assert flagged == {granted.id: ["offline_override"], sold.id: ["offline_override"]}
    assert rt.db.scalar("SELECT used_for FROM approval WHERE id = ?", (approval,)) == sold.id
    supervisor = store.login("supervisor")
    log = store.client.get("/api/v1/overrides", headers=store.bearer(supervisor)).get_json()
    [entry] = [o for o in log["overrides"] if o["id"] == approval]
    assert (entry["event_id"], entry["offline"], entry["used_for"]) == (granted.id, True, sold.id)


def test_a_live_push_cannot_mint_an_approval(store: Store, till: Till) -> None:
    granted = till.event(
        "override.granted",
        {
            "approval": new_id(),
            "action": "price_override",
            "amount": 1,
            "currency": "EUR",
            "requester": store.staff["cashier"],
            "approver": store.staff["supervisor"],
            "reason": "no PIN was typed",
            "expires_at": format_at(store.rt.now_ms() + 60_000),
            "offline": True,
        },
    )
    response = till.push(granted)
    assert response.status_code == 422
    assert response.get_json()["error"] == "offline_only"
    assert store.rt.db.scalar("SELECT count(*) FROM approval") == 0
