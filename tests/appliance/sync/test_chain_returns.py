"""Returns of another store's sale, end to end on a private Mosquitto and the real
PostgreSQL: the receipt asked of the cloud, priced here, returned against, counted across
stores; and every way that can go wrong (decisions.md §43)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from typing import Any

import psycopg

from appliance.runtime import Runtime
from appliance.sync.uplink import Uplink
from cloud.chain import receipt_elsewhere
from cloud.ingest import ingest_batch
from cloud.store_directory import apply_upload
from cloud.store_rpc import StoreResponder
from protocol.chain import ReceiptReply
from protocol.directory import DirectoryUpload
from protocol.envelope import Envelope
from protocol.ids import new_id
from protocol.pricing import LineResult, refund_for
from tests.appliance.selling.helpers import make_till
from tests.appliance.sync.test_chain import (  # noqa: F401  (fixtures)
    broker,
    get,
    responder,
    settings,
    synced,
    uid,
    uplink,
    worker,
)
from tests.appliance.till import Item, Till
from tests.cloud.batches import batch, offline_till
from tests.cloud.conftest import cloud_dsn, pg, template_db  # noqa: F401  (fixtures)
from tests.conftest import FakeWall, Store

Conn = psycopg.Connection[Any]
RECEIPT = "s02-r01-000001"


class OtherStore:
    """Another store as the cloud knows it: its variant ids and its register's events."""

    def __init__(self, pg: Conn, store: str, skus: Sequence[str]) -> None:  # noqa: F811
        self.pg, self.store = pg, store
        self.ids = {sku: new_id() for sku in skus}
        upload = DirectoryUpload(
            variants_after=0,
            variants=[(n, v, sku) for n, (sku, v) in enumerate(self.ids.items(), start=1)],
        )
        assert apply_upload(pg, store, upload).error is None
        self.till: Till = offline_till(store, f"{store}-r01")
        self.till.shift = new_id()
        self.store_seq = 0

    def send(self, *events: Envelope) -> None:
        first = self.store_seq + 1
        self.store_seq += len(events)
        ack = ingest_batch(self.pg, self.store, batch(first, events))
        assert ack == {"applied_through": self.store_seq}, ack

    def sale(self, items: list[Item], **kwargs: Any) -> dict[str, Any]:
        body = self.till.sale_body(items, **kwargs)
        self.till.wall.advance(1)
        self.send(self.till.event("sale.completed", body))
        return body


def a_sale(other: OtherStore) -> dict[str, Any]:
    """Two tees at 10 % off and a mug, paid by card and cash."""
    items = [
        Item(other.ids["TEE-M-RED"], 2, 1299, discount=("percent", 1000)),
        Item(other.ids["MUG-1"], 1, 950),
    ]
    # Priced once to know the total the tenders must make up; sealed below.
    total = other.till.sale_body(items, receipt=RECEIPT)["totals"]["total"]
    return other.sale(
        items,
        receipt=RECEIPT,
        tenders=[
            {"kind": "card", "amount": 2000, "reference": "T-9"},
            {"kind": "cash", "amount": total - 2000, "tendered": total - 2000},
        ],
    )


def return_body(
    till: Till, receipt: dict[str, Any], line: int, qty: int, tenders: list[dict[str, Any]]
) -> dict[str, Any]:
    sold = next(x for x in receipt["lines"] if x["line"] == line)
    paid = LineResult(
        gross=0, line_discount=0, order_discount=0, net=0, tax=sold["tax"], total=sold["total"]
    )
    refund, tax = refund_for(
        paid, sold_qty=sold["qty"], returned_before=sold["returned"], returning=qty
    )
    return {
        "receipt": till.next_receipt(),
        "shift": till.shift,
        "original": receipt["receipt"],
        "lines": [
            {
                "line": 1,
                "original_line": line,
                "variant": sold["variant"],
                "qty": qty,
                "refund": refund,
                "tax": tax,
                "reason": "changed_mind",
            }
        ],
        "tenders": [{**t, "amount": refund} if "amount" not in t else t for t in tenders],
        "totals": {"total": refund, "tax": tax},
    }


def test_another_stores_sale_is_returned_here_and_counted_across_stores(
    store: Store,
    wall: FakeWall,
    pg: Conn,  # noqa: F811
    worker: subprocess.Popen[bytes],  # noqa: F811
    responder: StoreResponder,  # noqa: F811
    uplink: Uplink,  # noqa: F811
) -> None:
    rt: Runtime = store.rt
    s02 = OtherStore(pg, "s02", ["TEE-M-RED", "MUG-1"])
    sold = a_sale(s02)
    status, receipt = get(store, f"/api/v1/receipts/{RECEIPT}")
    assert status == 200, receipt
    assert (receipt["store"], receipt["register"], receipt["total"]) == (
        "s02",
        "s02-r01",
        sold["totals"]["total"],
    )
    # This store's own ids, found by SKU.
    assert [(x["variant"], x["sku"], x["qty"], x["returnable"]) for x in receipt["lines"]] == [
        (uid(rt, "TEE-M-RED"), "TEE-M-RED", 2, 2),
        (uid(rt, "MUG-1"), "MUG-1", 1, 1),
    ]
    assert [(t["kind"], t["paid"], t["refunded"]) for t in receipt["tenders"]] == [
        ("card", 2000, 0),
        ("cash", sold["totals"]["total"] - 2000, 0),
    ]

    till = make_till(store, wall)
    body = return_body(till, receipt, 1, 1, [{"kind": "card", "reference": "T-9"}])
    response = till.send("return.completed", body)
    assert response.status_code == 200, response.get_json()
    status, again = get(store, f"/api/v1/receipts/{RECEIPT}")
    assert (again["lines"][0]["returned"], again["lines"][0]["returnable"]) == (1, 1)
    assert again["tenders"][0]["refunded"] == body["totals"]["total"]

    # s03 takes the other tee back; the cloud hears of it, and so does this store's lookup.
    s03 = OtherStore(pg, "s03", ["TEE-M-RED"])
    elsewhere = dict(again)
    elsewhere["lines"] = [{**again["lines"][0], "variant": s03.ids["TEE-M-RED"]}]
    s03_return = return_body(s03.till, elsewhere, 1, 1, [{"kind": "cash"}])
    s03.till.wall.advance(1)
    s03.send(s03.till.event("return.completed", s03_return))
    status, third = get(store, f"/api/v1/receipts/{RECEIPT}")
    assert (third["lines"][0]["returned"], third["lines"][0]["returnable"]) == (2, 0)
    over = till.send("return.completed", return_body(till, again, 1, 1, [{"kind": "cash"}]))
    assert over.status_code == 422
    assert over.get_json()["error"] == "over_return"

    # Once synced, s04 asking the cloud sees both returns; this store is told only of s03's.
    synced(rt)
    for asker, qty in (("s04", 2), ("s01", 1)):
        reply = receipt_elsewhere(pg, asker, RECEIPT)
        assert isinstance(reply, ReceiptReply)
        assert [(r.line, r.qty) for r in reply.returned] == [(1, qty)]
    reply = receipt_elsewhere(pg, "s04", RECEIPT)
    assert isinstance(reply, ReceiptReply)
    assert reply.skus == {"1": "TEE-M-RED", "2": "MUG-1"}
    assert reply.refunded == {
        "card": body["totals"]["total"],
        "cash": s03_return["totals"]["total"],
    }


def test_the_refund_goes_back_only_as_it_was_paid(
    store: Store,
    wall: FakeWall,
    pg: Conn,  # noqa: F811
    responder: StoreResponder,  # noqa: F811
    uplink: Uplink,  # noqa: F811
) -> None:
    a_sale(OtherStore(pg, "s02", ["TEE-M-RED", "MUG-1"]))
    status, receipt = get(store, f"/api/v1/receipts/{RECEIPT}")
    assert status == 200, receipt
    till = make_till(store, wall)
    # The mug was 950; the card paid 2000 of the sale, so 950 to card is fine, but not to a
    # gift card that never paid anything.
    wrong = till.send(
        "return.completed",
        return_body(till, receipt, 2, 1, [{"kind": "gift_card", "reference": "G-1"}]),
    )
    assert wrong.status_code == 422
    assert wrong.get_json()["error"] == "refund_tender"
    assert rt_returns(store) == 0


def rt_returns(store: Store) -> int:
    return int(store.rt.db.scalar("SELECT count(*) FROM return_doc"))


def test_a_receipt_nobody_has_is_404_and_one_of_a_store_offline_is_503(
    store: Store,
    pg: Conn,  # noqa: F811
    responder: StoreResponder,  # noqa: F811
    uplink: Uplink,  # noqa: F811
) -> None:
    status, body = get(store, "/api/v1/receipts/s09-r01-000001")
    assert (status, body["error"]) == (404, "unknown_receipt"), body
    responder.stop()
    status, body = get(store, f"/api/v1/receipts/{RECEIPT}")
    assert (status, body["error"]) == (503, "cloud_timeout"), body


def test_without_a_cloud_another_stores_receipt_is_503_and_its_return_is_refused(
    store: Store, wall: FakeWall, catalog: Runtime
) -> None:
    status, body = get(store, f"/api/v1/receipts/{RECEIPT}")
    assert (status, body["error"]) == (503, "cloud_offline"), body
    till = make_till(store, wall)
    receipt = {
        "receipt": RECEIPT,
        "lines": [
            {
                "line": 1,
                "variant": uid(store.rt, "MUG-1"),
                "qty": 1,
                "returned": 0,
                "tax": 158,
                "total": 950,
            }
        ],
    }
    live = till.send("return.completed", return_body(till, receipt, 1, 1, [{"kind": "cash"}]))
    assert live.status_code == 422
    assert live.get_json()["error"] == "unknown_receipt"
    # Replayed (the register was cut off, the return happened): kept and flagged.
    replayed = till.send(
        "return.completed",
        return_body(till, receipt, 1, 1, [{"kind": "cash"}]),
        mode="replay",
        token=store.device,
    )
    assert replayed.status_code == 200, replayed.get_json()
    flags = {row["code"] for row in store.rt.db.query("SELECT code FROM review_flag")}
    assert "unknown_receipt" in flags


def test_a_receipt_this_store_cannot_refund_as_paid_is_refused_with_the_reason(
    store: Store,
    pg: Conn,  # noqa: F811
    responder: StoreResponder,  # noqa: F811
    uplink: Uplink,  # noqa: F811
) -> None:
    s02 = OtherStore(pg, "s02", ["TEE-M-RED", "SOCK-9"])
    s02.sale([Item(s02.ids["SOCK-9"], 1, 300)], receipt="s02-r01-000002")
    status, body = get(store, "/api/v1/receipts/s02-r01-000002")
    assert (status, body["error"]) == (422, "foreign_items_unknown"), body
    assert body["details"]["items"] == ["SOCK-9"]
    # Priced at the reduced rate there, standard here: the totals differ.
    s02.sale([Item(s02.ids["TEE-M-RED"], 1, 1299, tax_class="reduced")], receipt="s02-r01-000003")
    # Tax is included in prices: the total is the same at either rate, the tax is not.
    status, body = get(store, "/api/v1/receipts/s02-r01-000003")
    assert (status, body["error"]) == (422, "foreign_receipt_mismatch"), body
    assert store.rt.db.scalar("SELECT count(*) FROM foreign_sale") == 0


def test_a_voided_sale_elsewhere_cannot_be_returned_here(
    store: Store,
    wall: FakeWall,
    pg: Conn,  # noqa: F811
    responder: StoreResponder,  # noqa: F811
    uplink: Uplink,  # noqa: F811
) -> None:
    s02 = OtherStore(pg, "s02", ["TEE-M-RED", "MUG-1"])
    sold = a_sale(s02)
    sale_id = pg.execute(
        "SELECT id::text FROM event WHERE type = 'sale.completed' AND store = 's02'"
    ).fetchone()
    assert sale_id is not None
    s02.till.wall.advance(1)
    s02.send(
        s02.till.event(
            "sale.voided", {"sale": sale_id[0], "receipt": sold["receipt"], "reason": "wrong card"}
        )
    )
    status, receipt = get(store, f"/api/v1/receipts/{RECEIPT}")
    assert status == 200, receipt
    assert receipt["voided"] and [x["returnable"] for x in receipt["lines"]] == [0, 0]
    till = make_till(store, wall)
    refused = till.send("return.completed", return_body(till, receipt, 2, 1, [{"kind": "cash"}]))
    assert refused.status_code == 422
    assert refused.get_json()["error"] == "voided_sale"
