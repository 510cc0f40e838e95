"""Tests for the demo and benchmark catalog generator."""

from __future__ import annotations

import csv
import dataclasses
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from stdnum import ean

from appliance.catalog.records import CSV_COLUMNS
from appliance.demo.catalog import (
    DEMO_STAFF,
    DEMO_STORE_NAME,
    CatalogRow,
    generate_catalog,
    write_catalog_csv,
)

SKU = re.compile(r"[A-Z0-9]+(?:-[A-Z0-9]+)+")
MONEY = re.compile(r"[1-9]\d*\.\d{2}|0\.(?:0[1-9]|[1-9]\d)")
INTERNAL_CODE = re.compile(r"TB-\d{6}")
GTIN_LENGTHS = {8, 12, 13, 14}
TRICKY_NAMES = ("Crème Brûlée Candle", 'Kids\' "Dino" Backpack', "Salt, Pepper & Herb Grinder")


@pytest.fixture(scope="module")
def demo() -> list[CatalogRow]:
    """The demo store's catalog: 2,000 variants from the default seed."""
    return list(generate_catalog(variants=2000))


def codes_of(rows: list[CatalogRow]) -> list[str]:
    """Every barcode of every row, in order."""
    return [code for row in rows if row.barcodes for code in row.barcodes.split("|")]


def is_gtin(code: str) -> bool:
    """True for a code shaped like an EAN-8, UPC-A, EAN-13 or GTIN-14."""
    return code.isdigit() and len(code) in GTIN_LENGTHS


def test_row_fields_are_the_csv_columns_in_order(demo: list[CatalogRow]) -> None:
    assert tuple(f.name for f in dataclasses.fields(CatalogRow)) == CSV_COLUMNS
    assert CSV_COLUMNS[:4] == ("sku", "product", "options", "barcodes")
    assert tuple(demo[0].as_dict()) == CSV_COLUMNS
    assert all(isinstance(value, str) for value in demo[0].as_dict().values())


@pytest.mark.parametrize("count", [0, 1, 7, 2000, 2345])
def test_yields_exactly_the_requested_number_of_rows(count: int) -> None:
    assert sum(1 for _ in generate_catalog(variants=count)) == count


@pytest.mark.parametrize(
    "kwargs",
    [
        {"variants": -1},
        {"variants": 10, "extra_barcode_share": 1.5},
        {"variants": 10, "extra_barcode_share": -0.1},
    ],
)
def test_bad_arguments_fail_at_the_call(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        generate_catalog(**kwargs)  # type: ignore[arg-type]


def test_demo_spans_a_general_merchandise_range(demo: list[CatalogRow]) -> None:
    vendors: defaultdict[str, set[str]] = defaultdict(set)
    for row in demo:
        vendors[row.category].add(row.vendor)
    assert len(vendors) >= 12
    assert all(len(names) >= 2 for names in vendors.values()), vendors
    assert sum(len(names) >= 4 for names in vendors.values()) >= 12
    # No category crowds out the others, and every one has real depth.
    per_category = Counter(row.category for row in demo)
    assert max(per_category.values()) < 0.25 * len(demo)
    assert sorted(per_category.values())[1] >= 40


def test_demo_has_option_matrices(demo: list[CatalogRow]) -> None:
    options = [
        dict(pair.split("=", 1) for pair in row.options.split(";")) for row in demo if row.options
    ]
    sizes = {o["Size"] for o in options if "Size" in o}
    colours = {o["Color"] for o in options if "Color" in o}
    assert {"XS", "S", "M", "L", "XL", "XXL"} <= sizes
    assert {f"EU {n}" for n in range(36, 47)} <= sizes
    assert {"Black", "White", "Navy", "Écru"} <= colours
    assert {"Scent", "Flavour", "Length", "Power", "Model", "Amount"} <= {
        k for o in options for k in o
    }
    # A variant matrix: one product in several sizes and several colours.
    by_product: defaultdict[str, list[dict[str, str]]] = defaultdict(list)
    for row, option in zip((r for r in demo if r.options), options, strict=True):
        by_product[row.product].append(option)
    assert any(
        len({o.get("Size") for o in opts}) >= 4 and len({o.get("Color") for o in opts}) >= 2
        for opts in by_product.values()
    )
    # Products without variants have empty options.
    assert any(row.options == "" for row in demo)


def test_demo_names_read_like_a_shop(demo: list[CatalogRow]) -> None:
    products = {row.product for row in demo}
    assert set(TRICKY_NAMES) <= products
    assert not any(re.fullmatch(r"Product \d+", name) for name in products)
    assert not any(" No. " in name for name in products)
    assert len(products) >= 300
    # Variants share their product's name, category and vendor.
    seen: dict[str, tuple[str, str]] = {}
    for row in demo:
        assert seen.setdefault(row.product, (row.category, row.vendor)) == (
            row.category,
            row.vendor,
        )


def test_skus_and_barcodes_are_unique_and_well_formed(demo: list[CatalogRow]) -> None:
    skus = [row.sku for row in demo]
    assert len(set(skus)) == len(skus)
    assert all(SKU.fullmatch(sku) for sku in skus), [s for s in skus if not SKU.fullmatch(s)]
    codes = codes_of(demo)
    assert len(set(codes)) == len(codes)
    for code in codes:
        if is_gtin(code):
            assert ean.is_valid(code), code
        else:
            assert INTERNAL_CODE.fullmatch(code), code


def test_barcode_mix(demo: list[CatalogRow]) -> None:
    per_row = [row.barcodes.split("|") if row.barcodes else [] for row in demo]
    gtins = [code for codes in per_row for code in codes if is_gtin(code)]
    assert Counter(len(code) for code in gtins).keys() <= {12, 13}
    assert sum(len(code) == 13 for code in gtins) > 0.9 * len(gtins)
    second = sum(sum(is_gtin(c) for c in codes) >= 2 for codes in per_row)
    assert 0.03 * len(demo) <= second <= 0.08 * len(demo)
    internal = sum(any(INTERNAL_CODE.fullmatch(c) for c in codes) for codes in per_row)
    assert 0.002 * len(demo) <= internal <= 0.025 * len(demo)
    # Books carry ISBN-13s; each vendor's EAN-13s come from a few company prefixes.
    assert all(row.barcodes[:3] in {"978", "979", ""} for row in demo if row.category == "Books")
    prefixes: defaultdict[str, set[str]] = defaultdict(set)
    for row, codes in zip(demo, per_row, strict=True):
        prefixes[row.vendor].update(code[:7] for code in codes if len(code) == 13)
    assert all(1 <= len(p) <= 4 for p in prefixes.values()), prefixes  # current + older EANs
    owners = Counter(prefix for p in prefixes.values() for prefix in p)
    assert max(owners.values()) == 1  # no two vendors share a company prefix


def test_money_is_plausible(demo: list[CatalogRow]) -> None:
    for row in demo:
        assert MONEY.fullmatch(row.cost), row
        assert MONEY.fullmatch(row.price), row
        assert 0 < float(row.cost) < float(row.price), row
    margins = [float(r.cost) / float(r.price) for r in demo if r.category != "Gift Cards"]
    assert min(margins) >= 0.34
    assert max(margins) <= 0.66
    endings = Counter(row.price[-2:] for row in demo)
    assert (endings["99"] + endings["95"] + endings["49"] + endings["00"]) > 0.75 * len(demo)
    assert endings["00"] > 0
    gift_prices = {row.price for row in demo if row.category == "Gift Cards"}
    assert gift_prices
    assert all(price.endswith(".00") for price in gift_prices)


def test_tax_classes_follow_the_goods(demo: list[CatalogRow]) -> None:
    tax = Counter(row.tax_class for row in demo)
    assert set(tax) == {"standard", "reduced", "zero"}
    assert tax["standard"] > tax["reduced"] > tax["zero"] > 0
    for row in demo:
        if row.category == "Gift Cards":
            assert row.tax_class == "zero"
        if row.category == "Books" or row.product.startswith("Kids'"):
            assert row.tax_class == "reduced", row
    grocery = Counter(row.tax_class for row in demo if row.category == "Grocery & Snacks")
    assert grocery["reduced"] > grocery["standard"]


def test_stock_fields_are_consistent(demo: list[CatalogRow]) -> None:
    for row in demo:
        pack, point, qty = int(row.pack_size), int(row.reorder_point), int(row.reorder_qty)
        assert pack in {1, 2, 4, 5, 6, 8, 10, 12, 20, 24}, row
        assert 1 <= point <= qty, row
        assert qty % pack == 0, row
        assert row.active in {"0", "1"}
    assert len({row.pack_size for row in demo}) >= 5
    inactive = sum(row.active == "0" for row in demo)
    assert 0.005 * len(demo) <= inactive <= 0.05 * len(demo)


def test_same_seed_same_catalog_and_smaller_is_a_prefix(demo: list[CatalogRow]) -> None:
    assert list(generate_catalog(variants=2000, seed=7)) == demo
    assert list(generate_catalog(variants=777)) == demo[:777]
    other = list(generate_catalog(variants=2000, seed=8))
    assert other != demo
    assert {r.barcodes for r in other}.isdisjoint(r.barcodes for r in demo if r.barcodes)


@pytest.mark.slow
def test_benchmark_catalog_has_150k_unique_valid_barcodes() -> None:
    rows = list(generate_catalog(variants=100_000, extra_barcode_share=0.5))
    assert len(rows) == 100_000
    assert len({row.sku for row in rows}) == 100_000
    codes = codes_of(rows)
    assert 147_000 <= len(codes) <= 153_000
    assert len(set(codes)) == len(codes)
    gtins = [code for code in codes if is_gtin(code)]
    assert all(ean.is_valid(code) for code in gtins)
    assert all(INTERNAL_CODE.fullmatch(code) for code in codes if not is_gtin(code))
    assert len({row.category for row in rows}) >= 12


def test_csv_round_trips_exactly(demo: list[CatalogRow], tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    assert write_catalog_csv(path, iter(demo)) == len(demo)

    raw = path.read_bytes()
    text = raw.decode("utf-8")  # strict: fails on anything but UTF-8
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert text.startswith(",".join(CSV_COLUMNS) + "\r\n")
    assert text.count("\r\n") == len(demo) + 1
    assert "\n" not in text.replace("\r\n", "")
    # RFC 4180: fields with commas or quotes are quoted, and quotes inside are doubled.
    assert '"Kids\' ""Dino"" Backpack"' in text
    assert '"Salt, Pepper & Herb Grinder"' in text
    assert "Crème Brûlée Candle" in text

    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        back = list(reader)
    assert back == [row.as_dict() for row in demo]
    assert set(TRICKY_NAMES) <= {row["product"] for row in back}


def test_write_accepts_a_string_path_and_a_generator(tmp_path: Path) -> None:
    path = tmp_path / "small.csv"
    assert write_catalog_csv(str(path), generate_catalog(variants=5, seed=3)) == 5
    with path.open(encoding="utf-8", newline="") as f:
        assert [row["sku"] for row in csv.DictReader(f)] == [
            row.sku for row in generate_catalog(variants=5, seed=3)
        ]


def test_demo_staff_and_store() -> None:
    roles = [staff.role for staff in DEMO_STAFF]
    assert roles[:3] == ["cashier", "supervisor", "manager"]
    assert set(roles) == {"cashier", "supervisor", "manager"}
    pins = [staff.pin for staff in DEMO_STAFF]
    assert len(set(pins)) == len(DEMO_STAFF)
    assert all(re.fullmatch(r"\d{4}", pin) for pin in pins)
    assert not {"1234", "0000"} & set(pins)
    assert all(len(staff.name.split()) >= 2 for staff in DEMO_STAFF)
    assert DEMO_STORE_NAME == "Tillbox Demo — Market Street"
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEMO_STAFF[0].pin = "9999"  # type: ignore[misc]
