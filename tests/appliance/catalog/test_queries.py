"""Reading the catalog: search, barcode and id lookup, and the change feed."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.catalog import queries
from appliance.catalog.barcodes import lookup_key
from appliance.catalog.csvio import COLUMNS, import_csv
from appliance.runtime import Runtime, open_runtime
from appliance.setup import init_store
from tests.conftest import SMALL_CATALOG, FakeWall, make_settings


def skus(docs: list[bytes]) -> list[str]:
    return [json.loads(doc)["sku"] for doc in docs]


def find(rt: Runtime, text: str, limit: int = 20) -> list[str]:
    return skus(queries.search(rt.db, text, limit=limit))


def add(rt: Runtime, *rows: dict[str, str]) -> None:
    """Import variants given as partial rows (missing columns empty)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, restval="", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    report = import_csv(rt, out.getvalue().encode())
    assert report.applied, report.problems


def uid_of(rt: Runtime, sku: str) -> str:
    uid: str = rt.db.scalar("SELECT uid FROM variant WHERE sku = ?", (sku,))
    return uid


def page_all(rt: Runtime, *, since: int = 0, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Follow the feed from `since` as a register does, until `next` equals `head`."""
    entries: list[dict[str, Any]] = []
    for _ in range(10_000):
        page = queries.changes(rt.db, since=since, limit=limit)
        assert len(page.changes) <= limit
        entries.extend(json.loads(c) for c in page.changes)
        if page.next == page.head:
            return entries, page.head
        assert page.next > since
        since = page.next
    raise AssertionError("the feed never reached its head")


# ---- search ------------------------------------------------------------------------------------


def test_broad_queries_list_names_that_start_with_the_word(catalog: Runtime) -> None:
    """Over RANK_AT_MOST matches, bm25 is skipped: titles starting with the first word lead,
    and the answer is still full, without duplicates."""
    many = [
        {
            "sku": f"WDG-{n:04d}",
            "product": f"Widget Model {n}",
            "price": "1.00",
            "category": "Gadgets",
        }
        for n in range(queries.RANK_AT_MOST + 20)
    ]
    add(catalog, *many, {"sku": "STAND-1", "product": "Blue Widget Stand", "price": "5.00"})
    broad = find(catalog, "widget", limit=25)
    assert len(broad) == 25
    assert len(set(broad)) == 25
    assert all(sku.startswith("WDG-") for sku in broad)
    # A specific query is ranked, so the one match is found whatever the catalog order.
    assert find(catalog, "blue widg") == ["STAND-1"]
    assert find(catalog, "stand")[0] == "STAND-1"


def test_search_by_product_name_prefix(catalog: Runtime) -> None:
    assert sorted(find(catalog, "classic")) == ["TEE-L-RED", "TEE-M-RED"]
    assert sorted(find(catalog, "cla")) == ["TEE-L-RED", "TEE-M-RED"]
    assert sorted(find(catalog, "CLASSIC")) == ["TEE-L-RED", "TEE-M-RED"]
    assert find(catalog, "mug") == ["MUG-1"]
    assert find(catalog, "lassic") == []  # prefixes, not substrings


def test_search_needs_every_word(catalog: Runtime) -> None:
    assert sorted(find(catalog, "classic red")) == ["TEE-L-RED", "TEE-M-RED"]
    assert find(catalog, "classic tee l") == ["TEE-L-RED"]
    assert find(catalog, "classic blue") == []
    assert find(catalog, "tee mug") == []


def test_search_covers_options_and_category(catalog: Runtime) -> None:
    assert sorted(find(catalog, "apparel")) == ["TEE-L-RED", "TEE-M-RED"]
    assert find(catalog, "home kitchen") == ["MUG-1"]


def test_search_folds_accents(catalog: Runtime) -> None:
    assert find(catalog, "creme") == ["MUG-1"]
    assert find(catalog, "Crème") == ["MUG-1"]
    assert find(catalog, "CRÈME brulee") == ["MUG-1"]
    assert find(catalog, "bru") == ["MUG-1"]


def test_search_by_sku_prefix_with_dashes(catalog: Runtime) -> None:
    assert find(catalog, "TEE-M") == ["TEE-M-RED"]
    assert find(catalog, "tee-l") == ["TEE-L-RED"]
    assert find(catalog, "MUG-") == ["MUG-1"]


def test_search_by_barcode_prefix(catalog: Runtime) -> None:
    assert find(catalog, "40063") == ["TEE-M-RED"]
    assert find(catalog, "0360002") == ["TEE-L-RED"]
    assert find(catalog, "9638") == ["MUG-1"]
    assert find(catalog, "TB-00") == ["TEE-L-RED"]


def test_search_exact_barcode_in_any_spelling(catalog: Runtime) -> None:
    assert find(catalog, "4006381333931") == ["TEE-M-RED"]
    # EAN-13 and GTIN-14 spellings of the UPC-A on the pack; no word starts with them.
    assert find(catalog, "0036000291452") == ["TEE-L-RED"]
    assert find(catalog, "00036000291452") == ["TEE-L-RED"]
    assert find(catalog, "tb-0001") == ["TEE-L-RED"]
    assert find(catalog, " 96385074 ") == ["MUG-1"]


def test_exact_sku_comes_first(catalog: Runtime) -> None:
    add(
        catalog,
        {"sku": "MUG", "product": "Plain Cup", "price": "2.00"},
        {"sku": "MUG-2", "product": "Mug Mug Mug Mug", "options": "N=2", "price": "2.00"},
        {"sku": "MUG-3", "product": "Mug Mug Mug Mug", "options": "N=3", "price": "2.00"},
    )
    plain = find(catalog, "MUG*")  # the same words, but no exact match to promote
    assert set(plain) == {"MUG", "MUG-1", "MUG-2", "MUG-3"}
    assert plain[0] != "MUG"
    promoted = find(catalog, "mug")  # SKUs match whatever their case
    assert promoted[0] == "MUG"
    assert sorted(promoted) == sorted(plain)  # listed once, not twice
    assert find(catalog, "mug", limit=1) == ["MUG"]


def test_exact_barcode_comes_first(catalog: Runtime) -> None:
    add(
        catalog,
        {"sku": "AD-1", "product": "Adapter 4006381333931 4006381333931", "price": "1.00"},
        {"sku": "AD-2", "product": "Adapter 4006381333931 plus", "price": "1.00"},
    )
    plain = find(catalog, "4006381333931*")
    assert set(plain) == {"TEE-M-RED", "AD-1", "AD-2"}
    assert plain[0] != "TEE-M-RED"
    promoted = find(catalog, "4006381333931")
    assert promoted[0] == "TEE-M-RED"
    assert sorted(promoted) == sorted(plain)


def test_inactive_variants_are_never_found_by_search(catalog: Runtime) -> None:
    assert find(catalog, "retired") == []
    assert find(catalog, "OLD-1") == []
    assert find(catalog, "5901234123457") == []
    assert find(catalog, "590123") == []
    assert find(catalog, "electronics") == []


def test_inactive_variant_is_found_by_barcode_lookup(catalog: Runtime) -> None:
    raw = queries.by_barcode(catalog.db, lookup_key("5901234123457"))
    assert raw is not None
    doc = json.loads(raw)
    assert doc["sku"] == "OLD-1"
    assert doc["active"] is False


def test_deactivating_removes_from_search_and_reactivating_restores(catalog: Runtime) -> None:
    data = 'sku,product,price,active\r\nMUG-1,"Crème Brûlée Mug, ""Large""",9.50,{}\r\n'
    assert import_csv(catalog, data.format(0).encode()).updated == 1
    assert find(catalog, "creme") == []
    assert find(catalog, "MUG-1") == []
    assert import_csv(catalog, data.format(1).encode()).updated == 1
    assert find(catalog, "creme") == ["MUG-1"]
    assert find(catalog, "MUG-1") == ["MUG-1"]


QUERIES_THAT_MUST_NOT_RAISE = [
    '"',
    '""',
    "'",
    "*",
    "***",
    "-",
    "--",
    "^",
    ":",
    "()",
    "(",
    ")",
    "+",
    "{}",
    "AND",
    "OR",
    "NOT",
    "NEAR(",
    "NEAR(classic tee)",
    "classic AND",
    "AND classic",
    "classic OR tee",
    "classic NOT tee",
    '"classic',
    'classic"',
    'cla"ssic',
    "classic*",
    "*classic",
    "-classic",
    "^classic",
    "title:classic",
    "sku:TEE",
    "{title sku}:classic",
    "classic + tee",
    "\x00",
    "tee\x00",
    "a\x00b",
    "\t\n\r",
    "   ",
    "",
    "…",
    "ⅷ",
    "\u0301",
    "💳",
    "a" * 100,
    " ".join(["tee"] * 50),
]


@pytest.mark.parametrize("text", QUERIES_THAT_MUST_NOT_RAISE, ids=repr)
def test_odd_queries_never_raise(catalog: Runtime, text: str) -> None:
    found = find(catalog, text)
    assert "OLD-1" not in found
    assert len(found) == len(set(found))


def test_fts_syntax_is_searched_as_words(catalog: Runtime) -> None:
    assert sorted(find(catalog, "^classic")) == ["TEE-L-RED", "TEE-M-RED"]
    assert sorted(find(catalog, "-classic")) == ["TEE-L-RED", "TEE-M-RED"]  # not "NOT classic"
    assert sorted(find(catalog, '"classic')) == ["TEE-L-RED", "TEE-M-RED"]
    assert find(catalog, "classic OR mug") == []  # OR is a word to find, not an operator
    assert sorted(find(catalog, "tee\x00")) == ["TEE-L-RED", "TEE-M-RED"]


def test_fts_query_quotes_every_word_as_a_prefix() -> None:
    assert queries.fts_query("classic tee") == '"classic"* "tee"*'
    assert queries.fts_query('say "hi"') == '"say"* """hi"""*'
    assert queries.fts_query("- * ^ :") is None
    assert queries.fts_query("a\x00b") == '"a"* "b"*'
    assert queries.fts_query(" ".join("abcdefghijkl")) == " ".join(f'"{c}"*' for c in "abcdefgh")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=40))
def test_any_text_never_raises(catalog: Runtime, text: str) -> None:
    found = find(catalog, text, limit=3)
    assert len(found) <= 3
    assert "OLD-1" not in found


def test_search_limit_is_respected(catalog: Runtime) -> None:
    add(
        catalog,
        *(
            {"sku": f"W-{n:02d}", "product": "Widget", "options": f"N={n}", "price": "1.00"}
            for n in range(30)
        ),
    )
    assert len(find(catalog, "widget", limit=30)) == 30
    for limit in (1, 5, 20):
        assert len(find(catalog, "widget", limit=limit)) == limit
    assert len(find(catalog, "W-0", limit=20)) == 10
    assert len(find(catalog, "W-0", limit=4)) == 4
    assert find(catalog, "W-07", limit=1) == ["W-07"]


# ---- lookups -----------------------------------------------------------------------------------


def test_by_barcode_takes_a_lookup_key(catalog: Runtime) -> None:
    for code in ("036000291452", "0036000291452", "00036000291452", "TB-0001", "tb-0001"):
        raw = queries.by_barcode(catalog.db, lookup_key(code))
        assert raw is not None, code
        assert json.loads(raw)["sku"] == "TEE-L-RED"
    assert queries.by_barcode(catalog.db, lookup_key("5000112548167")) is None


def test_by_id_gives_the_variant_document_without_cost(catalog: Runtime) -> None:
    raw = queries.by_id(catalog.db, uid_of(catalog, "TEE-M-RED"))
    assert raw is not None
    doc = json.loads(raw)
    assert doc == {
        "id": uid_of(catalog, "TEE-M-RED"),
        "sku": "TEE-M-RED",
        "product_id": doc["product_id"],
        "product": "Classic Tee",
        "options": {"Size": "M", "Color": "Red"},
        "title": "Classic Tee — M / Red",
        "barcodes": ["4006381333931"],
        "category": "Apparel",
        "category_id": doc["category_id"],
        "vendor": "Acme",
        "price": 1299,
        "currency": "EUR",
        "tax_class": "standard",
        "reorder_point": 5,
        "reorder_qty": 24,
        "pack_size": 1,
        "active": True,
    }
    assert queries.by_id(catalog.db, "no-such-id") is None
    # Variants of one product share its id.
    other = json.loads(queries.by_id(catalog.db, uid_of(catalog, "TEE-L-RED")) or b"{}")
    assert other["product_id"] == doc["product_id"]


# ---- change feed -------------------------------------------------------------------------------


def test_empty_catalog_feed(rt: Runtime) -> None:
    assert queries.head(rt.db) == 0
    page = queries.changes(rt.db, since=0, limit=10)
    assert (page.changes, page.next, page.head) == ([], 0, 0)


def test_feed_versions_strictly_increase_up_to_the_head(catalog: Runtime) -> None:
    page = queries.changes(catalog.db, since=0, limit=1000)
    versions = [json.loads(c)["version"] for c in page.changes]
    assert versions == sorted(set(versions))
    assert versions[-1] == page.head == page.next == queries.head(catalog.db)
    # 3 categories and 4 variants, each once.
    assert len(versions) == 7


def test_feed_entries_have_kind_id_and_data(catalog: Runtime) -> None:
    entries, _ = page_all(catalog, limit=1000)
    variants = {e["data"]["sku"]: e for e in entries if e["kind"] == "variant"}
    categories = {e["data"]["name"]: e for e in entries if e["kind"] == "category"}
    assert set(variants) == {"TEE-M-RED", "TEE-L-RED", "MUG-1", "OLD-1"}
    assert set(categories) == {"Apparel", "Home & Kitchen", "Electronics"}
    assert all(e["kind"] in ("variant", "category") for e in entries)
    for sku, entry in variants.items():
        assert entry["id"] == entry["data"]["id"] == uid_of(catalog, sku)
        assert "cost" not in entry["data"]
        assert entry["data"]["category_id"] == categories[entry["data"]["category"]]["id"]
    assert categories["Apparel"]["data"] == {
        "id": categories["Apparel"]["id"],
        "name": "Apparel",
        "active": True,
    }
    assert variants["OLD-1"]["data"]["active"] is False  # registers learn of deactivation


@pytest.mark.parametrize("limit", [1, 2, 3, 5])
def test_paging_with_small_limits_collects_everything_once(catalog: Runtime, limit: int) -> None:
    add(
        catalog,
        *(
            {"sku": f"W-{n:02d}", "product": "Widget", "options": f"N={n}", "price": "1.00"}
            for n in range(11)
        ),
    )
    entries, head = page_all(catalog, limit=limit)
    assert head == queries.head(catalog.db)
    keys = [(e["kind"], e["id"]) for e in entries]
    assert len(keys) == len(set(keys))
    variant_ids = {e["id"] for e in entries if e["kind"] == "variant"}
    assert variant_ids == {r[0] for r in catalog.db.query("SELECT uid FROM variant")}
    category_ids = {e["id"] for e in entries if e["kind"] == "category"}
    assert category_ids == {r[0] for r in catalog.db.query("SELECT uid FROM category")}
    versions = [e["version"] for e in entries]
    assert versions == sorted(versions)
    assert versions[-1] == head


def test_next_is_the_last_version_on_the_page(catalog: Runtime) -> None:
    page = queries.changes(catalog.db, since=0, limit=2)
    assert len(page.changes) == 2
    assert page.next == json.loads(page.changes[-1])["version"]
    assert page.next < page.head
    following = queries.changes(catalog.db, since=page.next, limit=2)
    assert json.loads(following.changes[0])["version"] > page.next


def test_an_updated_variant_moves_to_the_end_of_the_feed(catalog: Runtime) -> None:
    before = queries.head(catalog.db)
    tee = uid_of(catalog, "TEE-M-RED")
    import_csv(catalog, b"sku,product,price\r\nTEE-M-RED,Classic Tee,15.00\r\n")
    entries, head = page_all(catalog, limit=2)
    assert head == before + 1
    mine = [e for e in entries if e["id"] == tee]
    assert len(mine) == 1
    assert entries[-1] is mine[0]
    assert mine[0]["version"] == head
    assert mine[0]["data"]["price"] == 1500
    # A register that was at the old head gets exactly that one change.
    page = queries.changes(catalog.db, since=before, limit=100)
    assert [json.loads(c)["id"] for c in page.changes] == [tee]
    assert page.next == page.head == head


def test_feed_since_the_head_is_empty(catalog: Runtime) -> None:
    head = queries.head(catalog.db)
    page = queries.changes(catalog.db, since=head, limit=10)
    assert (page.changes, page.next, page.head) == ([], head, head)


def test_feed_since_beyond_the_head_says_start_again(catalog: Runtime) -> None:
    head = queries.head(catalog.db)
    page = queries.changes(catalog.db, since=head + 50, limit=10)
    assert page.changes == []
    assert page.next == page.head == head
    assert page.next < head + 50


def test_unchanged_import_adds_nothing_to_the_feed(catalog: Runtime) -> None:
    head = queries.head(catalog.db)
    import_csv(catalog, SMALL_CATALOG.encode())
    assert queries.changes(catalog.db, since=head, limit=10).changes == []


def test_a_new_category_appears_in_the_feed(catalog: Runtime) -> None:
    head = queries.head(catalog.db)
    add(catalog, {"sku": "B-1", "product": "Book", "category": "Books", "price": "5.00"})
    entries = [json.loads(c) for c in queries.changes(catalog.db, since=head, limit=10).changes]
    assert [(e["kind"], e["data"].get("name") or e["data"]["sku"]) for e in entries] == [
        ("category", "Books"),
        ("variant", "B-1"),
    ]
    assert entries[1]["data"]["category_id"] == entries[0]["id"]
    # An existing category, in any case, is not published again.
    head = queries.head(catalog.db)
    add(catalog, {"sku": "B-2", "product": "Atlas", "category": "BOOKS", "price": "5.00"})
    entries = [json.loads(c) for c in queries.changes(catalog.db, since=head, limit=10).changes]
    assert [e["kind"] for e in entries] == ["variant"]
    assert entries[0]["data"]["category"] == "Books"


# ---- property: the feed always converges on the current catalog --------------------------------

TEE_SKUS = ("TEE-M-RED", "TEE-L-RED", "MUG-1", "OLD-1")
PRODUCTS = {"TEE-M-RED": "Classic Tee", "TEE-L-RED": "Classic Tee", "OLD-1": "Retired Gadget"}
MUG = '"Crème Brûlée Mug, ""Large"""'


@contextmanager
def fresh_catalog() -> Iterator[Runtime]:
    """A new store with SMALL_CATALOG, for one hypothesis example."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "store"
        init_store(root, store="s01", name="Property Store")
        rt = open_runtime(make_settings(root), wall=FakeWall())
        try:
            assert import_csv(rt, SMALL_CATALOG.encode()).created == 4
            yield rt
        finally:
            rt.db.close()


def price_file(updates: list[tuple[str, int]]) -> bytes:
    lines = ["sku,product,price"]
    for sku, cents in updates:
        product = MUG if sku == "MUG-1" else PRODUCTS[sku]
        lines.append(f"{sku},{product},{cents // 100}.{cents % 100:02d}")
    return ("\r\n".join(lines) + "\r\n").encode()


def current(rt: Runtime) -> dict[str, int]:
    return {row["uid"]: row["price"] for row in rt.db.query("SELECT uid, price FROM variant")}


@settings(max_examples=8, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.dictionaries(st.sampled_from(TEE_SKUS), st.integers(0, 99_999), max_size=4),
            st.booleans(),  # does the register sync after this step?
        ),
        min_size=1,
        max_size=6,
    ),
    limit=st.integers(1, 4),
)
def test_feed_from_zero_and_incremental_sync_converge_on_the_catalog(
    steps: list[tuple[dict[str, int], bool]], limit: int
) -> None:
    with fresh_catalog() as rt:
        cache: dict[str, int] = {}
        since = 0

        def sync() -> None:
            nonlocal since
            entries, since = page_all(rt, since=since, limit=limit)
            for entry in entries:
                if entry["kind"] == "variant":
                    cache[entry["id"]] = entry["data"]["price"]

        for updates, then_sync in steps:
            head = queries.head(rt.db)
            changed = {
                uid: price
                for uid, price in current(rt).items()
                if rt.db.scalar("SELECT sku FROM variant WHERE uid = ?", (uid,)) in updates
            }
            report = import_csv(rt, price_file(list(updates.items())))
            assert report.applied, report.problems
            moved = sum(1 for sku, cents in updates.items() if changed[uid_of(rt, sku)] != cents)
            assert report.updated == moved
            assert queries.head(rt.db) == head + moved  # one version per changed variant
            if then_sync:
                sync()
        sync()
        assert cache == current(rt)
        entries, head = page_all(rt, limit=limit)
        from_zero = {e["id"]: e["data"]["price"] for e in entries if e["kind"] == "variant"}
        assert from_zero == current(rt)
        assert len([e for e in entries if e["kind"] == "variant"]) == len(from_zero)
        assert head == since == queries.head(rt.db)
