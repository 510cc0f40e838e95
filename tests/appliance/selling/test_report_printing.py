"""POST /api/v1/shifts/{id}/report/print: an X or Z report printed on the register's own
printer by whoever may read it, through the print queue and the print worker."""

from __future__ import annotations

from pathlib import Path

from appliance.devices.print_queue import PrintWorker
from appliance.devices.printers import add_printer, bind_printer
from appliance.runtime import Runtime
from tests.appliance.selling.helpers import make_till, ok, refused, uid
from tests.appliance.till import Item
from tests.conftest import FakeWall, Store


def _print(store: Store, token: str, shift: str, kind: str) -> object:
    return store.client.post(
        f"/api/v1/shifts/{shift}/report/print?kind={kind}", headers=store.bearer(token)
    )


def test_a_supervisor_prints_the_x_report_on_the_registers_printer(
    store: Store, catalog: Runtime, wall: FakeWall, tmp_path: Path
) -> None:
    till = make_till(store, wall)
    mug = uid(catalog, "MUG-1")
    ok(till.send("stock.received", {"lines": [{"variant": mug, "qty": 5}]}))
    ok(
        till.send(
            "sale.completed",
            till.sale_body([Item(mug, 1, 950)], tenders=[{"kind": "cash", "amount": 950}]),
        )
    )
    shift = till.shift or ""
    supervisor = store.login("supervisor")
    # No printer bound yet: said, nothing queued.
    refused(_print(store, supervisor, shift, "x"), "no_printer", 409)
    printer = add_printer(catalog, name="Front", connection="demo", address=str(tmp_path))
    bind_printer(catalog, store.register_id, printer)
    # A cashier counts blind: no X report for them, printed or not.
    refused(_print(store, store.login("cashier"), shift, "x"), "role_required", 403)
    assert catalog.db.scalar("SELECT count(*) FROM print_job WHERE kind = 'x_report'") == 0
    answer = _print(store, supervisor, shift, "x")
    assert answer.status_code == 202, answer.get_json()  # type: ignore[attr-defined]
    job = catalog.db.one("SELECT * FROM print_job WHERE id = ?", (answer.get_json()["job"],))  # type: ignore[attr-defined]
    assert (job["kind"], job["ref"], job["printer"], job["staff"]) == (
        "x_report",
        shift,
        printer,
        store.staff["supervisor"],
    )
    assert PrintWorker(catalog).run_once() == 1
    text = next(tmp_path.glob("*x-report*.txt")).read_text()
    assert "X REPORT" in text and "9.50" in text
    # A Z report before the close is refused like its GET.
    refused(_print(store, supervisor, shift, "z"), "shift_open", 422)
    refused(
        _print(store, supervisor, "01a21413-8c7e-75a6-a275-979e269c5337", "x"), "not_found", 404
    )
