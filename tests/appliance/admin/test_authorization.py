"""Every admin route × every role: anonymous browsers go to the login page (or get 401), lower
roles get 403 and change nothing, allowed roles get through. The table must name every route
the app has under /admin, so a new page cannot be added without saying who may use it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from appliance import stock_counts, transfers
from appliance.admin.core import ROUTES
from appliance.devices.printers import add_printer
from protocol.ids import new_id
from protocol.permissions import Role
from protocol.transfers import SkuLine, TransfersReply, TransferState
from tests.appliance.admin.conftest import AdminBrowser
from tests.appliance.devices.plugged import plug_scanner
from tests.appliance.selling.helpers import make_till
from tests.appliance.till import Item
from tests.conftest import FakeWall, Store


@dataclass(frozen=True)
class Case:
    role: Role | None
    path: Callable[[dict[str, Any]], str]
    form: dict[str, str]


def _ids(store: Store, tmp: Path, wall: FakeWall) -> dict[str, Any]:
    rt = store.rt
    # An open shift (its X report), a flagged offline event and a stock count.
    till = make_till(store, wall)
    unknown = till.event("sale.completed", till.sale_body([Item(new_id(), 1, 500)]))
    assert till.push(unknown, mode="replay", token=store.device).status_code == 200
    flag = rt.db.scalar("SELECT id FROM review_flag WHERE event = ?", (unknown.id,))
    count = stock_counts.start(rt, scope="cycle", blind=False, staff=store.staff["manager"])
    scanner = plug_scanner(rt)
    folder = tmp / "prints"
    folder.mkdir()
    (folder / "000001-test-page.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    printer = add_printer(rt, name="Demo", connection="demo", address=str(folder))
    # Transfers as pulled from the cloud: one to approve, one to ship, one to receive.
    mug = [SkuLine(sku="MUG-1", qty=2)]
    pulled = {
        name: TransferState(
            seq=n,
            id=new_id(),
            from_store="s02" if state == "shipped" else "s01",
            to_store="s01" if state == "shipped" else "s02",
            state=state,
            requested_in="hq",
            requested_at="2026-12-01T10:00:00+00:00",
            lines=mug,
            shipped=mug if state == "shipped" else [],
        )
        for n, (name, state) in enumerate(
            (("asked", "requested"), ("approved", "approved"), ("inbound", "shipped")), start=1
        )
    }
    transfers.apply_page(rt, 0, TransfersReply(transfers=list(pulled.values()), next=3, head=3))
    return {
        "scanner": scanner.id,
        "printer": printer,
        "register": store.register_id,
        "staff": store.staff["cashier"],
        "shift": till.shift,
        "flag": flag,
        "count": count.id,
        **{f"transfer_{name}": t.id for name, t in pulled.items()},
    }


M, S = Role.MANAGER, Role.SUPERVISOR
CASES: dict[str, Case] = {
    "admin.login": Case(None, lambda i: "/admin/login", {}),
    "admin.login_submit": Case(None, lambda i: "/admin/login", {}),
    "admin.logout": Case(S, lambda i: "/admin/logout", {}),
    "admin.dashboard": Case(S, lambda i: "/admin/", {}),
    "admin.devices": Case(M, lambda i: "/admin/devices", {}),
    "admin.scanner_save": Case(
        M,
        lambda i: f"/admin/devices/scanners/{i['scanner']}",
        {"register": "", "layout": "uk", "prefix": "", "suffix": ""},
    ),
    "admin.printer_add": Case(
        M,
        lambda i: "/admin/devices/printers",
        {"name": "Back", "connection": "network", "address": "192.0.2.9:9100"},
    ),
    "admin.printer_bind": Case(
        M, lambda i: f"/admin/devices/printers/{i['printer']}/bind", {"register": "s01-r01"}
    ),
    "admin.printer_remove": Case(M, lambda i: f"/admin/devices/printers/{i['printer']}/remove", {}),
    "admin.printer_test": Case(M, lambda i: f"/admin/devices/printers/{i['printer']}/test", {}),
    "admin.drawer_test": Case(M, lambda i: "/admin/devices/drawer-test", {"register": "s01-r01"}),
    "admin.bluetooth_pair": Case(M, lambda i: "/admin/devices/bluetooth/pair", {"address": "x"}),
    "admin.demo_print": Case(
        M, lambda i: f"/admin/devices/prints/{i['printer']}/000001-test-page.png", {}
    ),
    "admin.virtual_scan": Case(
        M, lambda i: "/admin/devices/virtual-scan", {"register": "s01-r01", "code": "96385074"}
    ),
    "admin.registers_page": Case(M, lambda i: "/admin/registers", {}),
    "admin.pairing_code": Case(M, lambda i: "/admin/registers/pairing-code", {}),
    "admin.register_revoke": Case(M, lambda i: f"/admin/registers/{i['register']}/revoke", {}),
    "admin.register_unlock": Case(S, lambda i: f"/admin/registers/{i['register']}/unlock", {}),
    "admin.staff_page": Case(S, lambda i: "/admin/staff", {}),
    "admin.staff_add": Case(
        M,
        lambda i: "/admin/staff",
        {"name": "New", "role": "cashier", "pin": "4321", "pin_again": "4321"},
    ),
    "admin.staff_role": Case(
        M, lambda i: f"/admin/staff/{i['staff']}/role", {"role": "supervisor"}
    ),
    "admin.staff_pin": Case(
        M, lambda i: f"/admin/staff/{i['staff']}/pin", {"pin": "8642", "pin_again": "8642"}
    ),
    "admin.staff_deactivate": Case(M, lambda i: f"/admin/staff/{i['staff']}/deactivate", {}),
    "admin.staff_unlock": Case(S, lambda i: f"/admin/staff/{i['staff']}/unlock", {}),
    "admin.sync": Case(S, lambda i: "/admin/sync", {}),
    "admin.review": Case(M, lambda i: "/admin/review", {}),
    "admin.review_resolve": Case(
        M, lambda i: f"/admin/review/{i['flag']}/resolve", {"note": "seen it"}
    ),
    "admin.review_adjust": Case(
        M,
        lambda i: f"/admin/review/{i['flag']}/adjust",
        {"variant": "", "qty": "1", "reason": "found", "note": "x"},
    ),
    "admin.reports": Case(S, lambda i: "/admin/reports", {}),
    "admin.report_shift": Case(S, lambda i: f"/admin/reports/shifts/{i['shift']}?kind=x", {}),
    "admin.report_csv": Case(S, lambda i: f"/admin/reports/shifts/{i['shift']}/csv?kind=x", {}),
    "admin.report_print": Case(
        S, lambda i: f"/admin/reports/shifts/{i['shift']}/print?kind=x", {"printer": "1"}
    ),
    "admin.day_csv": Case(S, lambda i: "/admin/reports/day.csv", {}),
    "admin.stock_page": Case(S, lambda i: "/admin/stock", {}),
    "admin.count_start": Case(S, lambda i: "/admin/stock/counts", {"scope": "cycle"}),
    "admin.count_page": Case(S, lambda i: f"/admin/stock/counts/{i['count']}", {}),
    "admin.count_scan": Case(
        S, lambda i: f"/admin/stock/counts/{i['count']}/scan", {"code": "NOPE-1"}
    ),
    "admin.count_set": Case(
        S, lambda i: f"/admin/stock/counts/{i['count']}/lines", {"variant": "x", "counted": "1"}
    ),
    "admin.count_post": Case(M, lambda i: f"/admin/stock/counts/{i['count']}/post", {}),
    "admin.count_discard": Case(S, lambda i: f"/admin/stock/counts/{i['count']}/discard", {}),
    "admin.delivery_receive": Case(
        S, lambda i: "/admin/stock/deliveries", {"vendor": "Acme", "lines": "NOPE-1 2"}
    ),
    "admin.stock_adjust": Case(
        S, lambda i: "/admin/stock/adjustments", {"code": "NOPE-1", "qty": "1", "reason": "found"}
    ),
    "admin.transfers_page": Case(S, lambda i: "/admin/transfers", {}),
    "admin.transfer_request": Case(
        M, lambda i: "/admin/transfers", {"store": "s02", "direction": "in", "lines": "NOPE-1 2"}
    ),
    "admin.transfer_page": Case(S, lambda i: f"/admin/transfers/{i['transfer_asked']}", {}),
    "admin.transfer_approve": Case(
        M, lambda i: f"/admin/transfers/{i['transfer_asked']}/approve", {}
    ),
    "admin.transfer_ship": Case(
        S, lambda i: f"/admin/transfers/{i['transfer_approved']}/ship", {"qty-MUG-1": "2"}
    ),
    "admin.transfer_receive": Case(
        S, lambda i: f"/admin/transfers/{i['transfer_inbound']}/receive", {"qty-MUG-1": "2"}
    ),
    "admin.settings_page": Case(M, lambda i: "/admin/settings", {}),
    "admin.settings_save": Case(M, lambda i: "/admin/settings", {"store_name": "Renamed"}),
}

# What a route changes, to check that a refused request left it alone.
SNAPSHOT = (
    "SELECT (SELECT group_concat(id || ':' || COALESCE(register, '') || layout) FROM scanner),"
    " (SELECT group_concat(name || COALESCE(removed_ms, '')) FROM printer),"
    " (SELECT count(*) FROM register_printer), (SELECT count(*) FROM print_job),"
    " (SELECT group_concat(id || COALESCE(revoked_at, '')) FROM register),"
    " (SELECT group_concat(id || role || active || pin_hash) FROM staff),"
    " (SELECT count(*) FROM pairing_code),"
    " (SELECT count(*) FROM event), (SELECT count(*) FROM transfer),"
    " (SELECT group_concat(id || COALESCE(resolved_ms, '')) FROM review_flag),"
    " (SELECT group_concat(id || COALESCE(posted_event, '') || COALESCE(discarded_ms, ''))"
    "  FROM count_draft)"
)


def test_the_table_names_every_admin_route(store: Store) -> None:
    app = store.client.application
    rules = {
        rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.startswith("admin.")
    }
    assert rules == set(ROUTES) == set(CASES)
    for endpoint, spec in ROUTES.items():
        assert spec.role == CASES[endpoint].role, endpoint


@pytest.mark.parametrize("who", ["anonymous", "supervisor", "manager"])
@pytest.mark.parametrize("endpoint", sorted(CASES))
def test_every_route_for_every_role(
    endpoint: str, who: str, store: Store, browser_for: Any, tmp_path: Path, wall: FakeWall
) -> None:
    case = CASES[endpoint]
    spec = ROUTES[endpoint]
    ids = _ids(store, tmp_path, wall)
    path = case.path(ids)
    browser: AdminBrowser = browser_for()
    if who != "anonymous":
        browser.sign_in(who)
    before = store.rt.db.one(SNAPSHOT)
    method = spec.methods[0]
    answer = browser.get(path) if method == "GET" else browser.post(path, case.form)
    answer.close()  # a served file is read lazily
    if case.role is None:
        assert answer.status_code in (200, 403, 422), answer.status_code  # the login form
        return
    if who == "anonymous":
        if method == "GET":
            assert answer.status_code == 302
            assert answer.headers["Location"].startswith("/admin/login?next=")
        else:
            assert answer.status_code == 401
        assert tuple(store.rt.db.one(SNAPSHOT)) == tuple(before)
        return
    role = Role.parse(who)
    if role < case.role:
        assert answer.status_code == 403, (answer.status_code, answer.text[:300])
        assert "this page is for a manager" in answer.text
        assert tuple(store.rt.db.one(SNAPSHOT)) == tuple(before)
        # An API-ish caller gets the one error shape.
        shaped = browser.client.open(
            path,
            method=method,
            data={"csrf_token": browser.csrf, **case.form},
            headers={"Accept": "application/json"},
        )
        assert shaped.status_code == 403
        assert shaped.get_json()["error"] == "role_required"
        return
    assert answer.status_code in (200, 303, 422), (answer.status_code, answer.text[:500])
