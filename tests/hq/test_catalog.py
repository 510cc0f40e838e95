"""The Catalog pages on the real PostgreSQL: the option matrix makes a product's variants,
saves bump change_seq and reach the change feed, bad fields (GS1 check digits, taken SKUs and
barcodes) are refused beside the field with nothing written, a second buyer's stale save is a
409, archive instead of delete, store prices only in one's own stores, categories and vendors,
the CSV import's dry run then apply, the export round-trips, each store's reported catalog
version, and search and paging over a 5,000-variant catalog."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import psycopg
import pytest

from cloud.catalog import changes_since, head_version, import_csv
from cloud.catalog_edit import _FROM, CatalogFilter, _where
from cloud.worker import record_status
from tests.conftest import SMALL_CATALOG
from tests.hq.catalog_forms import errors, form_fields, rows_by_sku
from tests.hq.conftest import Hq, HqBrowser

JSON = {"Accept": "application/json"}


def _pg(hq: Hq) -> psycopg.Connection[Any]:
    return psycopg.connect(hq.dsn, autocommit=True)


def _head(hq: Hq) -> int:
    with _pg(hq) as conn:
        return head_version(conn)


def _product_id(hq: Hq, name: str) -> int:
    return int(hq.query("SELECT id FROM catalog_product WHERE name = %s", (name,))[0][0])


def _editor(browser: HqBrowser, product_id: int | None = None) -> tuple[str, dict[str, str]]:
    path = (
        "/hq/catalog/products/new" if product_id is None else f"/hq/catalog/products/{product_id}"
    )
    page = browser.get(path)
    assert page.status_code == 200, page.text
    action = "/hq/catalog/products" if product_id is None else path
    return page.text, form_fields(page.text, action)


def _row_of(fields: dict[str, str], sku: str) -> int:
    for key, value in fields.items():
        if key.endswith("_sku") and value == sku:
            return int(key[1:].split("_")[0])
    raise AssertionError(f"no row for {sku}: {fields}")


def test_the_option_matrix_makes_six_variants_that_reach_the_stores_feed(hq: Hq) -> None:
    buyer = hq.browser().sign_in("buyer")
    _, fields = _editor(buyer)
    before = _head(hq)
    fields.update(
        name="Polo Shirt",
        category="Apparel",
        vendor="Acme",
        matrix="Size: S, M, L\nColour: Red, Blue",
        sku_prefix="POLO",
        matrix_cost="8.00",
        matrix_price="20.00",
        action="matrix",
    )
    shown = buyer.post("/hq/catalog/products", fields)
    assert shown.status_code == 200, shown.text
    assert "6 variant(s) added below" in shown.text
    assert _head(hq) == before  # nothing saved yet
    rows = rows_by_sku(shown.text)
    assert list(rows) == [
        "POLO-S-RED",
        "POLO-S-BLUE",
        "POLO-M-RED",
        "POLO-M-BLUE",
        "POLO-L-RED",
        "POLO-L-BLUE",
    ]
    fields = form_fields(shown.text, "/hq/catalog/products")
    assert fields["matrix"].strip() == "Size: S, M, L\nColour: Red, Blue"
    # Barcodes for two of them (a UPC-A and an EAN-13, check digits right), then save.
    fields[f"v{_row_of(fields, 'POLO-M-RED')}_barcodes"] = "036000291452"
    fields[f"v{_row_of(fields, 'POLO-L-BLUE')}_barcodes"] = "4006381333931|POLO-INT-1"
    fields[f"v{_row_of(fields, 'POLO-S-RED')}_price"] = "18.50"
    fields["action"] = "save"
    saved = buyer.post("/hq/catalog/products", fields)
    assert saved.status_code == 303, saved.text
    product = _product_id(hq, "Polo Shirt")
    assert saved.headers["Location"].endswith(f"/hq/catalog/products/{product}")
    page = buyer.get(saved.headers["Location"]).text
    assert "Saved Polo Shirt: 6 variant(s) added, 0 changed" in page
    stored = hq.query(
        "SELECT sku, options, cost, price, change_seq FROM catalog_variant"
        " WHERE product_id = %s ORDER BY id",
        (product,),
    )
    assert len(stored) == 6
    assert stored[0][:4] == ("POLO-S-RED", [["Size", "S"], ["Colour", "Red"]], 800, 1850)
    assert all(row[4] > before for row in stored)
    assert _head(hq) > before
    # The stores' change feed has each new variant, with its barcodes and category.
    with _pg(hq) as conn:
        feed = {c.sku: c for c in changes_since(conn, before, 100, "s01").changes}
    assert set(feed) == {row[0] for row in stored}
    assert feed["POLO-L-BLUE"].barcodes == ["4006381333931", "POLO-INT-1"]
    assert feed["POLO-M-RED"].options == {"Size": "M", "Colour": "Red"}
    assert feed["POLO-M-RED"].category == "Apparel" and feed["POLO-M-RED"].price == 2000
    assert hq.query("SELECT action FROM hq_audit WHERE action = 'catalog.product_saved'") == [
        ("catalog.product_saved",)
    ]

    # The matrix on the saved product adds only the missing combinations (an XL).
    _, fields = _editor(buyer, product)
    fields.update(
        matrix="Size: S, M, L, XL\nColour: Red, Blue",
        sku_prefix="POLO",
        matrix_price="22.00",
        action="matrix",
    )
    shown = buyer.post(f"/hq/catalog/products/{product}", fields)
    assert "2 variant(s) added below" in shown.text
    fields = form_fields(shown.text, f"/hq/catalog/products/{product}")
    fields["action"] = "save"
    version = _head(hq)
    saved = buyer.post(f"/hq/catalog/products/{product}", fields)
    assert saved.status_code == 303, saved.text
    page = buyer.get(saved.headers["Location"]).text
    assert "2 variant(s) added, 0 changed, 6 unchanged" in page
    # Unchanged variants kept their change numbers: only the new ones reach the stores.
    with _pg(hq) as conn:
        assert {c.sku for c in changes_since(conn, version, 100, "s01").changes} == {
            "POLO-XL-RED",
            "POLO-XL-BLUE",
        }


def test_bad_fields_are_refused_beside_the_field_and_nothing_is_written(hq: Hq) -> None:
    with _pg(hq) as conn:
        assert import_csv(conn, SMALL_CATALOG.encode()).applied
    buyer = hq.browser().sign_in("buyer")
    product = _product_id(hq, "Classic Tee")
    html, fields = _editor(buyer, product)
    before = hq.query("SELECT string_agg(sku || price || change_seq, ',') FROM catalog_variant")
    row = _row_of(fields, "TEE-M-RED")
    spare = max(int(k[1:].split("_")[0]) for k in fields if k.endswith("_sku"))
    cases = [
        # A wrong GS1 check digit (…932 for …931).
        ({f"v{row}_barcodes": "4006381333932"}, f"v{row}_barcodes", "wrong GS1 check digit"),
        # The mug's barcode, on another product.
        ({f"v{row}_barcodes": "96385074"}, f"v{row}_barcodes", "already on SKU MUG-1"),
        ({f"v{row}_price": "12.9x"}, f"v{row}_price", "is not an amount"),
        ({f"v{row}_price": ""}, f"v{row}_price", "price is required"),
        ({f"v{row}_pack_size": "0"}, f"v{row}_pack_size", "at least 1"),
        ({"name": "Retired Gadget"}, "name", "another product is already called"),
        ({"name": ""}, "name", "product is required"),
        # A new row with the mug's SKU, and one with options the tee already has.
        (
            {
                f"v{spare}_sku": "mug-1",
                f"v{spare}_options": "Size=XL;Color=Red",
                f"v{spare}_price": "1.00",
            },
            f"v{spare}_sku",
            "already used by",
        ),
        (
            {
                f"v{spare}_sku": "TEE-M-RED-2",
                f"v{spare}_options": "Size=M;Color=Red",
                f"v{spare}_price": "1.00",
            },
            f"v{spare}_options",
            "already is 'Classic Tee' with these options",
        ),
        (
            {f"v{spare}_sku": "TEE-S", f"v{spare}_options": "Size=S", f"v{spare}_price": "1.00"},
            f"v{spare}_options",
            "has options Size, Color",
        ),
    ]
    for change, field, reason in cases:
        refused = buyer.post(f"/hq/catalog/products/{product}", {**fields, **change})
        assert refused.status_code == 422, (change, refused.status_code)
        shown = errors(refused.text)
        assert reason in shown.get(field, ""), (change, shown)
        assert 'aria-invalid="true"' in refused.text
        # What was typed is kept in the form.
        typed = form_fields(refused.text, f"/hq/catalog/products/{product}")
        for key, value in change.items():
            assert typed.get(key, "") == value
        assert (
            hq.query("SELECT string_agg(sku || price || change_seq, ',') FROM catalog_variant")
            == before
        )
    # The same in the one error shape for a JSON caller.
    shaped = buyer.post(
        f"/hq/catalog/products/{product}",
        {**fields, f"v{row}_barcodes": "4006381333932"},
        headers=JSON,
    )
    assert shaped.status_code == 422
    body = shaped.get_json()
    assert set(body) == {"error", "message", "details"} and body["error"] == "invalid_product"
    assert "wrong GS1 check digit" in body["details"][f"v{row}_barcodes"]
    assert 'data-sku="TEE-M-RED"' in html


def test_a_second_buyers_stale_save_is_a_409_never_an_overwrite(hq: Hq) -> None:
    with _pg(hq) as conn:
        assert import_csv(conn, SMALL_CATALOG.encode()).applied
    product = _product_id(hq, "Classic Tee")
    buyer = hq.browser().sign_in("buyer")
    admin = hq.browser("192.0.2.11").sign_in("admin")
    _, first = _editor(buyer, product)
    _, second = _editor(admin, product)
    row = _row_of(first, "TEE-M-RED")
    first[f"v{row}_price"] = "11.00"
    assert buyer.post(f"/hq/catalog/products/{product}", first).status_code == 303
    second[f"v{row}_price"] = "14.00"
    refused = admin.post(f"/hq/catalog/products/{product}", second)
    assert refused.status_code == 409, refused.text
    assert "someone else changed this product since you opened it (TEE-M-RED)" in refused.text
    assert "nothing was saved" in refused.text
    # The page now shows the first buyer's price, with fresh change numbers to work from.
    fresh = form_fields(refused.text, f"/hq/catalog/products/{product}")
    assert fresh[f"v{row}_price"] == "11.00"
    assert hq.query("SELECT price FROM catalog_variant WHERE sku = 'TEE-M-RED'") == [(1100,)]
    # A product-level change (its category) is also a change to every variant.
    hq.query("UPDATE catalog_product SET vendor_id = NULL WHERE id = %s", (product,))
    shaped = admin.post(f"/hq/catalog/products/{product}", fresh, headers=JSON)
    assert shaped.status_code == 409
    assert shaped.get_json()["error"] == "edit_conflict"
    assert set(shaped.get_json()["details"]["changed"]) >= {"Classic Tee", "TEE-M-RED"}
    # Saving from the page as it is now works.
    _, again = _editor(admin, product)
    again[f"v{row}_price"] = "14.00"
    assert admin.post(f"/hq/catalog/products/{product}", again).status_code == 303
    assert hq.query("SELECT price FROM catalog_variant WHERE sku = 'TEE-M-RED'") == [(1400,)]


def test_archive_keeps_the_product_and_its_history_and_can_be_undone(hq: Hq) -> None:
    with _pg(hq) as conn:
        assert import_csv(conn, SMALL_CATALOG.encode()).applied
    product = _product_id(hq, "Classic Tee")
    buyer = hq.browser().sign_in("buyer")
    html, _ = _editor(buyer, product)
    archive = form_fields(html, f"/hq/catalog/products/{product}/archive")
    before = _head(hq)
    answer = buyer.post(f"/hq/catalog/products/{product}/archive", archive)
    assert answer.status_code == 303
    assert hq.query(
        "SELECT sku, active FROM catalog_variant WHERE product_id = %s ORDER BY sku", (product,)
    ) == [("TEE-L-RED", False), ("TEE-M-RED", False)]
    with _pg(hq) as conn:
        feed = changes_since(conn, before, 100, "s01").changes
    assert {(c.sku, c.active) for c in feed} == {("TEE-L-RED", False), ("TEE-M-RED", False)}
    listed = rows_by_sku(buyer.get("/hq/catalog").text)
    assert "TEE-M-RED" not in listed and "MUG-1" in listed
    archived = rows_by_sku(buyer.get("/hq/catalog?status=archived").text)
    assert set(archived) == {"TEE-M-RED", "TEE-L-RED", "OLD-1"}
    # An archive form from before a change is refused.
    stale = buyer.post(f"/hq/catalog/products/{product}/archive", archive, headers=JSON)
    assert stale.status_code == 409 and stale.get_json()["error"] == "edit_conflict"
    html, _ = _editor(buyer, product)
    restore = form_fields(html, f"/hq/catalog/products/{product}/archive")
    assert restore["archived"] == "0"
    assert buyer.post(f"/hq/catalog/products/{product}/archive", restore).status_code == 303
    assert hq.query(
        "SELECT bool_and(active) FROM catalog_variant WHERE product_id = %s", (product,)
    ) == [(True,)]


def test_store_managers_view_read_only_and_price_only_their_own_stores(hq: Hq) -> None:
    with _pg(hq) as conn:
        assert import_csv(conn, SMALL_CATALOG.encode()).applied
    product = _product_id(hq, "Classic Tee")
    tee = hq.query("SELECT id FROM catalog_variant WHERE sku = 'TEE-M-RED'")[0][0]
    manager = hq.browser("192.0.2.20").sign_in("manager")
    listing = manager.get("/hq/catalog")
    assert listing.status_code == 200
    assert "New product" not in listing.text and '<th scope="col">Cost</th>' not in listing.text
    page = manager.get(f"/hq/catalog/products/{product}").text
    assert f'action="/hq/catalog/products/{product}"' not in page  # no editor
    assert 'name="v0_price"' not in page
    price_form = form_fields(page, "/hq/catalog/prices")
    assert price_form["store"] == "s01"
    assert '<option value="s02">' not in page
    before = _head(hq)
    set_price = manager.post(
        "/hq/catalog/prices", {**price_form, "variant": str(tee), "price": "10.50"}
    )
    assert set_price.status_code == 303, set_price.text
    with _pg(hq) as conn:
        s01 = {c.sku: c.price for c in changes_since(conn, before, 100, "s01").changes}
        s02 = changes_since(conn, before, 100, "s02").changes
    assert s01 == {"TEE-M-RED": 1050} and s02 == []
    shown = manager.get(f"/hq/catalog/products/{product}").text
    assert "10.50" in shown and "Back to chain price" in shown
    # Another store: refused whether named in the form or the address, nothing stored.
    for path, form in (
        ("/hq/catalog/prices", {"store": "s02"}),
        ("/hq/catalog/prices?store=s02", {}),
    ):
        refused = manager.post(path, {"variant": str(tee), "price": "1.00", **form}, headers=JSON)
        assert refused.status_code == 403, refused.text
        assert refused.get_json()["error"] == "store_out_of_scope"
    assert hq.query("SELECT store, price FROM catalog_store_price") == [("s01", 1050)]
    # Editing is for buyers and admins.
    edit = manager.post(f"/hq/catalog/products/{product}", {"name": "X"}, headers=JSON)
    assert edit.status_code == 403 and edit.get_json()["error"] == "role_required"
    # Bad input: the one shape, nothing stored.
    for form in (
        {"price": "ten"},
        {"price": "-1.00"},
        {"variant": "999999"},
        {"variant": "x"},
    ):
        bad = manager.post(
            "/hq/catalog/prices", {"store": "s01", "variant": str(tee), **form}, headers=JSON
        )
        assert bad.status_code in (404, 422), (form, bad.status_code)
        assert set(bad.get_json()) == {"error", "message", "details"}
    # Back to the chain's price.
    cleared = manager.post("/hq/catalog/prices", {"store": "s01", "variant": str(tee), "price": ""})
    assert cleared.status_code == 303
    assert hq.query("SELECT active FROM catalog_store_price") == [(False,)]


def test_categories_and_vendors_add_rename_and_archive(hq: Hq) -> None:
    with _pg(hq) as conn:
        assert import_csv(conn, SMALL_CATALOG.encode()).applied
    buyer = hq.browser().sign_in("buyer")
    assert buyer.post("/hq/catalog/names/vendors", {"name": "Northwind"}).status_code == 303
    taken = buyer.post("/hq/catalog/names/vendors", {"name": "northwind"}, headers=JSON)
    assert taken.status_code == 409 and taken.get_json()["error"] == "name_taken"
    blank = buyer.post("/hq/catalog/names/categories", {"name": "  "}, headers=JSON)
    assert blank.status_code == 422
    unknown = buyer.post("/hq/catalog/names/colours", {"name": "x"}, headers=JSON)
    assert unknown.status_code == 404
    apparel = hq.query("SELECT id FROM catalog_category WHERE name = 'Apparel'")[0][0]
    before = _head(hq)
    renamed = buyer.post(
        f"/hq/catalog/names/categories/{apparel}", {"name": "Clothing", "active": "1"}
    )
    assert renamed.status_code == 303
    with _pg(hq) as conn:
        feed = changes_since(conn, before, 100, "s01").changes
    assert {(c.sku, c.category) for c in feed} == {
        ("TEE-M-RED", "Clothing"),
        ("TEE-L-RED", "Clothing"),
    }
    page = buyer.get("/hq/catalog/names").text
    assert "Clothing" in page and "Northwind" in page


def test_csv_import_dry_run_then_apply_and_the_export_round_trips(hq: Hq) -> None:
    buyer = hq.browser().sign_in("buyer")
    page = buyer.get("/hq/catalog/import")
    assert page.status_code == 200
    token = buyer.csrf
    bad = SMALL_CATALOG + "BAD 1,Broken,,4006381333932,,,,x,standard,,,1,1\r\n"

    def upload(data: str, **form: str) -> Any:
        return buyer.client.post(
            "/hq/catalog/import",
            data={"csrf_token": token, "file": (io.BytesIO(data.encode()), "c.csv"), **form},
            content_type="multipart/form-data",
        )

    before = _head(hq)
    checked = upload(bad)
    assert checked.status_code == 422, checked.text
    assert "Dry run of c.csv: nothing has changed yet" in checked.text
    problems = checked.text.split('data-testid="problems"')[1]
    assert '<td class="num">6</td><td>sku</td>' in problems
    assert "wrong GS1 check digit" in problems and "is not an amount" in problems
    assert "Apply this file" not in checked.text
    assert _head(hq) == before and hq.query("SELECT count(*) FROM catalog_variant") == [(0,)]
    # With bad rows skipped, the dry run counts what would happen, and changes nothing.
    checked = upload(bad, skip_bad_rows="1")
    assert checked.status_code == 200
    assert '<td class="num" data-testid="created">4</td>' in checked.text
    assert '<td class="num" data-testid="skipped">1</td>' in checked.text
    assert hq.query("SELECT count(*) FROM catalog_variant") == [(0,)]
    apply = form_fields(checked.text, "/hq/catalog/import")
    assert "without its 1 bad row(s)" in checked.text
    applied = buyer.post("/hq/catalog/import", apply)
    assert applied.status_code == 200, applied.text
    assert "Imported c.csv" in applied.text
    assert hq.query("SELECT count(*) FROM catalog_variant") == [(4,)]
    assert _head(hq) > before
    again = buyer.post("/hq/catalog/import", apply, headers=JSON)
    assert again.status_code == 422 and again.get_json()["error"] == "already_applied"
    # Another user cannot apply this buyer's upload.
    admin = hq.browser("192.0.2.11").sign_in("admin")
    other = admin.post("/hq/catalog/import", {"upload": apply["upload"]}, headers=JSON)
    assert other.status_code == 404 and other.get_json()["error"] == "unknown_upload"
    # An empty upload is a field error; a header problem stops the whole file.
    assert upload("").status_code == 422
    header = upload("sku,product,colour\r\nA,B,C\r\n")
    assert header.status_code == 422 and "unknown column" in header.text

    # Export everything (archived OLD-1 too), re-import: all unchanged, nothing new.
    exported = buyer.get("/hq/catalog.csv?status=all")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    table = list(csv.reader(io.StringIO(exported.text)))
    assert table[0] == [
        "sku",
        "product",
        "options",
        "barcodes",
        "category",
        "vendor",
        "cost",
        "price",
        "tax_class",
        "reorder_point",
        "reorder_qty",
        "pack_size",
        "active",
    ]
    by_sku = {row[0]: row for row in table[1:]}
    assert by_sku["MUG-1"][1] == 'Crème Brûlée Mug, "Large"'
    assert by_sku["TEE-L-RED"][2:4] == ["Size=L;Color=Red", "036000291452|TB-0001"]
    assert by_sku["OLD-1"][-1] == "0" and by_sku["MUG-1"][6:8] == ["3.00", "9.50"]
    version = _head(hq)
    with _pg(hq) as conn:
        report = import_csv(conn, exported.data)
    assert (report.created, report.updated, report.unchanged, report.skipped) == (0, 0, 4, 0)
    assert _head(hq) == version
    assert buyer.get("/hq/catalog.csv?status=all").data == exported.data
    # A store manager's copy has no costs (a buying figure).
    manager = hq.browser("192.0.2.20").sign_in("manager")
    theirs = list(csv.reader(io.StringIO(manager.get("/hq/catalog.csv?status=all").text)))
    assert {row[6] for row in theirs[1:]} == {""} and len(theirs) == len(table)
    assert [row[7] for row in theirs[1:]] == [row[7] for row in table[1:]]
    # The default export is what the list shows: active variants only.
    active = list(csv.reader(io.StringIO(buyer.get("/hq/catalog.csv").text)))
    assert {row[0] for row in active[1:]} == {"TEE-M-RED", "TEE-L-RED", "MUG-1"}


def test_each_stores_reported_catalog_version_is_shown(hq: Hq) -> None:
    with _pg(hq) as conn:
        head = import_csv(conn, SMALL_CATALOG.encode()).version
        record_status(
            conn,
            "s01",
            b'{"online": true, "version": "1.0", "catalog_version": %d,'
            b' "catalog_applied_ms": 1765000000000}' % (head - 1),
        )
        # An older appliance says nothing of its catalog: nothing is made up.
        record_status(conn, "s02", b'{"online": true, "version": "0.9"}')
    admin = hq.browser().sign_in("admin")
    page = admin.get("/hq/catalog").text
    s01 = page.split('<tr data-store="s01">')[1].split("</tr>")[0]
    s02 = page.split('<tr data-store="s02">')[1].split("</tr>")[0]
    assert f">{head - 1}<" in s01 and "1 change(s) behind" in s01
    assert "not reported" in s02 and ">—<" in s02
    # The Last Will (offline) keeps the version last reported.
    with _pg(hq) as conn:
        record_status(conn, "s01", b'{"online": false}')
    s01 = admin.get("/hq/catalog").text.split('<tr data-store="s01">')[1].split("</tr>")[0]
    assert f">{head - 1}<" in s01 and "(offline)" in s01
    # A store manager sees only their stores.
    manager = hq.browser("192.0.2.20").sign_in("manager")
    mine = manager.get("/hq/catalog").text
    assert '<tr data-store="s01">' in mine and '<tr data-store="s02">' not in mine


@pytest.mark.parametrize(
    "query", ["page=0", "page=abc", "category=-1", "vendor=1.5", "status=gone", "q=" + "x" * 101]
)
def test_bad_filters_are_422_in_the_one_shape(hq: Hq, query: str) -> None:
    buyer = hq.browser().sign_in("buyer")
    answer = buyer.get(f"/hq/catalog?{query}", headers=JSON)
    assert answer.status_code == 422
    assert answer.get_json()["error"] == "invalid_filter"
    assert buyer.get(f"/hq/catalog.csv?{query}").status_code == 422


def _ean(i: int) -> str:
    body = f"200{i:09d}"
    total = 3 * sum(map(int, body[-1::-2])) + sum(map(int, body[-2::-2]))
    return body + str(-total % 10)


def _big_catalog(n: int) -> bytes:
    lines = ["sku,product,options,barcodes,category,vendor,price"]
    for i in range(n):
        ean = _ean(i)
        lines.append(
            f"SKU-{i:05d},Product {i // 5:04d},Size={'SMLXZ'[i % 5]},{ean},"
            f"Cat {i // 5 % 20},Vendor {i // 5 % 50},{1 + i % 90}.99"
        )
    return ("\r\n".join(lines) + "\r\n").encode()


def test_search_and_paging_stay_fast_over_5000_variants(hq: Hq) -> None:
    with _pg(hq) as conn:
        report = import_csv(conn, _big_catalog(5000))
        assert report.created == 5000, report
        conn.execute("ANALYZE")
        # The search can use the indexes: trigram for a SKU, the key for a barcode.
        # (At 5,000 variants PostgreSQL rightly finds reading the table cheaper; with
        # sequential scans priced out, the plan shows the indexes answer the query's shape.)
        conn.execute("SET enable_seqscan = off")
        where, params = _where(CatalogFilter(text="SKU-0421", status="all"))
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN SELECT v.id" + _FROM + where, params))
        assert "Bitmap Index Scan on catalog_variant_sku_trgm" in plan, plan
        where, params = _where(CatalogFilter(text=_ean(4213), status="all"))
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN SELECT v.id" + _FROM + where, params))
        assert "catalog_barcode_pkey" in plan, plan
        conn.execute("RESET enable_seqscan")
    buyer = hq.browser().sign_in("buyer")
    timings: dict[str, float] = {}
    for name, query in (
        ("first page", ""),
        ("last page", "page=500"),
        ("sku", "q=SKU-04213"),
        ("name", "q=Product+0842"),
        ("barcode", f"q={_ean(4213)}"),
        ("category", "category=3"),
    ):
        best = 1e9
        for _ in range(3):
            started = time.perf_counter()
            answer = buyer.get(f"/hq/catalog?{query}")
            best = min(best, time.perf_counter() - started)
            assert answer.status_code == 200
        timings[name] = best
        if name == "sku":
            assert list(rows_by_sku(answer.text)) == ["SKU-04213"]
        if name == "barcode":
            assert list(rows_by_sku(answer.text)) == ["SKU-04213"]
        if name == "name":
            assert set(rows_by_sku(answer.text)) == {f"SKU-0{4210 + k}" for k in range(5)}
        if name == "last page":
            assert "Page 500 of 500" in answer.text
    print("catalog page timings over 5,000 variants (s):", timings)
    # HQ's page budget is 300 ms (issue 7).
    assert max(timings.values()) < 0.3, timings


def test_a_big_upload_and_a_big_product_fit_the_catalogs_form_limits(hq: Hq) -> None:
    """HQ's forms are capped at 64 KiB and 1,000 fields; the catalog's upload and a product
    of 120 variants (1,500 fields) are allowed more, and only they are."""
    buyer = hq.browser().sign_in("buyer")
    data = _big_catalog(3000)
    assert len(data) > 150_000
    checked = buyer.client.post(
        "/hq/catalog/import",
        data={"csrf_token": buyer.csrf, "file": (io.BytesIO(data), "big.csv")},
        content_type="multipart/form-data",
    )
    assert checked.status_code == 200, checked.text[:300]
    assert '<td class="num" data-testid="created">3000</td>' in checked.text
    _, fields = _editor(buyer)
    fields.update(
        name="Big Sock",
        matrix="Size: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12\nColour: A, B, C, D, E, F, G, H, I, J",
        sku_prefix="BS",
        matrix_price="1.00",
        action="matrix",
    )
    shown = buyer.post("/hq/catalog/products", fields)
    assert len(rows_by_sku(shown.text)) == 120
    fields = form_fields(shown.text, "/hq/catalog/products")
    assert len(fields) > 1000
    fields["action"] = "save"
    saved = buyer.post("/hq/catalog/products", fields)
    assert saved.status_code == 303, saved.text[:300]
    assert hq.query("SELECT count(*) FROM catalog_variant WHERE left(sku, 3) = 'BS-'") == [(120,)]
    # Elsewhere the usual cap stands.
    big = buyer.post("/hq/account/password", {"current_password": "x" * 70_000})
    assert big.status_code == 413


def test_two_saves_at_the_same_moment_one_wins_and_one_is_refused(hq: Hq) -> None:
    """Both opened at the same change numbers and saved at once on their own connections:
    the write lock makes them take turns, so the second sees the first's change and is
    refused; the price is one of the two, never a mix."""
    import threading

    from cloud.catalog_edit import ProductEdit, VariantEdit, product, save_product
    from webui.errors import Conflict

    with _pg(hq) as conn:
        assert import_csv(conn, SMALL_CATALOG.encode()).applied
        opened = product(conn, _product_id(hq, "Classic Tee"))

    def edit(price: str) -> ProductEdit:
        return ProductEdit(
            name=opened.name,
            category=opened.category or "",
            vendor=opened.vendor or "",
            seq=opened.change_seq,
            variants=tuple(
                VariantEdit(
                    id=v.id,
                    seq=v.change_seq,
                    sku=v.sku,
                    options=v.options_text,
                    barcodes="|".join(v.barcodes),
                    price=price if v.sku == "TEE-M-RED" else "12.99",
                    cost="4.50",
                    tax_class=v.tax_class,
                    reorder_point="5",
                    reorder_qty="24",
                    pack_size="1",
                )
                for v in opened.variants
            ),
        )

    outcomes: dict[str, str] = {}
    start = threading.Barrier(2)

    def save(price: str) -> None:
        with _pg(hq) as conn:
            start.wait()
            try:
                save_product(conn, opened.id, edit(price), currency="EUR")
                outcomes[price] = "saved"
            except Conflict:
                outcomes[price] = "refused"

    threads = [threading.Thread(target=save, args=(p,)) for p in ("11.00", "14.00")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes.values()) == ["refused", "saved"], outcomes
    winner = next(p for p, what in outcomes.items() if what == "saved")
    assert hq.query("SELECT price FROM catalog_variant WHERE sku = 'TEE-M-RED'") == [
        (int(winner.replace(".", "")),)
    ]
