"""The authorization matrix's rows for the staff pages (tests/hq/test_authorization.py).

CASES: endpoint -> Case. SNAPSHOT: scalar SQL subqueries (each "(SELECT …)") over what this
page's POSTs change: a refused request must leave them equal, an allowed POST must change one.
prepare(hq, store): a cashier working at `store` ("s01" in the manager's scope, "s02" outside
it), and one who has left.
"""

from __future__ import annotations

from typing import Any

import psycopg

from cloud import staff
from tests.hq.authz import EVERYONE, Case, _none
from tests.hq.conftest import Hq
from tests.hq.test_staff import cheap_pin

EDITORS = frozenset(r for r in EVERYONE if r.value != "buyer")


def _pins(pin: str) -> Any:
    return lambda who: {"pin": pin, "pin_again": pin}


CASES: dict[str, Case] = {
    "hq.staff": Case(EVERYONE, lambda i: "/hq/staff", _none),
    "hq.staff_csv": Case(EVERYONE, lambda i: "/hq/staff.csv", _none),
    "hq.staff_person": Case(EVERYONE, lambda i: f"/hq/staff/{i['person']}", _none),
    "hq.staff_add": Case(
        EDITORS,
        lambda i: "/hq/staff",
        lambda who: {
            "name": "New Person",
            "store": "s01",
            "role": "cashier",
            "pin": "1111",
            "pin_again": "1111",
        },
    ),
    "hq.staff_assign": Case(
        EDITORS,
        lambda i: f"/hq/staff/{i['person']}/stores",
        lambda who: {"store": "s01", "role": "supervisor", "pin": "4321", "pin_again": "4321"},
    ),
    "hq.staff_unassign": Case(
        EDITORS, lambda i: f"/hq/staff/{i['person']}/stores/{i['store']}/remove", _none
    ),
    "hq.staff_pin": Case(EDITORS, lambda i: f"/hq/staff/{i['person']}/pin", _pins("2468")),
    "hq.staff_rename": Case(
        EDITORS, lambda i: f"/hq/staff/{i['person']}/name", lambda who: {"name": "Renamed"}
    ),
    "hq.staff_leave": Case(EDITORS, lambda i: f"/hq/staff/{i['person']}/leave", _none),
    "hq.staff_return": Case(EDITORS, lambda i: f"/hq/staff/{i['gone']}/return", _pins("8642")),
}
SNAPSHOT: tuple[str, ...] = (
    "(SELECT string_agg(person || store || role || active || pin_hash || change_seq, ','"
    " ORDER BY person, store) FROM staff_assignment)",
    "(SELECT string_agg(id || name || active, ',' ORDER BY id) FROM staff_person)",
)


def prepare(hq: Hq, store: str) -> dict[str, Any]:
    """A cashier at `store`, and a cashier there who has left."""
    with psycopg.connect(hq.dsn, autocommit=True) as conn:
        person = staff.add_person(
            conn, cheap_pin, name="Casey Cashier", store=store, role="cashier", pin="5555"
        )
        gone = staff.add_person(
            conn, cheap_pin, name="Gone Person", store=store, role="cashier", pin="6666"
        )
        staff.set_active(conn, cheap_pin, gone, active=False, pin=None)
    return {"person": person, "gone": gone}
