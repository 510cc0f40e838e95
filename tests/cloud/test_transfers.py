"""Transfers in the cloud (cloud/transfers.py): HQ's actions and the stores' events, ingested
through real batches into the real PostgreSQL, in any order, with alerts for bad ones."""

from __future__ import annotations

from typing import Any

import msgspec
import psycopg
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from cloud import transfers
from cloud.catalog import import_csv
from cloud.ingest import ingest_batch
from cloud.store_directory import apply_upload
from protocol.directory import DirectoryUpload
from protocol.envelope import Envelope
from protocol.ids import new_id
from tests.appliance.till import Till
from tests.cloud.batches import batch, offline_till

Conn = psycopg.Connection[Any]

CATALOG = (
    "sku,product,options,barcodes,category,vendor,cost,price,tax_class,reorder_point,"
    "reorder_qty,pack_size,active\r\n"
    "TEE-M,Tee,Size=M,,Apparel,Acme,4.50,12.99,standard,5,24,1,1\r\n"
    "SOCK,Sock,,,Apparel,Acme,1.00,3.00,standard,2,10,1,1\r\n"
    "MUG,Mug,,,Home,Potters,2.00,6.00,standard,,,1,1\r\n"
)


class Store:
    """A store's appliance as the cloud hears it: its own variant ids, its events in order."""

    def __init__(self, pg: Conn, name: str) -> None:
        self.pg = pg
        self.name = name
        self.till: Till = offline_till(name, f"{name}-ap")
        self.ids = {sku: new_id() for sku in ("TEE-M", "SOCK", "MUG")}
        upload = DirectoryUpload(
            variants_after=0,
            variants=[(n, uid, sku) for n, (sku, uid) in enumerate(self.ids.items(), start=1)],
        )
        assert apply_upload(pg, name, upload).error is None
        self.sent = 0
        self.held: list[Envelope] = []

    def event(self, type: str, body: dict[str, Any]) -> Envelope:
        """Seal the next event (not sent yet)."""
        self.till.wall.advance(1)
        env = self.till.event(type, body)
        self.held.append(env)
        return env

    def send(self) -> dict[str, int]:
        """Publish everything held as one batch and ingest it."""
        first = self.sent + 1
        payload = batch(first, self.held)
        self.sent += len(self.held)
        self.held = []
        return ingest_batch(self.pg, self.name, payload)

    def lines(self, **qty: int) -> list[dict[str, Any]]:
        return [{"variant": self.ids[sku.replace("_", "-")], "qty": q} for sku, q in qty.items()]

    def on_hand(self, sku: str) -> int:
        row = self.pg.execute(
            "SELECT COALESCE(sum(qty), 0) FROM on_hand WHERE store = %s AND variant = %s",
            (self.name, self.ids[sku]),
        ).fetchone()
        return int(row[0]) if row else 0


@pytest.fixture
def chain(pg: Conn) -> tuple[Store, Store]:
    report = import_csv(pg, CATALOG.encode())
    assert report.applied, report
    pg.execute("INSERT INTO store (id) VALUES ('s03') ON CONFLICT DO NOTHING")
    s01, s02 = Store(pg, "s01"), Store(pg, "s02")
    s02.till.wall.advance(100)  # s02's events happen after s01's unless a test says otherwise
    return s01, s02


def state(pg: Conn, transfer: str) -> str:
    row = pg.execute("SELECT state FROM transfer WHERE id = %s", (transfer,)).fetchone()
    assert row is not None
    return str(row[0])


def problems(pg: Conn) -> list[tuple[str, str]]:
    return [
        (str(r[0]), str(r[1]))
        for r in pg.execute(
            "SELECT store, details ->> 'problem' FROM alert WHERE kind = %s ORDER BY id",
            (transfers.ALERT_KIND,),
        )
    ]


def transit(pg: Conn) -> dict[tuple[str, str], int]:
    return transfers.in_transit(pg, ["s01", "s02", "s03"], ["TEE-M", "SOCK", "MUG"])


def seq(pg: Conn, transfer: str) -> int:
    row = pg.execute("SELECT change_seq FROM transfer WHERE id = %s", (transfer,)).fetchone()
    assert row is not None
    return int(row[0])


def test_hq_request_approved_shipped_and_received_short_with_a_reason(
    pg: Conn, chain: tuple[Store, Store]
) -> None:
    s01, s02 = chain
    s01.event("stock.received", {"lines": s01.lines(TEE_M=20, SOCK=10)})
    assert s01.send() == {"applied_through": 1}
    t = transfers.create(
        pg,
        from_store="s01",
        to_store="s02",
        lines=[("tee-m", 5), ("SOCK", 3), ("TEE-M", 1)],
        note="weekend",
        by="Buyer",
    )
    assert state(pg, t) == "requested"
    first = seq(pg, t)
    transfers.approve(pg, t, by="Buyer")
    assert state(pg, t) == "approved" and seq(pg, t) > first
    with pytest.raises(transfers.TransferError) as again:
        transfers.approve(pg, t, by="Buyer")
    assert again.value.code == "not_requested"

    s01.event(
        "transfer.shipped", {"transfer": t, "to_store": "s02", "lines": s01.lines(TEE_M=6, SOCK=3)}
    )
    assert s01.send() == {"applied_through": 2}
    assert state(pg, t) == "shipped"
    assert s01.on_hand("TEE-M") == 14 and s01.on_hand("SOCK") == 7
    assert transit(pg) == {("s02", "TEE-M"): 6, ("s02", "SOCK"): 3}
    with pytest.raises(transfers.TransferError) as late:
        transfers.cancel(pg, t, by="Buyer", reason=None)
    assert late.value.code == "not_open"

    s02.event(
        "transfer.received",
        {
            "transfer": t,
            "from_store": "s01",
            "lines": s02.lines(TEE_M=5, SOCK=3),
            "reason": "one torn",
        },
    )
    assert s02.send() == {"applied_through": 1}
    assert state(pg, t) == "received"
    assert s02.on_hand("TEE-M") == 5
    assert transit(pg) == {}
    shown = transfers.detail(pg, t)
    assert shown is not None
    assert shown.receive_reason == "one torn" and shown.approved_in == "hq"
    assert [(x.sku, x.requested, x.shipped, x.received, x.difference) for x in shown.lines] == [
        ("TEE-M", 6, 6, 5, -1),
        ("SOCK", 3, 3, 3, 0),
    ]
    assert [e.kind for e in shown.events] == ["shipped", "received"]
    assert problems(pg) == []


def test_a_store_request_approved_by_the_sender_and_received_before_the_shipment_is_heard(
    pg: Conn, chain: tuple[Store, Store]
) -> None:
    s01, s02 = chain
    t = new_id()
    s02.event(
        "transfer.requested",
        {"transfer": t, "from_store": "s01", "to_store": "s02", "lines": s02.lines(MUG=4)},
    )
    s02.send()
    assert state(pg, t) == "requested"
    assert [(x.sku, x.requested) for x in transfers.detail(pg, t).lines] == [("MUG", 4)]  # type: ignore[union-attr]
    s01.event("transfer.approved", {"transfer": t})
    s01.event("transfer.shipped", {"transfer": t, "to_store": "s02", "lines": s01.lines(MUG=4)})
    s02.event("transfer.received", {"transfer": t, "from_store": "s01", "lines": s02.lines(MUG=4)})
    # s02's receipt reaches the cloud first: it is kept, and nothing goes negative.
    s02.send()
    assert state(pg, t) == "received"
    assert transit(pg) == {}
    before = seq(pg, t)
    s01.send()
    assert state(pg, t) == "received"
    shown = transfers.detail(pg, t)
    assert shown is not None and shown.approved_in == "s01"
    assert [(x.sku, x.requested, x.shipped, x.received) for x in shown.lines] == [("MUG", 4, 4, 4)]
    assert transit(pg) == {}
    assert problems(pg) == []
    # The shipment only filled in its date: one change for the store to pull, then none.
    after = seq(pg, t)
    assert after > before
    transfers.restate(pg, [t])
    assert seq(pg, t) == after


def test_a_repeated_batch_changes_nothing(pg: Conn, chain: tuple[Store, Store]) -> None:
    s01, _ = chain
    t = transfers.create(
        pg, from_store="s01", to_store="s02", lines=[("MUG", 2)], note=None, by="B"
    )
    transfers.approve(pg, t, by="B")
    env = s01.event(
        "transfer.shipped", {"transfer": t, "to_store": "s02", "lines": s01.lines(MUG=2)}
    )
    assert s01.send() == {"applied_through": 1}
    number = seq(pg, t)
    assert ingest_batch(pg, "s01", batch(1, [env])) == {"applied_through": 1}
    assert seq(pg, t) == number
    assert transit(pg) == {("s02", "MUG"): 2}
    assert pg.execute("SELECT count(*) FROM transfer_move").fetchone() == (1,)


def test_bad_events_raise_alerts_and_are_kept(pg: Conn, chain: tuple[Store, Store]) -> None:
    s01, s02 = chain
    # Unknown transfer: the receipt is kept (ledger and facts) and an alert raised.
    ghost = new_id()
    s02.event(
        "transfer.received", {"transfer": ghost, "from_store": "s01", "lines": s02.lines(SOCK=2)}
    )
    s02.send()
    assert problems(pg) == [("s02", "unknown_transfer")]
    assert s02.on_hand("SOCK") == 2
    assert pg.execute(
        "SELECT count(*) FROM transfer_event WHERE transfer = %s", (ghost,)
    ).fetchone() == (1,)

    # Shipped before anyone approved: the goods moved, so it is shipped, with an alert.
    early = transfers.create(
        pg, from_store="s01", to_store="s02", lines=[("TEE-M", 2)], note=None, by="B"
    )
    s01.event(
        "transfer.shipped", {"transfer": early, "to_store": "s02", "lines": s01.lines(TEE_M=2)}
    )
    # s02 may not approve what s01 sends.
    s02.event("transfer.approved", {"transfer": early})
    s01.send()
    s02.send()
    assert state(pg, early) == "shipped"
    assert problems(pg)[1:] == [("s01", "not_approved"), ("s02", "wrong_store")]
    shown = transfers.detail(pg, early)
    assert shown is not None and shown.approved_at is None
    assert {p["problem"] for p in shown.problems} == {"not_approved", "wrong_store"}

    # Received items that were never sent.
    s02.event(
        "transfer.received",
        {"transfer": early, "from_store": "s01", "lines": s02.lines(TEE_M=2, MUG=1)},
    )
    s02.send()
    assert problems(pg)[3:] == [("s02", "extra_lines")]
    assert state(pg, early) == "received"
    assert [(x.sku, x.shipped, x.received) for x in transfers.detail(pg, early).lines] == [  # type: ignore[union-attr]
        ("TEE-M", 2, 2),
        ("MUG", None, 1),
    ]

    # Cancelled at HQ, then shipped by a store that had not heard: shipped wins, alerted.
    off = transfers.create(
        pg, from_store="s01", to_store="s02", lines=[("SOCK", 1)], note=None, by="B"
    )
    transfers.approve(pg, off, by="B")
    transfers.cancel(pg, off, by="B", reason="not needed")
    assert state(pg, off) == "cancelled"
    s01.event("transfer.shipped", {"transfer": off, "to_store": "s02", "lines": s01.lines(SOCK=1)})
    s01.send()
    assert state(pg, off) == "shipped"
    assert problems(pg)[4:] == [("s01", "cancelled")]

    # A request between two other stores.
    s01.event(
        "transfer.requested",
        {"transfer": new_id(), "from_store": "s02", "to_store": "s03", "lines": s01.lines(SOCK=1)},
    )
    s01.send()
    assert problems(pg)[5:] == [("s01", "not_a_party")]

    # A store code HQ does not know: kept (HQ may cancel it), with an alert.
    typo = new_id()
    s01.event(
        "transfer.requested",
        {"transfer": typo, "from_store": "s01", "to_store": "s99", "lines": s01.lines(SOCK=1)},
    )
    s01.send()
    assert problems(pg)[6:] == [("s01", "unknown_store")]
    assert state(pg, typo) == "requested"


def test_a_shipment_heard_before_its_request_counts_once_the_request_arrives(
    pg: Conn, chain: tuple[Store, Store]
) -> None:
    s01, _ = chain
    t = new_id()
    s01.event("transfer.shipped", {"transfer": t, "to_store": "s02", "lines": s01.lines(SOCK=5)})
    s01.send()
    assert problems(pg) == [("s01", "unknown_transfer")]
    s01.event(
        "transfer.requested",
        {"transfer": t, "from_store": "s01", "to_store": "s02", "lines": s01.lines(SOCK=5)},
    )
    s01.send()
    assert state(pg, t) == "shipped"
    assert transit(pg) == {("s02", "SOCK"): 5}


def test_hq_refuses_bad_requests(pg: Conn, chain: tuple[Store, Store]) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"from_store": "s01", "to_store": "s01"}, "same_store"),
        ({"from_store": "s01", "to_store": "s99"}, "unknown_store"),
        ({"lines": []}, "no_lines"),
        ({"lines": [("NOPE", 1)]}, "unknown_sku"),
        ({"lines": [("MUG", 0)]}, "bad_qty"),
    ]
    for change, code in cases:
        values: dict[str, Any] = {
            "from_store": "s01",
            "to_store": "s02",
            "lines": [("MUG", 1)],
            "note": None,
            "by": "B",
        } | change
        with pytest.raises(transfers.TransferError) as refused:
            transfers.create(pg, **values)
        assert refused.value.code == code
    assert pg.execute("SELECT count(*) FROM transfer").fetchone() == (0,)


def test_a_store_pulls_its_transfers_by_sku_a_change_at_a_time(
    pg: Conn, chain: tuple[Store, Store]
) -> None:
    s01, _ = chain
    t = transfers.create(pg, from_store="s01", to_store="s02", lines=[("MUG", 2)], note="n", by="B")
    elsewhere = transfers.create(
        pg, from_store="s02", to_store="s03", lines=[("SOCK", 1)], note=None, by="B"
    )
    first = transfers.changes_since(pg, "s01", 0, 50)
    assert [(x.id, x.state, [(y.sku, y.qty) for y in x.lines]) for x in first.transfers] == [
        (t, "requested", [("MUG", 2)])
    ]
    assert first.next == first.head
    assert transfers.changes_since(pg, "s01", first.next, 50).transfers == []
    transfers.approve(pg, t, by="B")
    s01.event("transfer.shipped", {"transfer": t, "to_store": "s02", "lines": s01.lines(MUG=2)})
    s01.send()
    for store in ("s01", "s02"):
        later = transfers.changes_since(pg, store, first.next, 50)
        assert [(x.state, [(y.sku, y.qty) for y in x.shipped]) for x in later.transfers][-1] == (
            "shipped",
            [("MUG", 2)],
        )
    assert {x.id for x in transfers.changes_since(pg, "s03", 0, 50).transfers} == {elsewhere}
    # One at a time: `next` walks the changes in order.
    paged = transfers.changes_since(pg, "s02", 0, 1)
    assert len(paged.transfers) == 1 and paged.next < paged.head


def test_a_pull_request_that_is_not_one_is_answered_with_an_error(pg: Conn) -> None:
    from cloud import store_rpc

    for payload in (b"nope", b'{"since": -1}', b'{"since": 0, "limit": 0}', b'{"since":0,"x":1}'):
        reply = msgspec.json.decode(store_rpc._answer_transfers(pg, "s01", payload))
        assert reply["error"].startswith("not a transfers request"), payload
    fine = msgspec.json.decode(store_rpc._answer_transfers(pg, "s01", b'{"since": 0}'))
    assert fine == {"transfers": [], "next": 0, "head": 0, "error": None}


@hyp_settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=st.permutations(["s01", "s01", "s02", "s02"]), repeat=st.booleans())
def test_the_two_stores_events_in_any_order_give_the_same_transfer(
    pg: Conn, chain: tuple[Store, Store], order: list[str], repeat: bool
) -> None:
    """s02 asks s01 for 5 mugs and receives 4 with a reason; s01 approves and ships 5. Whatever
    order the two stores' events reach the cloud in (each its own batch, each store's in its
    own order), and with every batch sent twice or not, the transfer ends the same."""
    s01, s02 = chain
    t = new_id()
    s01.event("transfer.approved", {"transfer": t})
    s01.event("transfer.shipped", {"transfer": t, "to_store": "s02", "lines": s01.lines(MUG=5)})
    s02.event(
        "transfer.requested",
        {"transfer": t, "from_store": "s01", "to_store": "s02", "lines": s02.lines(MUG=5)},
    )
    s02.event(
        "transfer.received",
        {"transfer": t, "from_store": "s01", "lines": s02.lines(MUG=4), "reason": "one cracked"},
    )
    queued = {s.name: list(s.held) for s in chain}
    for s in chain:
        s.held = []
    for name in order:
        store = s01 if name == "s01" else s02
        env = queued[name].pop(0)
        payload = batch(store.sent + 1, [env])
        store.sent += 1
        assert ingest_batch(pg, name, payload) == {"applied_through": store.sent}
        if repeat:
            assert ingest_batch(pg, name, payload) == {"applied_through": store.sent}
    shown = transfers.detail(pg, t)
    assert shown is not None
    assert (shown.state, shown.approved_in, shown.receive_reason) == (
        "received",
        "s01",
        "one cracked",
    )
    assert shown.shipped_at is not None and shown.received_at is not None
    assert [(x.sku, x.requested, x.shipped, x.received) for x in shown.lines] == [("MUG", 5, 5, 4)]
    assert transfers.in_transit(pg, ["s02"], ["MUG"]) == {}
    # Only an event heard before the request is a problem, and only once each.
    raised = [p["problem"] for p in shown.problems]
    assert set(raised) <= {"unknown_transfer"}
    assert len(raised) == order[: order.index("s02")].count("s01")
