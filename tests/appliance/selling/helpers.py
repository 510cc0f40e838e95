"""Helpers shared by the selling tests: scripted registers, lookups, and the answer shapes."""

from __future__ import annotations

from typing import Any

from appliance.runtime import Runtime
from tests.appliance.till import Till
from tests.conftest import FakeWall, Store


def uid(rt: Runtime, sku: str) -> str:
    """A variant's id by its SKU."""
    value: str = rt.db.scalar("SELECT uid FROM variant WHERE sku = ?", (sku,))
    assert value is not None, sku
    return value


def on_hand(store: Store, sku: str) -> int:
    """On-hand by GET /stock, as a register sees it."""
    response = store.client.get(f"/api/v1/stock?variant={sku}", headers=store.bearer(store.device))
    assert response.status_code == 200, response.get_json()
    value: int = response.get_json()["on_hand"]
    return value


def ok(response: Any) -> dict[str, Any]:
    """The JSON of a 200 answer."""
    data: dict[str, Any] = response.get_json()
    assert response.status_code == 200, data
    return data


def refused(response: Any, code: str, status: int = 422) -> dict[str, Any]:
    """The one error shape, with this status and code."""
    data: dict[str, Any] = response.get_json()
    assert response.status_code == status, data
    assert set(data) == {"error", "message", "details"}, data
    assert data["error"] == code, data
    return data


def make_till(store: Store, wall: FakeWall, who: str = "cashier") -> Till:
    """The fixture register with `who` logged in and a shift open."""
    till = Till(
        store.client,
        "s01",
        store.register_id,
        store.device,
        wall,
        staff_token=store.login(who),
        actor=store.staff[who],
    )
    opened = till.open_shift()
    assert opened.status_code == 200, opened.get_json()
    return till


def till_for(
    store: Store, wall: FakeWall, who: str = "cashier", *, register: tuple[str, str] | None = None
) -> Till:
    """A scripted register with `who` logged in (the store's own register unless given)."""
    origin, device = register or (store.register_id, store.device)
    till = Till(client=store.client, store="s01", origin=origin, device=device, wall=wall)
    till.staff_token = store.login(who, device=device)
    till.actor = store.staff[who]
    return till


def as_staff(store: Store, till: Till, who: str) -> Till:
    """The same register (its seq, chain and clock), with `who` logged in instead."""
    till.staff_token = store.login(who, device=till.device)
    till.actor = store.staff[who]
    return till
