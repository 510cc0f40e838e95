"""GET /api/v1/sync/status (appliance/sync/status.py): what the appliance holds that the cloud
has not applied, from the journal's indexes; no cloud link yet, so all of it."""

from __future__ import annotations

from typing import Any

from appliance.runtime import Runtime
from appliance.sync.status import STATE_QUERY
from protocol.envelope import format_at
from tests.appliance.selling.helpers import make_till, uid
from tests.appliance.till import Item
from tests.conftest import FakeWall, Store


def _status(store: Store, token: str | None = None) -> dict[str, Any]:
    response = store.client.get("/api/v1/sync/status", headers=store.bearer(token or store.device))
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def test_an_empty_journal_has_nothing_to_sync(store: Store) -> None:
    assert _status(store) == {
        "store": "s01",
        "connected": False,
        "cloud": None,
        "last_ack_at": None,
        "applied_through": 0,
        "outbox": {"depth": 0, "head": 0, "oldest_received_at": None, "oldest_age_s": None},
        "origins": {},
        "catalog": {
            "version": 0,
            "head": None,
            "applied_at": None,
            "problem": None,
            "problem_at": None,
        },
        # The cloud was never asked anything.
        "chain": {
            "answered_at": None,
            "failure": None,
            "failure_at": None,
            "offline_redemptions": 0,
            "offline_redeemed": 0,
            "open_holds": 0,
        },
        # Only an appliance restored from the cloud has a restore report.
        "restore": None,
    }


def test_pushed_events_count_as_unsynced_per_origin(
    store: Store, catalog: Runtime, wall: FakeWall
) -> None:
    started = wall.ms
    till = make_till(store, wall)  # shift.opened
    wall.advance(30)
    for _ in range(2):
        sale = till.sale_body([Item(uid(store.rt, "TEE-M-RED"), 1, 1299)])
        assert till.send("sale.completed", sale).status_code == 200
    # A supervisor's approval is an event of the appliance's own origin.
    approval = store.client.post(
        "/api/v1/overrides",
        json={"action": "no_sale", "reason": "change for the float", "approver_pin": "2468"},
        headers=store.bearer(till.staff_token or ""),
    )
    assert approval.status_code == 201, approval.get_json()
    wall.advance(60)

    status = _status(store, till.staff_token)
    held = int(store.rt.db.scalar("SELECT count(*) FROM event"))
    assert held == 4
    assert status["outbox"] == {
        "depth": held,
        "head": held,
        "oldest_received_at": format_at(started),
        "oldest_age_s": 90,
    }
    assert status["origins"] == {
        "s01-ap": {"held": 1, "cloud": 0},
        store.register_id: {"held": 3, "cloud": 0},
    }
    assert status["connected"] is False and status["applied_through"] == 0


def test_the_status_reads_indexes_not_the_whole_journal(store: Store) -> None:
    plan = [row["detail"] for row in store.rt.db.query("EXPLAIN QUERY PLAN " + STATE_QUERY)]
    event_steps = [step for step in plan if " event " in f" {step} "]
    assert len(event_steps) == 2, plan
    assert all(step.startswith("SEARCH event USING") for step in event_steps), plan


def test_sync_status_is_in_the_openapi_document(store: Store) -> None:
    document = store.client.get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/api/v1/sync/status"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SyncStatus"
    }
    assert set(document["components"]["schemas"]["SyncStatus"]["required"]) == {
        "store",
        "connected",
        "cloud",
        "last_ack_at",
        "applied_through",
        "outbox",
        "origins",
        "catalog",
        "chain",
    }
