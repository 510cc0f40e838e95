"""Catalog records: what registers see of a variant, and what a write supplies."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from appliance.catalog.barcodes import Barcode

# The catalog CSV's columns, in order (ARCHITECTURE.md, "Catalog CSV").
CSV_COLUMNS: tuple[str, ...] = (
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
)


class VariantDoc(msgspec.Struct, frozen=True, kw_only=True):
    """A sellable variant as registers see it (search results and the change feed). No cost."""

    id: str
    sku: str
    product_id: str
    product: str
    options: dict[str, str]
    title: str
    barcodes: list[str]
    category: str | None
    category_id: str | None
    vendor: str | None
    price: int
    currency: str
    tax_class: str
    reorder_point: int | None
    reorder_qty: int | None
    pack_size: int
    active: bool


class CategoryDoc(msgspec.Struct, frozen=True, kw_only=True):
    """A category for the register's category grid."""

    id: str
    name: str
    active: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One thing wrong with an input row: where (row, column) and why."""

    row: int
    column: str
    reason: str

    def to_json(self) -> dict[str, object]:
        """As reported in API errors and CLI output."""
        return {"row": self.row, "column": self.column, "reason": self.reason}


class VariantInput(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A validated variant to create or update, keyed by SKU. `row` is where it came from.

    A msgspec Struct rather than a dataclass: an import builds one per row, and a frozen
    dataclass pays for every field it sets.
    """

    row: int
    sku: str
    product: str
    options: tuple[tuple[str, str], ...]
    barcodes: tuple[Barcode, ...]
    category: str | None
    vendor: str | None
    cost: int | None
    price: int
    tax_class: str
    reorder_point: int | None
    reorder_qty: int | None
    pack_size: int
    active: bool


def variant_title(product: str, options: dict[str, str]) -> str:
    """The name a cashier reads: product, then option values, e.g. `Classic Tee — M / Red`."""
    values = [v for v in options.values() if v]
    return f"{product} — {' / '.join(values)}" if values else product
