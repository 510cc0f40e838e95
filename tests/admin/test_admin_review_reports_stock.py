"""The admin pages of part 2 in Chromium against a real appliance (waitress on a free port):
a manager reviews flagged offline events (replayed through the real API), prints a Z report
on the demo printer and downloads its CSV, and takes a stock count with the scan field."""

from __future__ import annotations

import csv
import io
import os
import re
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from appliance.devices.print_queue import PrintWorker
from appliance.devices.printers import add_printer
from appliance.runtime import Runtime
from appliance.server import RunningServer
from tests.admin.test_admin_accessibility import axe_page
from tests.admin.test_admin_pages import go, sign_in
from tests.appliance.selling.helpers import make_till, ok, uid
from tests.appliance.till import Item, Till
from tests.conftest import Store
from tests.pwa.test_accessibility import AXE, serious_violations

__all__ = ["axe_page"]


def _till(store: Store, catalog: Runtime) -> Till:
    return make_till(store, catalog.wall)  # type: ignore[arg-type]  # the real clock


def test_a_manager_reviews_flagged_offline_events(
    admin_page: Page, store: Store, catalog: Runtime, server: RunningServer
) -> None:
    admin = admin_page
    till = _till(store, catalog)
    mug = uid(catalog, "MUG-1")
    # Offline, the register sold 3 mugs the store had not booked in, and rang up a sale whose
    # totals it got wrong; replayed, both are kept and flagged.
    oversold = till.event("sale.completed", till.sale_body([Item(mug, 3, 950)]))
    wrong = till.sale_body([Item(mug, 1, 950)])
    wrong["totals"]["total"] = 900
    wrong["tenders"][0]["amount"] = 900
    mistotalled = till.event("sale.completed", wrong)
    data = ok(till.push(oversold, mistotalled, mode="replay", token=store.device))
    assert len(data["flagged"]) == 2

    sign_in(admin, server.url, store)
    tile = admin.get_by_role("link").filter(has=admin.get_by_test_id("open-flags"))
    expect(admin.get_by_test_id("open-flags")).to_have_text("4")
    tile.click()
    expect(admin.get_by_role("heading", name="Flagged events", level=1)).to_be_visible()

    negative = catalog.db.scalar(
        "SELECT id FROM review_flag WHERE event = ? AND code = 'negative_stock'", (oversold.id,)
    )
    flag = admin.get_by_test_id(f"flag-{negative}")
    expect(flag).to_contain_text("Crème Brûlée Mug")
    expect(flag).to_contain_text("9.50 each")
    expect(flag).to_contain_text("Total 28.50")
    folder_out = os.environ.get("TILLBOX_SCREENSHOTS")
    if folder_out:
        admin.screenshot(path=str(Path(folder_out) / "admin-review.png"))
    # A refused correction keeps the page and says why, next to the field.
    fix = flag.get_by_role("form", name=f"Correct stock for flag {negative}")
    fix.get_by_label("Change (−5 removes 5)").fill("0")
    fix.get_by_label("Note").fill("counted the shelf")
    fix.get_by_role("button", name="Correct stock").click()
    flag = admin.get_by_test_id(f"flag-{negative}")
    fix = flag.get_by_role("form", name=f"Correct stock for flag {negative}")
    expect(fix.locator(f"#fix-{negative}-qty-error")).to_contain_text("not 0")
    assert catalog.db.scalar("SELECT count(*) FROM event WHERE type = 'stock.adjusted'") == 0
    # Corrected: three found in the back room.
    fix.get_by_label("Change (−5 removes 5)").fill("3")
    fix.get_by_label("Reason").select_option("found")
    fix.get_by_label("Note").fill("three in the back room")
    fix.get_by_role("button", name="Correct stock").click()
    expect(admin.get_by_role("status")).to_contain_text(
        f"Stock corrected by +3 and flag {negative} reviewed"
    )
    expect(admin.get_by_test_id(f"flag-{negative}")).to_have_count(0)
    assert catalog.db.scalar("SELECT on_hand FROM stock_level WHERE variant = ?", (mug,)) == -1

    # The money flag: approved with a note; the sale stays as the register recorded it.
    mismatch = catalog.db.scalar(
        "SELECT id FROM review_flag WHERE event = ? AND code = 'totals_mismatch'",
        (mistotalled.id,),
    )
    money = admin.get_by_test_id(f"flag-{mismatch}")
    expect(money).to_contain_text("A money difference cannot be changed here")
    approve = money.get_by_role("form", name=f"Approve flag {mismatch}")
    approve.get_by_label("Note").fill("register had an old price; customer paid 9.00")
    approve.get_by_role("button", name="Approve").click()
    expect(admin.get_by_role("status")).to_contain_text(f"Flag {mismatch} (totals_mismatch)")
    assert tuple(
        catalog.db.one("SELECT resolved_by, note FROM review_flag WHERE id = ?", (mismatch,))
    ) == (store.staff["manager"], "register had an old price; customer paid 9.00")
    assert (
        catalog.db.scalar(
            "SELECT envelope ->> '$.body.totals.total' FROM event WHERE id = ?", (mistotalled.id,)
        )
        == 900
    )
    actions = [
        row[0]
        for row in catalog.db.query(
            "SELECT action FROM admin_audit WHERE action LIKE 'flag%' ORDER BY id"
        )
    ]
    assert actions == ["flag_adjust", "flag_resolve"]


def test_a_manager_prints_a_z_report_downloads_its_csv_and_counts_stock(
    admin_page: Page,
    store: Store,
    catalog: Runtime,
    server: RunningServer,
    worker: PrintWorker,
) -> None:
    admin = admin_page
    till = _till(store, catalog)
    mug = uid(catalog, "MUG-1")
    ok(till.send("stock.received", {"lines": [{"variant": mug, "qty": 5}]}))
    ok(
        till.send(
            "sale.completed",
            till.sale_body([Item(mug, 2, 950)], tenders=[{"kind": "cash", "amount": 1900}]),
        )
    )
    counts = {"2000": 5, "1000": 6, "500": 5, "200": 2, "100": 20}  # 190.00 + 19.00
    ok(
        till.send(
            "shift.closed",
            {"shift": till.shift, "cash": {"counts": counts, "total": 20900}},
        )
    )
    folder = catalog.settings.data_dir / "prints"
    add_printer(catalog, name="Demo", connection="demo", address=str(folder))

    sign_in(admin, server.url, store)
    go(admin, "Reports")
    admin.get_by_role("link", name="Z report 1").click()
    expect(admin.get_by_role("heading", name="Z report 1", level=1)).to_be_visible()
    expect(admin.get_by_test_id("net-sales")).to_have_text("19.00")
    expect(admin.get_by_test_id("over-short")).to_have_text("0.00")
    printing = admin.get_by_role("form", name="Print this report")
    printing.get_by_label("Printer").select_option(label="Demo")
    printing.get_by_role("button", name="Print").click()
    expect(admin.get_by_role("status")).to_contain_text("Z report 1 sent to Demo")
    deadline = time.monotonic() + 10
    while not list(folder.glob("*z-report*.png")) and time.monotonic() < deadline:
        time.sleep(0.05)
    printed = list(folder.glob("*z-report*.png"))
    assert printed and printed[0].read_bytes().startswith(b"\x89PNG")
    text = printed[0].with_suffix(".txt").read_text()
    assert "Z REPORT No. 1" in text and "19.00" in text

    with admin.expect_download() as waiting:
        admin.get_by_role("link", name="Download CSV").click()
    download = waiting.value
    assert download.suggested_filename == "s01-z-report-1.csv"
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8-sig"))))
    table = {(r[0], r[1]): r for r in rows[1:]}
    assert table[("net", "net_sales")][3] == "19.00"
    assert table[("cash", "counted")][4:6] == ["209.00", "0.00"]

    # A cycle count with the scan field: each scan adds one; posted, the variance report.
    go(admin, "Stock")
    start = admin.get_by_role("form", name="Stock counts")
    start.get_by_label("Kind of count").select_option("cycle")
    start.get_by_role("button", name="Start a count").click()
    expect(admin.get_by_role("heading", name="Stock count", level=1)).to_be_visible()
    for _ in range(2):
        field = admin.get_by_label("Scan or type a barcode or SKU")
        expect(field).to_be_focused()
        field.fill("96385074")
        field.press("Enter")  # the scanner's suffix submits the form
        expect(admin.get_by_role("status")).to_be_visible()
    expect(admin.get_by_role("status")).to_contain_text("MUG-1: 2 counted")
    expect(admin.get_by_test_id("line-MUG-1")).to_contain_text("-1")  # 3 on hand, 2 counted
    expect(admin.get_by_test_id("preview-value")).to_have_text("-3.00")
    admin.once("dialog", lambda dialog: dialog.accept())
    admin.get_by_role("button", name="Post the count").click()
    expect(admin.get_by_role("status")).to_contain_text("Count posted")
    expect(admin.get_by_test_id("variance-value")).to_have_text("-3.00")
    expect(admin.get_by_test_id("variance-MUG-1")).to_contain_text("3")
    assert catalog.db.scalar("SELECT on_hand FROM stock_level WHERE variant = ?", (mug,)) == 2


def test_the_pages_of_part_2_pass_axe(
    axe_page: Page, store: Store, catalog: Runtime, server: RunningServer
) -> None:
    assert AXE.is_file(), "pwa/node_modules is missing: run scripts/bootstrap.sh"
    admin = axe_page
    till = _till(store, catalog)
    mug = uid(catalog, "MUG-1")
    ok(
        till.push(
            till.event("sale.completed", till.sale_body([Item(mug, 1, 950)])),
            mode="replay",
            token=store.device,
        )
    )
    found: dict[str, list[dict[str, Any]]] = {}
    sign_in(admin, server.url, store)
    for label in ("Sync queue", "Flagged events", "Reports", "Stock", "Settings"):
        go(admin, label)
        found[label] = serious_violations(admin)
    go(admin, "Reports")
    admin.get_by_role("link", name=re.compile("X report of")).click()
    found["X report"] = serious_violations(admin)
    go(admin, "Stock")
    admin.get_by_role("button", name="Start a count").click()
    admin.get_by_label("Scan or type a barcode or SKU").fill("NOPE")
    admin.get_by_role("button", name="Add").click()
    expect(admin.locator("#scan-code-error")).to_be_visible()
    found["count, refused scan"] = serious_violations(admin)
    go(admin, "Settings")
    admin.get_by_label("Time zone").fill("Nowhere/Else")
    admin.get_by_role("button", name="Save settings").click()
    expect(admin.locator("#settings-timezone-error")).to_be_visible()
    found["settings, refused"] = serious_violations(admin)
    assert found == {name: [] for name in found}
