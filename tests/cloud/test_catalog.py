"""The cloud's catalog master: CSV import, change_seq order, tombstones, store prices, and
changes since N in pages, on the real PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from cloud.catalog import (
    CatalogError,
    changes_since,
    head_version,
    import_csv,
    set_store_price,
)
from cloud.cli import cloud
from tests.conftest import SMALL_CATALOG

Conn = psycopg.Connection[Any]
HEADER = SMALL_CATALOG.split("\r\n", 1)[0]


def _csv(*rows: str) -> bytes:
    return ("\r\n".join((HEADER, *rows)) + "\r\n").encode()


def _count(pg: Conn, table: str) -> int:
    row = pg.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_an_import_makes_the_master_and_stores_see_it_in_the_appliances_shape(pg: Conn) -> None:
    before = head_version(pg)
    report = import_csv(pg, SMALL_CATALOG.encode())
    assert report.applied and (report.created, report.updated) == (4, 0), report
    assert report.version == head_version(pg) > before
    page = changes_since(pg, before, 100, "s01")
    assert [c.sku for c in page.changes] == ["TEE-M-RED", "TEE-L-RED", "MUG-1", "OLD-1"]
    assert page.next == page.head == report.version
    tee = page.changes[1]
    assert tee.product == "Classic Tee"
    assert tee.options == {"Size": "L", "Color": "Red"}
    assert list(tee.options) == ["Size", "Color"]  # the CSV's order, not jsonb's
    assert tee.barcodes == ["036000291452", "TB-0001"]
    assert (tee.category, tee.vendor, tee.cost, tee.price) == ("Apparel", "Acme", 450, 1299)
    assert (tee.tax_class, tee.reorder_point, tee.reorder_qty, tee.pack_size) == (
        "standard",
        5,
        24,
        1,
    )
    assert page.changes[2].product == 'Crème Brûlée Mug, "Large"'
    assert page.changes[3].active is False
    # The same file again changes nothing, and no version moves.
    again = import_csv(pg, SMALL_CATALOG.encode())
    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)
    assert again.version == report.version


def test_each_change_takes_the_next_number_and_the_feed_has_each_variant_once_latest(
    pg: Conn,
) -> None:
    first = import_csv(pg, SMALL_CATALOG.encode()).version
    price = import_csv(pg, _csv(SMALL_CATALOG.split("\r\n")[3].replace(",9.50,", ",8.75,")))
    assert price.updated == 1 and price.version == first + 1
    # A barcode moving between two variants changes both.
    moved = import_csv(
        pg,
        _csv(
            "TEE-M-RED,Classic Tee,Size=M;Color=Red,4006381333931|TB-0001,Apparel,Acme,4.50,12.99,standard,5,24,1,1",
            "TEE-L-RED,Classic Tee,Size=L;Color=Red,036000291452,Apparel,Acme,4.50,12.99,standard,5,24,1,1",
        ),
    )
    assert moved.applied and moved.updated == 2, moved
    page = changes_since(pg, 0, 100, "s01")
    seqs = [c.seq for c in page.changes]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert [c.sku for c in page.changes] == ["OLD-1", "MUG-1", "TEE-M-RED", "TEE-L-RED"]
    assert page.changes[1].price == 875
    assert page.changes[2].barcodes == ["4006381333931", "TB-0001"]
    since_price = changes_since(pg, price.version, 100, "s01")
    assert [c.sku for c in since_price.changes] == ["TEE-M-RED", "TEE-L-RED"]
    assert changes_since(pg, moved.version, 100, "s01").changes == []


def test_a_tombstone_and_a_product_moving_category_reach_the_feed(pg: Conn) -> None:
    import_csv(pg, SMALL_CATALOG.encode())
    mark = head_version(pg)
    retired = import_csv(
        pg,
        _csv(
            'MUG-1,"Crème Brûlée Mug, ""Large""",,96385074,Home & Kitchen,Potters,3.00,9.50,standard,,,6,0'
        ),
    )
    assert retired.updated == 1
    (change,) = changes_since(pg, mark, 100, "s01").changes
    assert change.sku == "MUG-1" and change.active is False
    assert _count(pg, "catalog_variant") == 4  # a tombstone, not a deletion
    mark = head_version(pg)
    # A product's new category changes every one of its variants, in the file or not.
    import_csv(
        pg,
        b"sku,product,price,category\r\nTEE-M-RED,Classic Tee,12.99,Shirts\r\n",
    )
    page = changes_since(pg, mark, 100, "s01")
    assert sorted(c.sku for c in page.changes) == ["TEE-L-RED", "TEE-M-RED"]
    assert {c.category for c in page.changes} == {"Shirts"}
    # Columns left out of the file keep what is stored.
    tee = next(c for c in page.changes if c.sku == "TEE-M-RED")
    assert tee.barcodes == ["4006381333931"] and tee.vendor == "Acme" and tee.cost == 450


def test_changes_come_in_pages_that_resume_from_next(pg: Conn) -> None:
    rows = [f"SKU-{n:03d},Thing {n},,,Misc,,1.00,{n}.00,standard,,,1,1" for n in range(1, 24)]
    import_csv(pg, _csv(*rows))
    head = head_version(pg)
    seen: list[str] = []
    since, pages = 0, 0
    while True:
        page = changes_since(pg, since, 5, "s01")
        pages += 1
        assert len(page.changes) <= 5 and page.head == head
        seen += [c.sku for c in page.changes]
        if page.next == page.head:
            break
        assert page.next == page.changes[-1].seq
        since = page.next
    assert seen == [f"SKU-{n:03d}" for n in range(1, 24)]
    assert pages == 5
    # Past the head (a store that applied a newer catalog than a restored cloud has): next
    # below since tells the store to start again.
    beyond = changes_since(pg, head + 10, 5, "s01")
    assert beyond.changes == [] and beyond.next == head < head + 10


def test_a_store_price_is_that_stores_alone_and_taking_it_back_is_a_change(pg: Conn) -> None:
    import_csv(pg, SMALL_CATALOG.encode())
    mark = head_version(pg)
    version = set_store_price(pg, "s02", "mug-1", 799)
    assert version == mark + 1
    (mine,) = changes_since(pg, mark, 100, "s02").changes
    assert (mine.sku, mine.price, mine.seq) == ("MUG-1", 799, version)
    assert changes_since(pg, mark, 100, "s01").changes == []
    assert changes_since(pg, mark, 100, "s01").next == version  # s01 still moves to the head
    # From 0, s02 sees its price on the variant's own change too.
    from_zero = {c.sku: c.price for c in changes_since(pg, 0, 100, "s02").changes}
    assert from_zero["MUG-1"] == 799
    back = set_store_price(pg, "s02", "MUG-1", None)
    (change,) = changes_since(pg, version, 100, "s02").changes
    assert (change.price, change.seq) == (950, back)
    with pytest.raises(CatalogError, match="no variant has SKU NOPE"):
        set_store_price(pg, "s02", "NOPE", 100)


def test_a_bad_file_is_reported_by_row_and_column_and_writes_nothing(pg: Conn) -> None:
    before = head_version(pg)
    report = import_csv(
        pg,
        _csv(
            "A-1,Good Thing,,4006381333931,Misc,,1.00,2.00,standard,,,1,1",
            "A-2,Bad Code,,4006381333932,Misc,,1.00,2.00,standard,,,1,1",
            "A-3,Bad Price,,,Misc,,1.00,two,standard,,,1,1",
            "A-4,Bad Tax,,,Misc,,1.00,2.00,luxury,,,1,1",
            "A-1,Twice,,,Misc,,1.00,2.00,standard,,,1,1",
        ),
    )
    assert not report.applied
    where = {(p.row, p.column) for p in report.problems}
    assert where == {(3, "barcodes"), (4, "price"), (5, "tax_class"), (6, "sku")}
    reasons = " ".join(p.reason for p in report.problems)
    assert "check digit" in reasons and "luxury" in reasons and "also on row 2" in reasons
    assert head_version(pg) == before
    for table in ("catalog_variant", "catalog_product", "catalog_category", "catalog_barcode"):
        assert _count(pg, table) == 0, table
    # Asked to skip bad rows, the good one goes in.
    skipped = import_csv(
        pg,
        _csv("A-1,Good Thing,,,Misc,,1.00,2.00,standard,,,1,1", "A-2,,,,,,,,,,,,"),
        skip_bad_rows=True,
    )
    assert skipped.applied and skipped.created == 1 and skipped.skipped == 1


def test_a_barcode_already_on_another_variant_and_a_broken_header_are_refused(pg: Conn) -> None:
    import_csv(pg, SMALL_CATALOG.encode())
    taken = import_csv(pg, _csv("NEW-1,New Thing,,96385074,Misc,,1.00,2.00,standard,,,1,1"))
    assert not taken.applied
    assert [(p.row, p.column, p.reason) for p in taken.problems] == [
        (2, "barcodes", "barcode 96385074 is already on SKU MUG-1")
    ]
    header = import_csv(pg, b"sku,product,prise\r\nX-1,Thing,1.00\r\n", skip_bad_rows=True)
    assert not header.applied
    assert {p.column for p in header.problems} == {"prise", "price"}
    assert _count(pg, "catalog_variant") == 4


def test_the_database_itself_refuses_a_wrong_gtin(pg: Conn) -> None:
    import_csv(pg, SMALL_CATALOG.encode())
    with pytest.raises(psycopg.errors.CheckViolation):
        pg.execute(
            "INSERT INTO catalog_barcode (code, display, kind, variant_id, position)"
            " SELECT '04006381333932', '4006381333932', 'gtin', id, 9 FROM catalog_variant"
            " WHERE sku = 'MUG-1'"
        )
    row = pg.execute("SELECT gs1_check_ok('4006381333931'), gs1_check_ok('96385074')").fetchone()
    assert row == (True, True)


def test_the_cli_imports_a_file_and_lists_every_problem_of_a_bad_one(
    pg: Conn, cloud_dsn: str, tmp_path: Path
) -> None:
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_bytes(SMALL_CATALOG.encode())
    bad.write_bytes(_csv("B-1,Thing,,4006381333932,,,1.00,2.00,standard,,,1,1"))
    runner = CliRunner()
    result = runner.invoke(cloud, ["catalog", "import", "--dsn", cloud_dsn, str(good)])
    assert result.exit_code == 0, result.output
    assert f"created 4, updated 0, unchanged 0, skipped 0; catalog version {head_version(pg)}" in (
        result.output
    )
    result = runner.invoke(cloud, ["catalog", "import", "--dsn", cloud_dsn, str(bad)])
    assert result.exit_code == 1
    assert "row 2, barcodes: 4006381333932 has a wrong GS1 check digit" in result.output
    assert "nothing imported: 1 problem(s) in 1 row(s)" in result.output
    assert _count(pg, "catalog_variant") == 4


def test_the_cli_sets_and_clears_a_stores_own_price(pg: Conn, cloud_dsn: str) -> None:
    import_csv(pg, SMALL_CATALOG.encode())
    runner = CliRunner()
    price = ["catalog", "price", "--dsn", cloud_dsn, "s02", "MUG-1"]
    result = runner.invoke(cloud, [*price, "7.99"])
    assert result.exit_code == 0, result.output
    assert f"s02 now sells MUG-1 at its own price 7.99 EUR; catalog version {head_version(pg)}" in (
        result.output
    )
    assert {c.price for c in changes_since(pg, 0, 100, "s02").changes if c.sku == "MUG-1"} == {799}
    result = runner.invoke(cloud, [*price, "--clear"])
    assert result.exit_code == 0 and "at the chain's price" in result.output
    assert {c.price for c in changes_since(pg, 0, 100, "s02").changes if c.sku == "MUG-1"} == {950}
    assert runner.invoke(cloud, [*price]).exit_code == 2  # neither a price nor --clear
    assert runner.invoke(cloud, [*price, "1.00", "--clear"]).exit_code == 2
    assert runner.invoke(cloud, [*price, "1,2,3"]).exit_code == 2
    unknown = runner.invoke(cloud, ["catalog", "price", "--dsn", cloud_dsn, "s02", "NOPE", "1"])
    assert unknown.exit_code == 1 and "no variant has SKU NOPE" in unknown.output
    bad_store = runner.invoke(cloud, ["catalog", "price", "--dsn", cloud_dsn, "S-2", "MUG-1", "1"])
    assert bad_store.exit_code == 2 and "is not a store id" in bad_store.output
