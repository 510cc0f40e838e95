"""Transfers at the store (appliance/transfers.py and its admin pages), with no cloud: a copy
pulled earlier is enough to approve, ship and receive offline; the stock moves at once; bad
forms are refused by field and store nothing; a register's receipt counts too."""

from __future__ import annotations

from typing import Any

from appliance import transfers
from appliance.runtime import Runtime
from protocol.ids import new_id
from protocol.transfers import SkuLine, TransfersReply, TransferState
from tests.appliance.admin.conftest import AdminBrowser, field_errors
from tests.appliance.selling.helpers import make_till, on_hand, uid
from tests.conftest import FakeWall, Store


def _pulled(rt: Runtime, *states: TransferState) -> None:
    since = transfers.version(rt)
    reply = TransfersReply(transfers=list(states), next=max(s.seq for s in states), head=99)
    transfers.apply_page(rt, since, reply)


def _state(
    seq: int, state: str, *, to_here: bool = False, ident: str | None = None, shipped: int = 0
) -> TransferState:
    return TransferState(
        seq=seq,
        id=ident or new_id(),
        from_store="s02" if to_here else "s01",
        to_store="s01" if to_here else "s02",
        state=state,  # type: ignore[arg-type]
        requested_in="hq",
        requested_at="2026-12-01T10:00:00+00:00",
        lines=[SkuLine(sku="MUG-1", qty=4), SkuLine(sku="TEE-M-RED", qty=2)],
        shipped=[SkuLine(sku="MUG-1", qty=shipped)] if shipped else [],
    )


def _stocked(manager: AdminBrowser) -> None:
    answer = manager.post("/admin/stock/deliveries", {"lines": "MUG-1 10\nTEE-M-RED 5"})
    assert answer.status_code == 303


def test_approve_and_ship_offline_moves_stock_at_once(
    store: Store, catalog: Runtime, manager: AdminBrowser, supervisor: AdminBrowser
) -> None:
    rt = store.rt
    _stocked(manager)
    asked = _state(1, "requested")
    _pulled(rt, asked)
    page = manager.get(f"/admin/transfers/{asked.id}")
    assert page.status_code == 200 and "Approve: we will send it" in page.text
    # A supervisor may ship but not approve.
    assert supervisor.post(f"/admin/transfers/{asked.id}/approve").status_code == 403
    early = supervisor.post(f"/admin/transfers/{asked.id}/ship", {"qty-MUG-1": "4"})
    assert early.status_code == 409 and "only an approved transfer" in early.text
    assert manager.post(f"/admin/transfers/{asked.id}/approve").status_code == 303
    assert transfers.get(rt, asked.id).state == "approved"

    bad = supervisor.post(
        f"/admin/transfers/{asked.id}/ship", {"qty-MUG-1": "four", "qty-TEE-M-RED": "2"}
    )
    assert bad.status_code == 422
    assert 'id="qty-MUG-1-error">MUG-1: a whole number from 0<' in bad.text
    nothing = supervisor.post(
        f"/admin/transfers/{asked.id}/ship", {"qty-MUG-1": "0", "qty-TEE-M-RED": ""}
    )
    assert nothing.status_code == 422 and "ship at least one item" in nothing.text
    events = rt.db.scalar("SELECT count(*) FROM event WHERE type = 'transfer.shipped'")
    assert events == 0 and on_hand(store, "MUG-1") == 10

    shipped = supervisor.post(
        f"/admin/transfers/{asked.id}/ship", {"qty-MUG-1": "4", "qty-TEE-M-RED": "1"}
    )
    assert shipped.status_code == 303
    assert on_hand(store, "MUG-1") == 6 and on_hand(store, "TEE-M-RED") == 4
    shown = transfers.get(rt, asked.id)
    assert shown.state == "shipped" and shown.cloud_state == "requested"
    assert [(x.sku, x.requested, x.shipped) for x in shown.lines] == [
        ("MUG-1", 4, 4),
        ("TEE-M-RED", 2, 1),
    ]
    again = supervisor.post(f"/admin/transfers/{asked.id}/ship", {"qty-MUG-1": "4"})
    assert again.status_code == 409
    # A later pull saying less than what was done here does not undo it.
    _pulled(rt, _state(2, "approved", ident=asked.id))
    assert transfers.get(rt, asked.id).state == "shipped"
    # An older page does not overwrite a newer one.
    _pulled(rt, _state(3, "shipped", ident=asked.id, shipped=4))
    transfers.apply_page(
        rt,
        transfers.version(rt),
        TransfersReply(transfers=[_state(2, "approved", ident=asked.id)], next=3, head=3),
    )
    assert transfers.get(rt, asked.id).cloud_state == "shipped"


def test_receive_needs_a_reason_when_the_count_differs(
    store: Store, catalog: Runtime, supervisor: AdminBrowser
) -> None:
    rt = store.rt
    coming = _state(1, "approved", to_here=True)
    _pulled(rt, coming)
    early = supervisor.post(f"/admin/transfers/{coming.id}/receive", {"qty-MUG-1": "4"})
    assert early.status_code == 409
    _pulled(rt, _state(2, "shipped", to_here=True, ident=coming.id, shipped=4))
    assert [t.id for t in transfers.inbound(rt)] == [coming.id]
    page = supervisor.get(f"/admin/transfers/{coming.id}").text
    assert 'name="qty-MUG-1"' in page and 'value="4"' in page
    short = supervisor.post(f"/admin/transfers/{coming.id}/receive", {"qty-MUG-1": "3"})
    assert short.status_code == 422
    assert "say why" in field_errors(short.text)["reason"]
    assert on_hand(store, "MUG-1") == 0
    done = supervisor.post(
        f"/admin/transfers/{coming.id}/receive", {"qty-MUG-1": "3", "reason": "one broken"}
    )
    assert done.status_code == 303
    assert on_hand(store, "MUG-1") == 3
    shown = transfers.get(rt, coming.id)
    assert shown.state == "received" and shown.receive_reason == "one broken"
    assert transfers.inbound(rt) == []
    listing = supervisor.get("/admin/transfers").text
    assert f'data-transfer="{coming.id}"' in listing.split('data-testid="finished-transfers"')[1]


def test_a_registers_receipt_counts_as_received_here(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    rt = store.rt
    coming = _state(1, "shipped", to_here=True, shipped=2)
    _pulled(rt, coming)
    till = make_till(store, wall, "supervisor")
    answer = till.send(
        "transfer.received",
        {
            "transfer": coming.id,
            "from_store": "s02",
            "lines": [{"variant": uid(rt, "MUG-1"), "qty": 2}],
        },
    )
    assert answer.status_code == 200, answer.get_json()
    assert transfers.get(rt, coming.id).state == "received"
    assert on_hand(store, "MUG-1") == 2


def test_asking_for_a_transfer_refuses_bad_forms_and_keeps_good_ones(
    store: Store, catalog: Runtime, manager: AdminBrowser, supervisor: AdminBrowser
) -> None:
    rt = store.rt
    cases: list[tuple[dict[str, str], str, str]] = [
        ({"lines": "NOPE 2"}, "lines", "no active item"),
        ({"lines": "MUG-1 lots"}, "lines", "not a whole number"),
        ({"lines": ""}, "lines", "at least one"),
        ({"store": "s01"}, "store", "itself"),
        ({"store": "Not a store!"}, "store", "a code like"),
    ]
    for change, name, message in cases:
        form: dict[str, Any] = {"direction": "in", "store": "s02", "lines": "MUG-1 3"} | change
        answer = manager.post("/admin/transfers", form)
        assert answer.status_code == 422, change
        assert message in field_errors(answer.text).get(name, ""), (change, answer.text[-800:])
    assert rt.db.scalar("SELECT count(*) FROM transfer") == 0
    assert (
        supervisor.post(
            "/admin/transfers", {"direction": "in", "store": "s02", "lines": "MUG-1 3"}
        ).status_code
        == 403
    )
    asked = manager.post(
        "/admin/transfers", {"direction": "out", "store": "s02", "lines": "MUG-1 3\n96385074 1"}
    )
    assert asked.status_code == 303
    transfer = asked.headers["Location"].rsplit("/", 1)[1]
    shown = transfers.get(rt, transfer)
    assert (shown.from_store, shown.to_store, shown.state, shown.synced) == (
        "s01",
        "s02",
        "requested",
        False,
    )
    assert [(x.sku, x.requested) for x in shown.lines] == [("MUG-1", 4)]
    env = rt.db.one(
        "SELECT envelope ->> '$.body' AS body FROM event WHERE type = 'transfer.requested'"
    )
    assert env is not None and '"to_store":"s02"' in env["body"]
