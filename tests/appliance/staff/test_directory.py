"""Staff members: unique PINs, roles, deactivation, the last manager."""

from __future__ import annotations

import pytest

from appliance.errors import Conflict, Invalid
from appliance.staff.directory import add_staff, get_staff, list_staff, match_pin, update_staff
from protocol.permissions import Role
from tests.conftest import PINS, Store


def test_pins_are_unique_in_the_store(store: Store) -> None:
    with pytest.raises(Conflict) as taken:
        add_staff(store.rt, name="Newbie", role=Role.CASHIER, pin=PINS["supervisor"])
    assert taken.value.code == "pin_in_use"
    with pytest.raises(Conflict):
        update_staff(store.rt, store.staff["cashier"], pin=PINS["manager"])
    # Keeping one's own PIN is fine.
    update_staff(store.rt, store.staff["cashier"], pin=PINS["cashier"])


@pytest.mark.parametrize("pin", ["123", "1234567", "12a4", " 1234", ""])
def test_pin_shape(store: Store, pin: str) -> None:
    with pytest.raises(Invalid):
        add_staff(store.rt, name="Newbie", role=Role.CASHIER, pin=pin)


def test_ids_count_up_per_store(store: Store) -> None:
    member = add_staff(store.rt, name="  Dana  ", role=Role.CASHIER, pin="55555")
    assert member.id == "s01-staff-5"
    assert member.name == "Dana"


def test_match_pin_finds_only_among_candidates(store: Store) -> None:
    ids = list(store.staff.values())
    found = match_pin(store.rt, PINS["supervisor"], ids)
    assert found is not None and found.id == store.staff["supervisor"]
    assert match_pin(store.rt, PINS["supervisor"], [store.staff["manager"]]) is None
    assert match_pin(store.rt, PINS["supervisor"], ids, exclude=store.staff["supervisor"]) is None


def test_the_last_manager_cannot_be_removed(store: Store) -> None:
    with pytest.raises(Conflict) as last:
        update_staff(store.rt, store.staff["manager"], active=False)
    assert last.value.code == "last_manager"
    with pytest.raises(Conflict):
        update_staff(store.rt, store.staff["manager"], role=Role.SUPERVISOR)
    update_staff(store.rt, store.staff["supervisor"], role=Role.MANAGER)
    update_staff(store.rt, store.staff["manager"], active=False)
    assert not get_staff(store.rt, store.staff["manager"]).active


def test_list_hides_inactive_unless_asked(store: Store) -> None:
    update_staff(store.rt, store.staff["cashier2"], active=False)
    assert store.staff["cashier2"] not in {m.id for m in list_staff(store.rt)}
    assert store.staff["cashier2"] in {m.id for m in list_staff(store.rt, include_inactive=True)}


def test_manager_adds_staff_over_http(store: Store) -> None:
    manager = store.login("manager")
    response = store.client.post(
        "/api/v1/staff",
        json={"name": "Ola", "role": "supervisor", "pin": "86420"},
        headers=store.bearer(manager),
    )
    assert response.status_code == 201
    assert response.get_json()["role"] == "supervisor"
    clash = store.client.post(
        "/api/v1/staff",
        json={"name": "Ola 2", "role": "cashier", "pin": "86420"},
        headers=store.bearer(manager),
    )
    assert clash.status_code == 409
    by_supervisor = store.client.post(
        "/api/v1/staff",
        json={"name": "Ola 3", "role": "cashier", "pin": "97531"},
        headers=store.bearer(store.login("supervisor")),
    )
    assert by_supervisor.status_code == 403
    assert by_supervisor.get_json()["error"] == "role_required"


def test_two_managers_giving_one_new_pin_at_once_cannot_both_succeed(store: Store) -> None:
    """The uniqueness check and the insert happen under one lock."""
    import threading

    results: list[str] = []
    barrier = threading.Barrier(4)

    def add(n: int) -> None:
        barrier.wait()
        try:
            add_staff(store.rt, name=f"Racer {n}", role=Role.CASHIER, pin="424242")
            results.append("ok")
        except Conflict:
            results.append("conflict")

    threads = [threading.Thread(target=add, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["conflict", "conflict", "conflict", "ok"]


def test_bringing_someone_back_needs_a_new_pin(store: Store) -> None:
    """Their old PIN may have been given to someone else while they were away."""
    update_staff(store.rt, store.staff["cashier2"], active=False)
    newcomer = add_staff(store.rt, name="Newcomer", role=Role.SUPERVISOR, pin=PINS["cashier2"])
    with pytest.raises(Invalid) as refused:
        update_staff(store.rt, store.staff["cashier2"], active=True)
    assert refused.value.code == "pin_required"
    with pytest.raises(Conflict):
        update_staff(store.rt, store.staff["cashier2"], active=True, pin=PINS["cashier2"])
    back = update_staff(store.rt, store.staff["cashier2"], active=True, pin="86868")
    assert back.active
    found = match_pin(store.rt, PINS["cashier2"], [store.staff["cashier2"], newcomer.id])
    assert found is not None and found.id == newcomer.id
