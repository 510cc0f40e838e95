"""GET /api/v1/transfers/inbound: the shipments a register may receive, with this store's
variant for each SKU; gone once received (by a register's pushed event)."""

from __future__ import annotations

from appliance import transfers
from appliance.runtime import Runtime
from protocol.ids import new_id
from protocol.transfers import SkuLine, TransfersReply, TransferState
from tests.appliance.selling.helpers import make_till, uid
from tests.conftest import FakeWall, Store


def test_inbound_shipments_are_listed_until_received(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    rt = store.rt
    empty = store.client.get("/api/v1/transfers/inbound", headers=store.bearer(store.device))
    assert empty.status_code == 200
    assert empty.get_json() == {"store": "s01", "checked_at": None, "transfers": []}
    coming, asked = new_id(), new_id()
    states = [
        TransferState(
            seq=1,
            id=coming,
            from_store="s02",
            to_store="s01",
            state="shipped",
            requested_in="hq",
            requested_at="2026-12-01T10:00:00+00:00",
            note="for the sale",
            lines=[SkuLine(sku="mug-1", qty=3), SkuLine(sku="NOT-HERE", qty=1)],
            shipped=[SkuLine(sku="mug-1", qty=2), SkuLine(sku="NOT-HERE", qty=1)],
        ),
        # Asked for but not shipped yet: nothing to receive.
        TransferState(
            seq=2,
            id=asked,
            from_store="s02",
            to_store="s01",
            state="approved",
            requested_in="s01",
            requested_at="2026-12-01T10:00:00+00:00",
            lines=[SkuLine(sku="MUG-1", qty=1)],
        ),
    ]
    transfers.apply_page(rt, 0, TransfersReply(transfers=states, next=2, head=2))
    listed = store.client.get("/api/v1/transfers/inbound", headers=store.bearer(store.device))
    body = listed.get_json()
    assert body["checked_at"] is not None
    assert body["transfers"] == [
        {
            "id": coming,
            "from_store": "s02",
            "to_store": "s01",
            "note": "for the sale",
            "lines": [
                {
                    "sku": "mug-1",
                    "title": body["transfers"][0]["lines"][0]["title"],
                    "variant": uid(rt, "MUG-1"),
                    "shipped": 2,
                },
                {"sku": "NOT-HERE", "title": None, "variant": None, "shipped": 1},
            ],
        }
    ]
    assert "Mug" in body["transfers"][0]["lines"][0]["title"]
    till = make_till(store, wall, "cashier")
    pushed = till.send(
        "transfer.received",
        {
            "transfer": coming,
            "from_store": "s02",
            "lines": [{"variant": uid(rt, "MUG-1"), "qty": 2}],
        },
    )
    assert pushed.status_code == 200, pushed.get_json()
    after = store.client.get("/api/v1/transfers/inbound", headers=store.bearer(store.device))
    assert after.get_json()["transfers"] == []
    refused = store.client.get("/api/v1/transfers/inbound")
    assert refused.status_code == 401 and refused.get_json()["error"]
