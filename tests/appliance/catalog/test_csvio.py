"""Catalog CSV import and export: every bad input is reported and stores nothing."""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from appliance.catalog import queries, upsert
from appliance.catalog.barcodes import lookup_key
from appliance.catalog.csvio import COLUMNS, export_csv, import_csv, import_file, read_csv
from appliance.catalog.records import CSV_COLUMNS, Problem, VariantInput
from appliance.catalog.upsert import UpsertReport
from appliance.db import Database
from appliance.demo.catalog import generate_catalog
from appliance.runtime import Runtime
from tests.conftest import SMALL_CATALOG

HEADER = ",".join(COLUMNS) + "\r\n"
SHORT_HEADER = "sku,product,price\r\n"
# A new variant with every column, to vary one field at a time.
NEW = {
    "sku": "NEW-1",
    "product": "Canvas Tote",
    "options": "",
    "barcodes": "",
    "category": "Bags",
    "vendor": "Acme",
    "cost": "2.00",
    "price": "7.50",
    "tax_class": "standard",
    "reorder_point": "3",
    "reorder_qty": "12",
    "pack_size": "1",
    "active": "1",
}


def line(**fields: str) -> str:
    """One CSV record with all columns: NEW with `fields` changed, quoted as RFC 4180 wants."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([{**NEW, **fields}[c] for c in COLUMNS])
    return out.getvalue()


def full(*records: str) -> bytes:
    return (HEADER + "".join(records)).encode()


@dataclass(frozen=True)
class Snapshot:
    """What must not move when an import is refused."""

    version: int
    variants: int
    tee_price: int
    export: str


def snapshot(rt: Runtime) -> Snapshot:
    out = io.StringIO()
    export_csv(rt, out)
    return Snapshot(
        version=queries.head(rt.db),
        variants=int(rt.db.scalar("SELECT count(*) FROM variant")),
        tee_price=int(rt.db.scalar("SELECT price FROM variant WHERE sku = 'TEE-M-RED'") or -1),
        export=out.getvalue(),
    )


def has(report: UpsertReport, row: int, column: str, fragment: str) -> bool:
    return any(
        p.row == row and p.column == column and fragment in p.reason for p in report.problems
    )


def refused(
    rt: Runtime, data: bytes, row: int, column: str, fragment: str, *, skip: bool = False
) -> UpsertReport:
    """Import `data`; assert it was refused with this problem and nothing was stored."""
    before = snapshot(rt)
    report = import_csv(rt, data, skip_bad_rows=skip)
    assert has(report, row, column, fragment), report.problems
    if not skip:
        assert not report.applied
    assert (report.created, report.updated, report.unchanged) == (0, 0, 0)
    assert report.version == before.version
    after = snapshot(rt)
    assert after.version == before.version
    assert after.variants == before.variants
    assert after.tee_price == before.tee_price == 1299
    assert after.export == before.export
    return report


def price_of(rt: Runtime, sku: str) -> int:
    return int(rt.db.scalar("SELECT price FROM variant WHERE sku = ?", (sku,)))


def doc_of(rt: Runtime, sku: str) -> dict[str, object]:
    uid = rt.db.scalar("SELECT uid FROM variant WHERE sku = ?", (sku,))
    raw = queries.by_id(rt.db, uid)
    assert raw is not None
    result: dict[str, object] = json.loads(raw)
    return result


def exported(rt: Runtime) -> dict[str, dict[str, str]]:
    out = io.StringIO()
    export_csv(rt, out)
    return {r["sku"]: r for r in csv.DictReader(io.StringIO(out.getvalue()))}


# ---- good files ----------------------------------------------------------------------------


def test_small_catalog_imports_every_field(catalog: Runtime) -> None:
    rows = exported(catalog)
    assert set(rows) == {"TEE-M-RED", "TEE-L-RED", "MUG-1", "OLD-1"}
    assert rows["TEE-L-RED"] == {
        "sku": "TEE-L-RED",
        "product": "Classic Tee",
        "options": "Size=L;Color=Red",
        "barcodes": "036000291452|TB-0001",
        "category": "Apparel",
        "vendor": "Acme",
        "cost": "4.50",
        "price": "12.99",
        "tax_class": "standard",
        "reorder_point": "5",
        "reorder_qty": "24",
        "pack_size": "1",
        "active": "1",
    }
    assert rows["MUG-1"]["reorder_point"] == rows["MUG-1"]["reorder_qty"] == ""
    assert rows["OLD-1"]["active"] == "0"


def test_commas_and_quotes_in_a_quoted_name_are_fine(catalog: Runtime) -> None:
    name = 'Tote, "Big" Edition'
    report = import_csv(catalog, full(line(product=name)))
    assert report.applied
    assert report.created == 1
    assert report.problems == ()
    assert exported(catalog)["NEW-1"]["product"] == name
    assert doc_of(catalog, "NEW-1")["product"] == name
    # The fixture's own quoted name, with an accent, a comma and quotes, survived too.
    assert doc_of(catalog, "MUG-1")["product"] == 'Crème Brûlée Mug, "Large"'


def test_utf8_bom_is_accepted(catalog: Runtime) -> None:
    report = import_csv(catalog, b"\xef\xbb\xbf" + full(line(product="Café Tote")))
    assert report.applied
    assert report.created == 1
    assert doc_of(catalog, "NEW-1")["product"] == "Café Tote"


def test_header_only_imports_nothing_and_is_applied(catalog: Runtime) -> None:
    before = snapshot(catalog)
    for data in (HEADER.encode(), SHORT_HEADER.encode(), b"sku,product,price"):
        report = import_csv(catalog, data)
        assert report.applied
        assert (report.created, report.updated, report.unchanged, report.skipped) == (0, 0, 0, 0)
        assert report.problems == ()
        assert report.version == before.version
    assert snapshot(catalog) == before


def test_header_names_are_trimmed_and_case_insensitive(catalog: Runtime) -> None:
    report = import_csv(catalog, b" SKU , Product ,PRICE\r\nNEW-1,Tote,1.00\r\n")
    assert report.applied
    assert report.created == 1
    assert price_of(catalog, "NEW-1") == 100


def test_blank_lines_are_skipped_but_counted_as_rows(catalog: Runtime) -> None:
    data = full(line(sku="NEW-1"), "\r\n", line(sku="NEW-2", price="oops"))
    report = refused(catalog, data, 4, "price", "not an amount")
    assert [p.row for p in report.problems] == [4]


def test_optional_cells_can_be_empty(catalog: Runtime) -> None:
    report = import_csv(
        catalog,
        full(
            line(
                options="",
                barcodes="",
                category="",
                vendor="",
                cost="",
                tax_class="",
                reorder_point="",
                reorder_qty="",
                pack_size="",
                active="",
            )
        ),
    )
    assert report.applied, report.problems
    row = exported(catalog)["NEW-1"]
    assert row["category"] == row["vendor"] == row["cost"] == row["barcodes"] == ""
    assert row["tax_class"] == "standard"  # the first tax class is the default
    assert row["pack_size"] == "1"
    assert row["active"] == "1"


def test_names_saved_decomposed_match_the_stored_names(catalog: Runtime) -> None:
    """macOS writes `è` as `e` + U+0300: still the same product, not a look-alike second one."""
    before = snapshot(catalog)
    report = import_csv(catalog, unicodedata.normalize("NFD", SMALL_CATALOG).encode())
    assert (report.created, report.updated, report.unchanged) == (0, 0, 4)
    assert snapshot(catalog) == before
    data = full(
        line(sku="NEW-1", product="Thé", category=unicodedata.normalize("NFD", "Épicerie")),
        line(sku="NEW-2", product="Café", category="Épicerie", options=""),
    )
    assert import_csv(catalog, data).created == 2
    names = [r[0] for r in catalog.db.query("SELECT name FROM category WHERE name LIKE '%picerie'")]
    assert names == ["Épicerie"]
    assert doc_of(catalog, "NEW-1")["category"] == doc_of(catalog, "NEW-2")["category"]


def test_tax_class_is_case_insensitive(catalog: Runtime) -> None:
    report = import_csv(catalog, full(line(tax_class="Reduced")))
    assert report.applied
    assert doc_of(catalog, "NEW-1")["tax_class"] == "reduced"


# ---- bad files: each is reported with row, column and reason, and stores nothing -------------


LINE_BREAKS = [
    "Two\nLines",
    "Two\r\nLines",
    "Two\rLines",
    "Two\u2028Lines",
    "Tab\there",
    "Next\x85Line",
]


@pytest.mark.parametrize("name", LINE_BREAKS, ids=repr)
def test_line_break_in_product_name_is_refused(catalog: Runtime, name: str) -> None:
    refused(catalog, full(line(sku="NEW-0"), line(product=name)), 3, "product", "line break")


def test_line_break_in_category_vendor_and_options_is_refused(catalog: Runtime) -> None:
    refused(catalog, full(line(category="Bags\nand more")), 2, "category", "line break")
    refused(catalog, full(line(vendor="Acme\r\nLtd")), 2, "vendor", "line break")
    refused(catalog, full(line(options="Size=M\nL")), 2, "options", "line break")


def test_non_utf8_bytes_are_refused(catalog: Runtime) -> None:
    data = full(line(sku="NEW-0"), line(product="Café Tote").replace("é", "\x00"))
    data = data.replace(b"\x00", "é".encode("latin-1"))
    report = refused(catalog, data, 3, "", "not UTF-8")
    assert "0xE9" in report.problems[0].reason
    assert "save the file as UTF-8" in report.problems[0].reason


def test_latin1_file_is_refused_even_when_skipping_bad_rows(catalog: Runtime) -> None:
    data = (HEADER + line(sku="NEW-0") + line(product="Café") + line(sku="NEW-2")).encode("latin-1")
    report = refused(catalog, data, 3, "", "not UTF-8", skip=True)
    assert not report.applied


def test_utf16_file_is_refused(catalog: Runtime) -> None:
    refused(catalog, full(line()).decode().encode("utf-16"), 1, "", "not UTF-8", skip=True)


def test_wrong_check_digit_is_refused(catalog: Runtime) -> None:
    refused(catalog, full(line(barcodes="4006381333932")), 2, "barcodes", "wrong GS1 check digit")
    refused(catalog, full(line(barcodes="TB-0009|036000291453")), 2, "barcodes", "036000291453")


@pytest.mark.parametrize(
    ("codes", "fragment"),
    [
        ("TB 0009", "not a barcode"),
        ("TB-0009|", "empty"),
        ("A" * 49, "up to 48"),
        ("96385074|96385074", "listed twice"),
        ("036000291452|0036000291452", "listed twice"),  # one item, two spellings
    ],
)
def test_bad_barcode_lists_are_refused(catalog: Runtime, codes: str, fragment: str) -> None:
    refused(catalog, full(line(barcodes=codes)), 2, "barcodes", fragment)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("5000112548167", "5000112548167"),
        ("012345678905", "0012345678905"),  # UPC-A and its EAN-13 spelling
        ("TB-0099", "tb-0099"),  # internal codes ignore case
    ],
)
def test_duplicate_barcode_within_the_file_is_refused(
    catalog: Runtime, first: str, second: str
) -> None:
    data = full(line(sku="NEW-1", barcodes=first), line(sku="NEW-2", barcodes=second))
    refused(catalog, data, 3, "barcodes", "is also on row 2 (SKU NEW-1)")


@pytest.mark.parametrize(
    ("code", "owner"),
    [
        ("4006381333931", "TEE-M-RED"),
        ("0036000291452", "TEE-L-RED"),
        ("tb-0001", "TEE-L-RED"),
        ("5901234123457", "OLD-1"),  # an inactive variant still owns its barcode
    ],
)
def test_barcode_of_a_stored_variant_is_refused(catalog: Runtime, code: str, owner: str) -> None:
    refused(catalog, full(line(barcodes=code)), 2, "barcodes", f"already on SKU {owner}")


@pytest.mark.parametrize(
    ("column", "value", "fragment"),
    [
        ("price", "-1.00", "must not be negative"),
        ("price", "-0.01", "must not be negative"),
        ("cost", "-2", "must not be negative"),
        ("price", "12.999", "decimals"),
        ("cost", "1.001", "decimals"),
        ("price", "12,99", "separator"),
        ("price", "1e3", "exponent"),
        ("price", "€12", "not an amount"),
        ("price", "", "price is required"),
        ("price", "NaN", "not an amount"),
        ("tax_class", "luxury", "not one of standard, reduced, zero"),
        ("active", "yes", "active must be 1 or 0"),
        ("active", "2", "active must be 1 or 0"),
        ("active", "true", "active must be 1 or 0"),
        ("reorder_point", "-1", "whole number of at least 0"),
        ("reorder_point", "2.5", "whole number"),
        ("reorder_qty", "-5", "whole number of at least 0"),
        ("reorder_qty", "ten", "whole number"),
        ("reorder_qty", "\u0663", "whole number"),  # Arabic-Indic 3 is not an ASCII digit
        ("pack_size", "0", "at least 1"),
        ("pack_size", "1.5", "whole number"),
        ("sku", "", "sku is required"),
        ("sku", "TEE M", "is not a SKU"),
        ("sku", "-TEE", "is not a SKU"),
        ("sku", "X" * 65, "is not a SKU"),
        ("product", "", "product is required"),
        ("product", "   ", "product is required"),
        ("product", "P" * 201, "longer than 200"),
        ("options", "Size", "is not Name=Value"),
        ("options", "Size=", "is not Name=Value"),
        ("options", "Size=M;size=L", "appears twice"),
        ("options", "A=1;B=2;C=3;D=4;E=5;F=6", "at most 5"),
    ],
)
def test_bad_field_is_refused(catalog: Runtime, column: str, value: str, fragment: str) -> None:
    refused(catalog, full(line(sku="NEW-0"), line(**{column: value})), 3, column, fragment)


@pytest.mark.parametrize("missing", ["sku", "product", "price"])
def test_missing_required_column_is_refused(catalog: Runtime, missing: str) -> None:
    columns = [c for c in COLUMNS if c != missing]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerow({**NEW, "sku": "TEE-M-RED", "price": "1.00"})
    report = refused(
        catalog, out.getvalue().encode(), 1, missing, f"required column {missing} is missing"
    )
    assert len(report.problems) == 1


def test_unknown_column_is_refused(catalog: Runtime) -> None:
    data = b"sku,product,price,colour\r\nTEE-M-RED,Classic Tee,1.00,red\r\n"
    report = refused(catalog, data, 1, "colour", "unknown column 'colour'")
    assert "sku, product, options" in report.problems[0].reason  # names the known columns


def test_unknown_column_is_refused_even_when_skipping(catalog: Runtime) -> None:
    data = b"sku,product,price,colour\r\nTEE-M-RED,Classic Tee,1.00,red\r\n"
    report = refused(catalog, data, 1, "colour", "unknown column", skip=True)
    assert not report.applied


def test_duplicate_column_is_reported_once(catalog: Runtime) -> None:
    data = b"sku,product,price,PRICE\r\nTEE-M-RED,Classic Tee,1.00,2.00\r\n"
    report = refused(catalog, data, 1, "price", "appears 2 times")
    assert len(report.problems) == 1


@pytest.mark.parametrize(("first", "second"), [("NEW-1", "NEW-1"), ("NEW-1", "new-1")])
def test_duplicate_sku_is_refused(catalog: Runtime, first: str, second: str) -> None:
    data = full(line(sku=first), line(sku=second, product="Other"))
    refused(catalog, data, 3, "sku", "is also on row 2")


def test_row_with_too_many_fields_is_refused(catalog: Runtime) -> None:
    data = SHORT_HEADER + "NEW-1,Tote,1.00\r\nNEW-2,Tote, Big,2.00\r\n"
    refused(catalog, data.encode(), 3, "", "row has 4 fields; the header has 3")


def test_row_with_too_few_fields_is_refused(catalog: Runtime) -> None:
    data = SHORT_HEADER + "NEW-1,Tote\r\nNEW-2,Bag,2.00\r\n"
    refused(catalog, data.encode(), 2, "", "row has 2 fields; the header has 3")


def test_unquoted_quote_in_the_middle_is_refused(catalog: Runtime) -> None:
    data = SHORT_HEADER + 'NEW-1,"Tote" Big,1.00\r\nNEW-2,Bag,2.00\r\n'
    refused(catalog, data.encode(), 2, "", "cannot be read", skip=True)


@pytest.mark.parametrize("skip", [False, True])
def test_unbalanced_quote_is_refused(catalog: Runtime, skip: bool) -> None:
    data = SHORT_HEADER + 'NEW-1,Tote,1.00\r\nNEW-2,"Bag,2.00\r\nNEW-3,Box,3.00\r\n'
    report = refused(catalog, data.encode(), 3, "", "cannot be read", skip=skip)
    # The rows before the broken quote are not imported on their own either.
    assert not report.applied


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\r\n", b"\n\n"])
def test_empty_file_is_refused(catalog: Runtime, data: bytes) -> None:
    refused(catalog, data, 1, "", "the file is empty", skip=True)


def test_product_rows_that_disagree_on_category_are_refused(catalog: Runtime) -> None:
    data = full(
        line(sku="NEW-1", options="Size=S"),
        line(sku="NEW-2", options="Size=M", category="Shoes"),
    )
    refused(catalog, data, 3, "category", "'Canvas Tote' is in category 'Bags' on row 2")


def test_category_case_is_not_a_disagreement(catalog: Runtime) -> None:
    data = full(
        line(sku="NEW-1", options="Size=S"),
        line(sku="NEW-2", options="Size=M", category="BAGS"),
    )
    assert import_csv(catalog, data).created == 2


def test_product_rows_that_disagree_on_vendor_are_refused(catalog: Runtime) -> None:
    data = full(
        line(sku="NEW-1", options="Size=S"),
        line(sku="NEW-2", options="Size=M", vendor="Other Co"),
    )
    refused(catalog, data, 3, "vendor", "comes from vendor 'Acme' on row 2")


def test_product_rows_with_different_option_names_are_refused(catalog: Runtime) -> None:
    data = full(
        line(sku="NEW-1", options="Size=S"),
        line(sku="NEW-2", options="Color=Red"),
    )
    refused(catalog, data, 3, "options", "has options Size on row 2")


def test_two_variants_with_the_same_options_are_refused(catalog: Runtime) -> None:
    data = full(
        line(sku="NEW-1", options="Size=S;Color=Red"),
        line(sku="NEW-2", options="Size=S;Color=Red"),
    )
    refused(catalog, data, 3, "options", "SKU NEW-1 on row 2 already is 'Canvas Tote'")


def test_two_variants_without_options_of_one_product_are_refused(catalog: Runtime) -> None:
    data = full(line(sku="NEW-1"), line(sku="NEW-2"))
    refused(catalog, data, 3, "options", "already is 'Canvas Tote' with these options")


def test_new_variant_with_the_options_of_a_stored_one_is_refused(catalog: Runtime) -> None:
    data = SHORT_HEADER.replace("price", "options,price") + (
        "TEE-M-RED-2,Classic Tee,Size=M;Color=Red,12.99\r\n"
    )
    refused(catalog, data.encode(), 2, "options", "SKU TEE-M-RED already is 'Classic Tee'")


def test_new_variant_with_other_option_names_than_stored_ones_is_refused(
    catalog: Runtime,
) -> None:
    data = b"sku,product,options,price\r\nTEE-S,Classic Tee,Size=S,12.99\r\n"
    refused(catalog, data, 2, "options", "'Classic Tee' has options Size, Color on SKU TEE-")


def test_variants_may_swap_options_within_one_file(catalog: Runtime) -> None:
    data = (
        b"sku,product,options,price\r\n"
        b"TEE-M-RED,Classic Tee,Size=L;Color=Red,12.99\r\n"
        b"TEE-L-RED,Classic Tee,Size=M;Color=Red,12.99\r\n"
    )
    report = import_csv(catalog, data)
    assert report.applied, report.problems
    assert report.updated == 2
    assert doc_of(catalog, "TEE-M-RED")["options"] == {"Size": "L", "Color": "Red"}


def test_every_problem_in_a_file_is_reported_in_row_order(catalog: Runtime) -> None:
    data = full(
        line(sku="NEW-1", price="-1"),
        line(sku="NEW-2", barcodes="4006381333932", pack_size="0"),
        line(sku="NEW-3", options="Size=S"),
        line(sku="new-3", options="Size=M"),
    )
    report = refused(catalog, data, 2, "price", "negative")
    assert [(p.row, p.column) for p in report.problems] == [
        (2, "price"),
        (3, "barcodes"),
        (3, "pack_size"),
        (5, "sku"),
    ]
    assert report.skipped == 3
    assert "SKU new-3 is also on row 4" in report.problems[-1].reason
    assert report.problems[0].to_json() == {
        "row": 2,
        "column": "price",
        "reason": "price must not be negative",
    }


def test_read_csv_validates_without_writing(catalog: Runtime) -> None:
    before = snapshot(catalog)
    inputs, problems = read_csv(catalog, full(line(sku="NEW-1"), line(sku="NEW-2", price="x")))
    assert [i.sku for i in inputs] == ["NEW-1"]
    assert inputs[0].price == 750
    assert inputs[0].row == 2
    assert problems == [Problem(row=3, column="price", reason=problems[0].reason)]
    assert snapshot(catalog) == before


# ---- skipping bad rows -------------------------------------------------------------------------


def test_skip_bad_rows_imports_the_good_rows_and_reports_the_bad(catalog: Runtime) -> None:
    before = snapshot(catalog)
    data = full(
        line(sku="NEW-1", options="Size=S"),
        line(sku="NEW-2", options="Size=M", price="-1"),
        line(sku="NEW-3", options="Size=L", barcodes="4006381333931"),  # taken by TEE-M-RED
        line(sku="NEW-4", options="Size=XL", barcodes="5000112548167"),
        line(sku="NEW-5", options="Size=XXL", barcodes="5000112548167"),  # same as row 5
    )
    report = import_csv(catalog, data, skip_bad_rows=True)
    assert report.applied
    assert report.created == 2
    assert report.skipped == 3
    assert [(p.row, p.column) for p in report.problems] == [
        (3, "price"),
        (4, "barcodes"),
        (6, "barcodes"),
    ]
    assert report.version > before.version
    skus = set(exported(catalog))
    assert {"NEW-1", "NEW-4"} <= skus
    assert not {"NEW-2", "NEW-3", "NEW-5"} & skus
    assert doc_of(catalog, "NEW-4")["barcodes"] == ["5000112548167"]
    assert price_of(catalog, "TEE-M-RED") == 1299


def test_skipping_the_owner_row_keeps_its_barcode_taken(catalog: Runtime) -> None:
    # Row 2 would free TEE-M-RED's barcode but is bad; row 3 may then not take it.
    data = full(
        line(sku="TEE-M-RED", product="Classic Tee", options="Size=M;Color=Red", price="x"),
        line(sku="NEW-1", barcodes="4006381333931"),
    )
    refused(catalog, data, 3, "barcodes", "already on SKU TEE-M-RED")
    report = import_csv(catalog, data, skip_bad_rows=True)
    assert report.applied
    assert report.created == 0
    assert {p.row for p in report.problems} == {2, 3}
    assert json.loads(queries.by_barcode(catalog.db, "04006381333931") or b"{}")["sku"] == (
        "TEE-M-RED"
    )


def test_skipping_a_bad_row_clears_the_clash_it_caused(catalog: Runtime) -> None:
    # Row 2 is bad on its own, so its SKU is no longer a duplicate of row 3's.
    data = full(line(sku="NEW-1", price="x"), line(sku="NEW-1", product="Other"))
    report = import_csv(catalog, data, skip_bad_rows=True)
    assert report.applied
    assert report.created == 1
    assert [p.row for p in report.problems] == [2]
    assert doc_of(catalog, "NEW-1")["product"] == "Other"


def test_all_rows_bad_with_skip_stores_nothing(catalog: Runtime) -> None:
    report = refused(catalog, full(line(price="x")), 2, "price", "not an amount", skip=True)
    assert report.skipped == 1


# ---- updates -----------------------------------------------------------------------------------


def test_reimporting_the_same_file_changes_nothing(catalog: Runtime) -> None:
    before = snapshot(catalog)
    feed = queries.changes(catalog.db, since=0, limit=100)
    report = import_csv(catalog, SMALL_CATALOG.encode())
    assert report.applied
    assert (report.created, report.updated, report.unchanged) == (0, 0, 4)
    assert report.version == before.version
    assert snapshot(catalog) == before
    assert queries.changes(catalog.db, since=0, limit=100) == feed


def test_changing_one_price_updates_one_variant_and_bumps_the_version_once(
    catalog: Runtime,
) -> None:
    before = queries.head(catalog.db)
    data = SMALL_CATALOG.replace(
        "4.50,12.99,standard,5,24,1,1\r\nTEE-L", "4.50,14.99,standard,5,24,1,1\r\nTEE-L"
    )
    report = import_csv(catalog, data.encode())
    assert (report.created, report.updated, report.unchanged) == (0, 1, 3)
    assert report.version == queries.head(catalog.db) == before + 1
    assert price_of(catalog, "TEE-M-RED") == 1499
    assert price_of(catalog, "TEE-L-RED") == 1299
    page = queries.changes(catalog.db, since=before, limit=100)
    assert [json.loads(c)["data"]["sku"] for c in page.changes] == ["TEE-M-RED"]
    assert json.loads(page.changes[0])["data"]["price"] == 1499


def test_changing_a_product_category_updates_all_its_variants(catalog: Runtime) -> None:
    before = queries.head(catalog.db)
    data = b"sku,product,category,price\r\nTEE-M-RED,Classic Tee,Clothing,12.99\r\n"
    report = import_csv(catalog, data)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 0)
    # A new category, and both variants of the product (TEE-L-RED was not in the file).
    assert report.version == before + 3
    page = queries.changes(catalog.db, since=before, limit=100)
    entries = [json.loads(c) for c in page.changes]
    assert [(e["kind"], e["data"].get("sku") or e["data"]["name"]) for e in entries] == [
        ("category", "Clothing"),
        ("variant", "TEE-M-RED"),
        ("variant", "TEE-L-RED"),
    ]
    assert {e["data"].get("category") for e in entries[1:]} == {"Clothing"}
    assert entries[1]["data"]["category_id"] == entries[0]["id"]
    assert exported(catalog)["TEE-L-RED"]["category"] == "Clothing"


def test_changing_a_barcode_list_replaces_it(catalog: Runtime) -> None:
    data = b"sku,product,barcodes,price\r\nTEE-L-RED,Classic Tee,TB-0001|96385074,12.99\r\n"
    # 96385074 belongs to MUG-1, which the file does not touch.
    refused(catalog, data, 2, "barcodes", "already on SKU MUG-1")
    data = b"sku,product,barcodes,price\r\nTEE-L-RED,Classic Tee,TB-0001|5000112548167,12.99\r\n"
    report = import_csv(catalog, data)
    assert report.updated == 1
    assert doc_of(catalog, "TEE-L-RED")["barcodes"] == ["TB-0001", "5000112548167"]
    assert queries.by_barcode(catalog.db, lookup_key("036000291452")) is None
    found = queries.by_barcode(catalog.db, lookup_key("5000112548167"))
    assert found is not None
    assert json.loads(found)["sku"] == "TEE-L-RED"


def test_a_barcode_can_move_between_variants_in_one_file(catalog: Runtime) -> None:
    data = (
        b"sku,product,barcodes,price\r\n"
        b"TEE-M-RED,Classic Tee,036000291452,12.99\r\n"
        b"TEE-L-RED,Classic Tee,4006381333931|TB-0001,12.99\r\n"
    )
    report = import_csv(catalog, data)
    assert report.applied, report.problems
    assert report.updated == 2

    def owner(code: str) -> str:
        raw = queries.by_barcode(catalog.db, lookup_key(code))
        assert raw is not None
        sku: str = json.loads(raw)["sku"]
        return sku

    assert owner("036000291452") == owner("0036000291452") == "TEE-M-RED"
    assert owner("4006381333931") == owner("tb-0001") == "TEE-L-RED"
    assert doc_of(catalog, "TEE-L-RED")["barcodes"] == ["4006381333931", "TB-0001"]


def test_a_barcode_can_move_to_a_new_variant_in_one_file(catalog: Runtime) -> None:
    data = (
        b"sku,product,barcodes,price\r\n"
        b'MUG-1,"Cr\xc3\xa8me Br\xc3\xbbl\xc3\xa9e Mug, ""Large""",,9.50\r\n'
        b"MUG-2,Plain Mug,96385074,4.00\r\n"
    )
    report = import_csv(catalog, data)
    assert (report.created, report.updated) == (1, 1), report.problems
    raw = queries.by_barcode(catalog.db, lookup_key("96385074"))
    assert raw is not None
    assert json.loads(raw)["sku"] == "MUG-2"


def test_a_file_with_only_sku_product_price_keeps_everything_else(catalog: Runtime) -> None:
    before = exported(catalog)
    data = SHORT_HEADER + (
        "TEE-M-RED,Classic Tee,10.00\r\n"
        "tee-l-red,Classic Tee,12.99\r\n"  # SKUs match whatever their case
        "OLD-1,Retired Gadget,2.50\r\n"
    )
    report = import_csv(catalog, data.encode())
    assert (report.created, report.updated, report.unchanged) == (0, 2, 1), report.problems
    after = exported(catalog)
    assert after["TEE-M-RED"] == {**before["TEE-M-RED"], "price": "10.00"}
    assert after["TEE-L-RED"] == before["TEE-L-RED"]
    assert after["OLD-1"] == {**before["OLD-1"], "price": "2.50"}
    assert after["OLD-1"]["active"] == "0"
    assert after["MUG-1"] == before["MUG-1"]
    doc = doc_of(catalog, "TEE-M-RED")
    assert doc["barcodes"] == ["4006381333931"]
    assert doc["options"] == {"Size": "M", "Color": "Red"}
    assert doc["category"] == "Apparel"
    assert doc["vendor"] == "Acme"
    assert doc["reorder_point"] == 5


def test_barcodes_stay_without_the_column_and_an_empty_cell_frees_them(
    catalog: Runtime,
) -> None:
    data = SHORT_HEADER + "TEE-M-RED,Classic Tee,10.00\r\nNEW-1,Tote,1.00\r\n"
    assert import_csv(catalog, data.encode()).updated == 1
    assert doc_of(catalog, "TEE-M-RED")["barcodes"] == ["4006381333931"]
    clash = (
        b"sku,product,price,barcodes\r\n"
        b"TEE-M-RED,Classic Tee,10.00,\r\n"  # an empty cell: no barcodes any more
        b"NEW-1,Tote,x,\r\n"  # a bad row stops the whole file
        b"NEW-2,Bag,1.00,4006381333931\r\n"
    )
    assert has(import_csv(catalog, clash), 3, "price", "not an amount")
    report = import_csv(catalog, clash.replace(b"Tote,x", b"Tote,1.00"))
    assert report.applied, report.problems
    assert json.loads(queries.by_barcode(catalog.db, "04006381333931") or b"{}")["sku"] == "NEW-2"


def test_a_partial_file_creates_new_variants_with_defaults(catalog: Runtime) -> None:
    report = import_csv(catalog, (SHORT_HEADER + "NEW-1,Tote,1.00\r\n").encode())
    assert report.created == 1
    row = exported(catalog)["NEW-1"]
    assert row == {
        **dict.fromkeys(COLUMNS, ""),
        "sku": "NEW-1",
        "product": "Tote",
        "price": "1.00",
        "tax_class": "standard",
        "pack_size": "1",
        "active": "1",
    }


def test_an_empty_cell_in_a_present_column_clears_the_stored_value(catalog: Runtime) -> None:
    data = b"sku,product,price,reorder_point,cost\r\nTEE-M-RED,Classic Tee,12.99,,\r\n"
    assert import_csv(catalog, data).updated == 1
    row = exported(catalog)["TEE-M-RED"]
    assert row["reorder_point"] == row["cost"] == ""
    assert row["reorder_qty"] == "24"


def test_export_then_import_is_a_no_op_and_exports_are_identical(catalog: Runtime) -> None:
    extra = full(
        line(sku="NEW-1", product='Tote, "Big"', cost="0.05", price="16.09", options="Size=S"),
        line(
            sku="NEW-2", cost="", price="118.00", options="Size=M", barcodes="tb-9|10036000291459"
        ),
    )
    assert import_csv(catalog, extra).created == 2
    first = io.StringIO()
    assert export_csv(catalog, first) == 6
    before = snapshot(catalog)
    report = import_csv(catalog, first.getvalue().encode())
    assert (report.created, report.updated, report.unchanged) == (0, 0, 6), report.problems
    assert report.version == before.version
    second = io.StringIO()
    export_csv(catalog, second)
    assert second.getvalue().encode() == first.getvalue().encode()
    rows = exported(catalog)
    assert rows["NEW-1"]["price"] == "16.09"
    assert rows["NEW-1"]["cost"] == "0.05"
    assert rows["NEW-2"]["price"] == "118.00"
    assert rows["NEW-2"]["barcodes"] == "tb-9|10036000291459"
    assert first.getvalue().startswith(HEADER)
    assert first.getvalue().endswith("\r\n")


def test_import_file_reads_from_disk(catalog: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_bytes(full(line()))
    report = import_file(catalog, path)
    assert report.created == 1
    path.write_bytes(full(line(sku="NEW-2", price="-1")))
    assert not import_file(catalog, path).applied


def test_progress_ends_with_writing_done_equal_to_total(catalog: Runtime) -> None:
    calls: list[tuple[str, int, int]] = []
    data = full(*(line(sku=f"NEW-{n}", options=f"N={n}") for n in range(5)))
    report = import_csv(catalog, data, progress=lambda *a: calls.append(a))
    assert report.created == 5
    assert calls[0] == ("checking", 0, 5)
    assert calls[-1] == ("writing", 5, 5)
    phases = [phase for phase, _, _ in calls]
    assert phases.index("checking") < phases.index("writing")
    # Unchanged rows still finish the progress bar.
    calls.clear()
    import_csv(catalog, data, progress=lambda *a: calls.append(a))
    assert calls[-1] == ("writing", 5, 5)


def test_progress_is_not_told_of_writing_when_nothing_is_written(catalog: Runtime) -> None:
    calls: list[tuple[str, int, int]] = []
    import_csv(catalog, full(line(price="x")), progress=lambda *a: calls.append(a))
    assert calls
    assert all(phase != "writing" for phase, _, _ in calls)


def test_a_catalog_change_during_checking_is_caught_before_writing(
    catalog: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checking runs outside the write lock: a clash committed meanwhile must still be found."""
    real_check = upsert.check
    started: list[bool] = []
    raced: list[UpsertReport] = []

    def check_then_race(db: Database, inputs: Sequence[VariantInput]) -> list[Problem]:
        found = real_check(db, inputs)
        if not started:
            started.append(True)  # the racing import checks too: race only once
            raced.append(import_csv(catalog, full(line(sku="RACE-1", barcodes="5000112548167"))))
        return found

    monkeypatch.setattr(upsert, "check", check_then_race)
    data = full(line(sku="NEW-1", barcodes="5000112548167"))
    report = import_csv(catalog, data)
    assert raced[0].created == 1
    assert not report.applied
    assert has(report, 2, "barcodes", "already on SKU RACE-1")
    assert "NEW-1" not in exported(catalog)


def _demo_csv(variants: int) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in generate_catalog(variants=variants):
        writer.writerow(row.as_dict())
    return out.getvalue().encode()


def test_importing_2000_demo_rows_succeeds(rt: Runtime) -> None:
    data = _demo_csv(2000)
    calls: list[tuple[str, int, int]] = []
    report = import_csv(rt, data, progress=lambda *a: calls.append(a))
    assert report.problems == ()
    assert report.applied
    assert report.created == 2000
    assert calls[-1] == ("writing", 2000, 2000)
    assert ("writing", 2000, 2000) in calls
    assert int(rt.db.scalar("SELECT count(*) FROM variant")) == 2000
    # Every barcode in the file finds its variant.
    for record in list(csv.DictReader(io.StringIO(data.decode())))[::97]:
        for code in filter(None, record["barcodes"].split("|")):
            raw = queries.by_barcode(rt.db, lookup_key(code))
            assert raw is not None
            assert json.loads(raw)["sku"] == record["sku"]
    # And the export of it imports as a no-op.
    first = io.StringIO()
    export_csv(rt, first)
    again = import_csv(rt, first.getvalue().encode())
    assert (again.updated, again.unchanged) == (0, 2000)
    assert again.version == report.version


def test_an_empty_cell_means_none_or_default_a_missing_column_keeps_stored(
    catalog: Runtime,
) -> None:
    """In a partial file, an empty tax_class or active cell resets to the default just as an
    empty cost clears the cost; a column left out keeps the stored value."""
    report = import_csv(
        catalog,
        (b"sku,product,price,tax_class,active,pack_size\r\nOLD-1,Retired Gadget,2.00,zero,0,4\r\n"),
    )
    assert report.applied and report.updated == 1
    report = import_csv(
        catalog,
        b"sku,product,price,tax_class,active,pack_size\r\nOLD-1,Retired Gadget,2.00,,,\r\n",
    )
    assert report.applied and report.updated == 1
    row = exported(catalog)["OLD-1"]
    assert (row["tax_class"], row["active"], row["pack_size"]) == ("standard", "1", "1")
    assert row["barcodes"] == "5901234123457"  # barcodes column absent: kept
    assert row["cost"] == "1.00"  # cost column absent: kept
