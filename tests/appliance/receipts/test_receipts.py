"""Receipts and reports laid out once and rendered as text, ESC/POS bytes and PNG."""

from __future__ import annotations

import dataclasses
import io
import json
from typing import Any

import barcode
import pytest
from PIL import Image

from appliance.errors import NotFound
from appliance.receipts.document import (
    Align,
    Barcode,
    Builder,
    Columns,
    Document,
    Feed,
    Rule,
    Text,
    columns,
    wrap,
)
from appliance.receipts.layouts import (
    local_time,
    money,
    printer_test_page,
    sale_receipt,
    shift_report_document,
)
from appliance.receipts.render import DOTS_PER_CHAR, MARGIN_DOTS, to_escpos, to_png
from appliance.runtime import Runtime
from appliance.shifts import report
from tests.appliance.selling.helpers import make_till, ok, uid
from tests.appliance.till import Item, Till
from tests.conftest import FakeWall, Store


def title_of(rt: Runtime, variant: str) -> str:
    return str(
        rt.db.scalar(
            "SELECT doc ->> '$.title' FROM catalog_feed WHERE kind = 'variant' AND key = ?",
            (variant,),
        )
    )


@pytest.fixture
def sold(store: Store, catalog: Runtime, wall: FakeWall) -> tuple[Till, dict[str, Any]]:
    """2 × Classic Tee at 12.99 and 1 mug at 9.50, paid 20.00 cash and the rest by card."""
    till = make_till(store, wall)
    body = till.sale_body(
        [Item(uid(catalog, "TEE-M-RED"), 2, 1299), Item(uid(catalog, "MUG-1"), 1, 950)],
        tenders=[
            {"kind": "cash", "amount": 2000, "tendered": 2500},
            {"kind": "card", "amount": 1548, "reference": "AUTH1"},
        ],
    )
    ok(till.send("sale.completed", body))
    return till, body


def test_times_are_the_stores_local_time() -> None:
    assert local_time("2026-07-01T11:05:00.000Z", "Europe/Dublin") == "2026-07-01 12:05"
    assert local_time("2026-11-26T07:49:12.345Z", "Europe/Dublin") == "2026-11-26 07:49"
    assert local_time("2026-11-26T07:49:12.345Z", "Europe/Berlin") == "2026-11-26 08:49"
    assert local_time(None, "Europe/Dublin") == ""


def test_money_is_written_as_the_store_writes_it() -> None:
    assert money(123456, "EUR") == "1,234.56"
    assert money(-950, "EUR") == "-9.50"
    assert money(123456, "EUR", "de-DE") == "1.234,56"
    assert money(5, "EUR") == "0.05"
    assert money(1500, "JPY") == "1,500"


def test_long_words_wrap_and_labels_are_cut_before_their_amount() -> None:
    assert wrap("a bb ccc", 4) == ["a bb", "ccc"]
    assert wrap("abcdefghij", 4) == ["abcd", "efgh", "ij"]
    assert columns("Total", "9.50", 12) == "Total   9.50"
    assert columns("A very long product name", "9.50", 12) == "A very… 9.50"
    assert len(columns("x" * 80, "123.45", 48)) == 48


def test_the_sale_receipt_matches_the_hand_computed_one(
    store: Store, catalog: Runtime, sold: tuple[Till, dict[str, Any]]
) -> None:
    till, body = sold
    rt = dataclasses.replace(
        catalog,
        settings=catalog.settings.replace(
            store_name="Main Street", receipt_header="1 Main St, Dublin\nVAT IE1234567T"
        ),
    )
    sale = rt.db.one("SELECT at FROM sale WHERE receipt = ?", (body["receipt"],))
    assert sale is not None
    tee, mug = title_of(rt, uid(rt, "TEE-M-RED")), title_of(rt, uid(rt, "MUG-1"))
    receipt_no = body["receipt"]
    when = local_time(sale["at"], rt.settings.timezone)
    doc = sale_receipt(rt, receipt_no)
    expected = [
        "Main Street",
        "1 Main St, Dublin".center(48).rstrip(),
        "VAT IE1234567T".center(48).rstrip(),
        "",
        columns(f"Receipt {receipt_no}", when, 48),
        "Till: Front till",
        "Served by Casey Cashier",
        "-" * 48,
        tee,
        columns("  2 x 12.99", "25.98", 48),
        mug,
        columns("  1 x 9.50", "9.50", 48),
        "-" * 48,
        "TOTAL EUR 35.48".rjust(24),
        "-" * 48,
        columns("Cash", "20.00", 48),
        columns("  Tendered", "25.00", 48),
        columns("  Change", "5.00", 48),
        columns("Card", "15.48", 48),
        "  Ref AUTH1",
        "-" * 48,
        columns("Tax rate        net", "tax", 48),
        # Tax per line, inclusive 20 %: 25.98 → 21.65 + 4.33; 9.50 → 7.92 + 1.58.
        columns(f"{'20%':<8}{'29.57':>11}", "5.91", 48),
        "-" * 48,
        "",
        f"|| {receipt_no} ||".center(48).rstrip(),
        "",
        "Thank you for shopping with us".center(48).rstrip(),
    ]
    # The store name is big (double width): centred in 24 columns.
    expected[0] = "Main Street".center(24).rstrip()
    names = {row["id"]: row["name"] for row in rt.db.query("SELECT id, name FROM staff")}
    registers = {row["id"]: row["name"] for row in rt.db.query("SELECT id, name FROM register")}
    expected[5] = f"Till: {registers[till.origin]}"
    expected[6] = f"Served by {names[till.actor]}"
    assert doc.lines() == expected


def test_a_gift_receipt_has_no_prices_and_a_reprint_says_so(
    catalog: Runtime, sold: tuple[Till, dict[str, Any]]
) -> None:
    _, body = sold
    gift = sale_receipt(catalog, body["receipt"], gift=True).text()
    assert "GIFT RECEIPT" in gift
    for amount in ("12.99", "25.98", "9.50", "35.48", "20.00", "15.48"):
        assert amount not in gift
    assert "x 2" in gift and "x 1" in gift
    assert f"|| {body['receipt']} ||" in gift  # still returnable
    reprint = sale_receipt(catalog, body["receipt"], reprint=True)
    lines = reprint.lines()
    assert lines[0].strip() == lines[-1].strip() == "*** REPRINT ***"
    with pytest.raises(NotFound):
        sale_receipt(catalog, "s01-r99-000001")


def test_escpos_bytes_are_exact(catalog: Runtime) -> None:
    doc = Document(
        blocks=(
            Text("Shop", Align.CENTER, bold=True, big=True),
            Columns("Tea", "2.50"),
            Rule("="),
            Barcode("s01-r02-000017"),
            Feed(2),
        ),
        width=16,
    )
    out = to_escpos(doc)
    assert out.startswith(b"\x1b@")  # ESC @: initialise
    assert b"\x1bE\x01" in out and b"\x1ba\x01" in out  # bold, centred
    assert b"\x1b!0" in out  # double width and height for the big name
    assert b"Shop\n" in out
    assert b"Tea         2.50\n" in out
    assert b"=" * 16 + b"\n" in out
    # GS k 73 (Code 128), the length, then code set B and the data.
    assert b"\x1dkI\x10{Bs01-r02-000017" in out
    assert out.endswith(b"\x1dV\x00")  # full cut, last
    assert b"\x1bp" not in out  # a receipt never opens the drawer: that is a job of its own


def test_the_png_has_the_layouts_size_and_a_scannable_barcode(catalog: Runtime) -> None:
    doc = Builder(width=48).add(Text("Shop", big=True), Rule(), Barcode("s01-r02-000017")).build()
    image = Image.open(io.BytesIO(to_png(doc)))
    assert image.format == "PNG"
    assert image.size[0] == 48 * DOTS_PER_CHAR + 2 * MARGIN_DOTS
    # The barcode's row of bars: dark and light runs as python-barcode encodes Code 128.
    gray = image.convert("L")
    rows = [
        "".join("1" if gray.getpixel((x, y)) < 128 else "0" for x in range(gray.size[0]))  # type: ignore[operator]
        for y in range(gray.size[1])
    ]
    # The bars are the rows with many dark/light edges (text has few, a rule none).
    bars = [row for row in rows if row.count("10") > 20]
    assert len(bars) >= 60  # 80 dots tall, less anti-aliased edges
    modules = barcode.get("code128", "s01-r02-000017").build()[0]
    row = bars[len(bars) // 2]
    first = row.index("1")
    assert row[first : first + 2 * len(modules) : 2] == modules
    assert row[first + 2 * len(modules) :].count("1") == 0


def test_x_and_z_reports_print_the_reports_figures(
    store: Store, catalog: Runtime, sold: tuple[Till, dict[str, Any]]
) -> None:
    till, _ = sold
    assert till.shift is not None
    x = shift_report_document(catalog, report(catalog, till.shift)).text()
    assert "X REPORT" in x
    assert "Sales (1)" in x and "35.48" in x
    assert "Expected in drawer" in x
    counts = {"2000": 6, "1000": 5, "500": 4, "100": 20}
    ok(till.send("shift.closed", {"shift": till.shift, "cash": {"counts": counts, "total": 21000}}))
    z_row = catalog.db.one("SELECT number, body FROM z_report WHERE shift = ?", (till.shift,))
    assert z_row is not None
    z = shift_report_document(catalog, json.loads(z_row["body"])).text()
    assert f"Z REPORT No. {z_row['number']}" in z
    assert "Over (+) / short (-)" in z


def test_the_test_page_shows_the_width_and_characters(catalog: Runtime) -> None:
    page = printer_test_page(catalog)
    assert "PRINTER TEST" in page.text()
    assert "€" in page.text()
    assert to_escpos(page).startswith(b"\x1b@")
