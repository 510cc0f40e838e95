"""A resent event must be the same event: a changed body with the old id and hash is refused."""

from __future__ import annotations

from typing import Any

from appliance.runtime import Runtime
from protocol.envelope import envelope_dict
from tests.appliance.till import Item, Till
from tests.conftest import FakeWall, Store


def test_a_resent_event_with_a_changed_body_is_refused(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    till = Till(
        store.client,
        "s01",
        store.register_id,
        store.device,
        wall,
        staff_token=store.login("cashier"),
        actor=store.staff["cashier"],
    )
    assert till.open_shift().status_code == 200
    mug = store.rt.db.scalar("SELECT uid FROM variant WHERE sku = 'MUG-1'")
    sold = till.send("sale.completed", till.sale_body([Item(mug, 1, 950)]))
    assert sold.status_code == 200
    again = till.push(sold.envelope)
    assert again.get_json()["duplicates"] == 1  # the same event again: a no-op
    tampered: dict[str, Any] = envelope_dict(sold.envelope)
    tampered["body"] = {**tampered["body"], "receipt": "s01-r01-000999"}
    response = store.client.post(
        "/api/v1/events",
        json={"events": [tampered]},
        headers={"Authorization": f"Bearer {till.staff_token}"},
    )
    assert response.status_code == 422
    assert response.get_json()["error"] == "bad_hash"
    assert store.rt.db.scalar("SELECT receipt FROM sale") == "s01-r01-000001"
