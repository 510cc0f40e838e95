"""HQ's catalog editor over the master in PostgreSQL: the list, one product with its variants,
saving a product (an option matrix expands into variants), archiving, categories and vendors,
store prices, the CSV export, and which version each store runs.

Form values are checked by the appliance's own row checks (appliance.catalog.csvio.parse_rows
and upsert.check_rows: the same rules as a CSV import, field by field), then against what is
stored. Every write goes through the catalog's trigger, so it bumps `change_seq` and reaches
the stores by their pull (migration 0006). Writers take the catalog's one advisory lock first,
so the optimistic check (the change numbers the editor was opened at) and the write are one
step: a second buyer saving over a variant someone changed since gets a Conflict, never a
silent overwrite (decisions.md §56).

Nothing is deleted: a SKU is the chain's key for a variant (stores, sales history, decisions.md
§43), so it cannot be renamed, and a variant or product leaves the catalog by being archived
(active = false), which the stores apply like any other change.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from appliance.catalog.barcodes import BarcodeError, lookup_key
from appliance.catalog.csvio import MAX_OPTIONS, parse_rows
from appliance.catalog.records import CSV_COLUMNS, Problem, VariantInput
from appliance.catalog.upsert import check_rows
from cloud.catalog import WRITE_LOCK, head_version, tax_classes
from protocol.money import Money
from webui.errors import Conflict, Invalid, NotFound

Conn = psycopg.Connection[Any]
# Combinations one matrix may make at once (5 options of 6 values would be 7,776 variants).
MAX_MATRIX = 200
# The product-level fields' row in problems (variants are rows 1…n, in form order).
PRODUCT_ROW = 0
_PRODUCT_COLUMNS = ("product", "category", "vendor")


class EditRefused(Exception):
    """A product save with problems, by row (0: the product, 1…n: the form's variant rows)
    and column; nothing was written."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(sorted(problems, key=lambda p: (p.row, p.column)))
        super().__init__("; ".join(f"row {p.row} {p.column}: {p.reason}" for p in self.problems))


@dataclass(frozen=True, slots=True, kw_only=True)
class Variant:
    """A variant as the editor shows it (money in minor units)."""

    id: int
    sku: str
    product_id: int
    product: str
    options: tuple[tuple[str, str], ...]
    barcodes: tuple[str, ...]
    category: str | None
    vendor: str | None
    cost: int | None
    price: int
    tax_class: str
    reorder_point: int | None
    reorder_qty: int | None
    pack_size: int
    active: bool
    change_seq: int
    updated_at: datetime

    @property
    def options_text(self) -> str:
        """Options as the CSV writes them: `Size=M;Color=Red`."""
        return options_text(self.options)


@dataclass(frozen=True, slots=True, kw_only=True)
class StorePrice:
    """A store's own price for a variant."""

    store: str
    variant_id: int
    sku: str
    price: int
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Product:
    """A product with its variants (by SKU) and the store prices its variants have."""

    id: int
    name: str
    category: str | None
    vendor: str | None
    active: bool
    change_seq: int
    variants: tuple[Variant, ...]
    store_prices: tuple[StorePrice, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogFilter:
    """What the list shows: text (SKU or name, anywhere; a barcode exactly), category,
    vendor, and active, archived or all."""

    text: str = ""
    category: int | None = None
    vendor: int | None = None
    status: str = "active"


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogPage:
    """One page of the list."""

    rows: list[Variant]
    total_rows: int
    page: int
    pages: int


@dataclass(frozen=True, slots=True, kw_only=True)
class VariantEdit:
    """One variant row of the editor as typed (the CSV's cells); id and seq for a stored one."""

    id: int | None = None
    seq: int | None = None
    sku: str = ""
    options: str = ""
    barcodes: str = ""
    cost: str = ""
    price: str = ""
    tax_class: str = ""
    reorder_point: str = ""
    reorder_qty: str = ""
    pack_size: str = ""
    active: bool = True

    def blank(self) -> bool:
        """A new row left empty: ignored (the editor offers one spare row)."""
        return self.id is None and not any(
            v.strip() for v in (self.sku, self.options, self.barcodes, self.cost, self.price)
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ProductEdit:
    """A product as submitted: its fields, the change number it was opened at, its rows."""

    name: str
    category: str = ""
    vendor: str = ""
    seq: int | None = None
    variants: tuple[VariantEdit, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Saved:
    """What a save did and the catalog version after it."""

    product_id: int
    created: int
    updated: int
    unchanged: int
    version: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreVersion:
    """Which catalog version a store's appliance last said it runs (None: it has not said)."""

    store: str
    name: str
    version: int | None
    applied_at: datetime | None
    reported_at: datetime | None
    online: bool | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Named:
    """A category or a vendor, with how many active products use it."""

    id: int
    name: str
    active: bool
    products: int


def options_text(options: Sequence[tuple[str, str]]) -> str:
    """Options as the CSV writes them."""
    return ";".join(f"{name}={value}" for name, value in options)


def money_text(amount: int | None, currency: str) -> str:
    """Minor units as the decimal string the CSV and the forms use ('' for none)."""
    return "" if amount is None else Money(amount, currency).to_decimal_string()


_VARIANT_SELECT = (
    "SELECT v.id, v.sku, v.product_id, p.name, v.options,"
    " ARRAY(SELECT b.display FROM catalog_barcode b WHERE b.variant_id = v.id"
    "  ORDER BY b.position),"
    " c.name, d.name, v.cost, v.price, v.tax_class, v.reorder_point, v.reorder_qty,"
    " v.pack_size, v.active, v.change_seq, v.updated_at"
)
_FROM = (
    " FROM catalog_variant v JOIN catalog_product p ON p.id = v.product_id"
    " LEFT JOIN catalog_category c ON c.id = p.category_id"
    " LEFT JOIN catalog_vendor d ON d.id = p.vendor_id"
)


def _variant(row: Sequence[Any]) -> Variant:
    return Variant(
        id=row[0],
        sku=row[1],
        product_id=row[2],
        product=row[3],
        options=tuple((str(n), str(v)) for n, v in row[4]),
        barcodes=tuple(row[5]),
        category=row[6],
        vendor=row[7],
        cost=row[8],
        price=row[9],
        tax_class=row[10],
        reorder_point=row[11],
        reorder_qty=row[12],
        pack_size=row[13],
        active=row[14],
        change_seq=row[15],
        updated_at=row[16],
    )


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"


def _where(f: CatalogFilter) -> tuple[str, dict[str, Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if f.status == "active":
        clauses.append("v.active AND p.active")
    elif f.status == "archived":
        clauses.append("NOT (v.active AND p.active)")
    if f.category is not None:
        clauses.append("p.category_id = %(category)s")
        params["category"] = f.category
    if f.vendor is not None:
        clauses.append("p.vendor_id = %(vendor)s")
        params["vendor"] = f.vendor
    if f.text:
        # SKU or product name anywhere, or a barcode exactly (its key, as a scanner would
        # give it). One branch per index (trigram on SKU and on name, migration 0017; the
        # barcode table's key): an OR across the join would read every variant.
        branches = [
            "SELECT id FROM catalog_variant WHERE sku ILIKE %(text)s",
            "SELECT w.id FROM catalog_product q JOIN catalog_variant w ON w.product_id = q.id"
            " WHERE q.name ILIKE %(text)s",
        ]
        params["text"] = _like(f.text)
        try:
            params["code"] = lookup_key(f.text)
            branches.append("SELECT variant_id FROM catalog_barcode WHERE code = %(code)s")
        except BarcodeError:
            pass
        clauses.append("v.id IN (" + " UNION ".join(branches) + ")")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def list_page(conn: Conn, f: CatalogFilter, *, page: int, page_size: int) -> CatalogPage:
    """One page of variants, by product name then SKU."""
    where, params = _where(f)
    total_row = conn.execute("SELECT count(*)" + _FROM + where, params).fetchone()
    total = int(total_row[0]) if total_row else 0
    pages = max(1, -(-total // page_size))
    page = min(max(1, page), pages)
    rows = conn.execute(
        _VARIANT_SELECT
        + _FROM
        + where
        + " ORDER BY p.name, v.sku LIMIT %(limit)s OFFSET %(offset)s",
        {**params, "limit": page_size, "offset": (page - 1) * page_size},
    ).fetchall()
    return CatalogPage(rows=[_variant(r) for r in rows], total_rows=total, page=page, pages=pages)


def export_rows(conn: Conn, f: CatalogFilter) -> Iterator[Variant]:
    """Every variant the filter matches, in the list's order (server-side cursor)."""
    where, params = _where(f)
    with conn.transaction(), conn.cursor(name="catalog_export") as cur:
        cur.itersize = 2000
        cur.execute(_VARIANT_SELECT + _FROM + where + " ORDER BY p.name, v.sku", params)
        for row in cur:
            yield _variant(row)


def write_csv(
    rows: Iterator[Variant], out: io.StringIO, currency: str, *, with_cost: bool = True
) -> int:
    """The catalog CSV (ARCHITECTURE.md "Catalog CSV"), as the appliance's export writes it:
    a file an import reads back unchanged. Values are written as they are (no spreadsheet
    apostrophe): this file is data to round-trip, not a report. Without cost (a store
    manager's copy), the cost column is left empty."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    for v in rows:
        writer.writerow(
            (
                v.sku,
                v.product,
                v.options_text,
                "|".join(v.barcodes),
                v.category or "",
                v.vendor or "",
                money_text(v.cost, currency) if with_cost else "",
                money_text(v.price, currency),
                v.tax_class,
                "" if v.reorder_point is None else v.reorder_point,
                "" if v.reorder_qty is None else v.reorder_qty,
                v.pack_size,
                "1" if v.active else "0",
            )
        )
        count += 1
    return count


def product(conn: Conn, product_id: int, stores: Sequence[str] | None = None) -> Product:
    """A product with its variants and the store prices of `stores` (None: every store)."""
    row = conn.execute(
        "SELECT p.id, p.name, c.name, d.name, p.active, p.change_seq FROM catalog_product p"
        " LEFT JOIN catalog_category c ON c.id = p.category_id"
        " LEFT JOIN catalog_vendor d ON d.id = p.vendor_id WHERE p.id = %s",
        (product_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"no product {product_id}", code="unknown_product")
    variants = [
        _variant(r)
        for r in conn.execute(
            _VARIANT_SELECT + _FROM + " WHERE v.product_id = %s ORDER BY v.id", (product_id,)
        )
    ]
    prices = conn.execute(
        "SELECT sp.store, sp.variant_id, v.sku, sp.price, sp.updated_at"
        " FROM catalog_store_price sp JOIN catalog_variant v ON v.id = sp.variant_id"
        " WHERE v.product_id = %s AND sp.active AND (%s OR sp.store = ANY(%s))"
        " ORDER BY v.sku, sp.store",
        (product_id, stores is None, list(stores or [])),
    ).fetchall()
    return Product(
        id=row[0],
        name=row[1],
        category=row[2],
        vendor=row[3],
        active=row[4],
        change_seq=row[5],
        variants=tuple(variants),
        store_prices=tuple(
            StorePrice(store=p[0], variant_id=p[1], sku=p[2], price=p[3], updated_at=p[4])
            for p in prices
        ),
    )


_SKU_PART = re.compile(r"[^A-Za-z0-9]+")


def parse_axes(text: str) -> list[tuple[str, list[str]]]:
    """An option matrix as typed, one option a line: `Size: S, M, L` (values by comma)."""
    axes: list[tuple[str, list[str]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, values = line.partition(":")
        name = name.strip()
        picked = list(dict.fromkeys(v.strip() for v in values.split(",") if v.strip()))
        if not sep or not name or not picked:
            raise Invalid(
                f"line {number}: write an option as Name: value, value (e.g. Size: S, M, L)",
                details={"field": "matrix"},
            )
        if any(c in name + "".join(picked) for c in "=;|"):
            raise Invalid(
                f"line {number}: option names and values may not contain = ; or |",
                details={"field": "matrix"},
            )
        if any(name.lower() == seen.lower() for seen, _ in axes):
            raise Invalid(f"option {name} appears twice", details={"field": "matrix"})
        axes.append((name, picked))
    if len(axes) > MAX_OPTIONS:
        raise Invalid(f"at most {MAX_OPTIONS} options", details={"field": "matrix"})
    return axes


def expand_matrix(
    axes: Sequence[tuple[str, Sequence[str]]],
    *,
    sku_prefix: str,
    taken: Sequence[Sequence[tuple[str, str]]] = (),
) -> list[tuple[tuple[tuple[str, str], ...], str]]:
    """Every combination of the options' values (first option slowest) that `taken` does not
    already have, each with a SKU made of the prefix and the values (TEE-S-RED)."""
    if not axes:
        return []
    total = 1
    for _, values in axes:
        total *= len(values)
    if total > MAX_MATRIX:
        raise Invalid(
            f"{total} combinations: at most {MAX_MATRIX} at once", details={"field": "matrix"}
        )
    have = {tuple(t) for t in taken}
    prefix = sku_prefix.strip().strip("-")
    made = []
    for combo in itertools.product(*(values for _, values in axes)):
        options = tuple((name, value) for (name, _), value in zip(axes, combo, strict=True))
        if options in have:
            continue
        parts = [prefix] + [_SKU_PART.sub("", value).upper()[:12] for value in combo]
        made.append((options, "-".join(p for p in parts if p)[:64]))
    return made


def _named(conn: Conn, table: str, name: str | None) -> int | None:
    """A category's or vendor's id by name (any case), made on first use as the CSV does."""
    if not name:
        return None
    row = conn.execute(f"SELECT id FROM {table} WHERE lower(name) = lower(%s)", (name,)).fetchone()
    if row is None:
        row = conn.execute(
            f"INSERT INTO {table} (name) VALUES (%s) RETURNING id", (name,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def _records(edit: ProductEdit, stored: dict[int, Variant]) -> list[tuple[int, dict[str, str]]]:
    """The form's rows as CSV records (row = position in the form, from 1); a stored
    variant keeps its SKU whatever the form says."""
    records = []
    for row, v in enumerate(edit.variants, start=1):
        if v.blank():
            continue
        sku = stored[v.id].sku if v.id is not None and v.id in stored else v.sku
        records.append(
            (
                row,
                {
                    "sku": sku,
                    "product": edit.name,
                    "options": v.options,
                    "barcodes": v.barcodes,
                    "category": edit.category,
                    "vendor": edit.vendor,
                    "cost": v.cost,
                    "price": v.price,
                    "tax_class": v.tax_class,
                    "reorder_point": v.reorder_point,
                    "reorder_qty": v.reorder_qty,
                    "pack_size": v.pack_size,
                    "active": "1" if v.active else "0",
                },
            )
        )
    return records


def _state(item: VariantInput) -> tuple[object, ...]:
    return (
        [list(pair) for pair in item.options],
        item.cost,
        item.price,
        item.tax_class,
        item.reorder_point,
        item.reorder_qty,
        item.pack_size,
        item.active,
        [code.display for code in item.barcodes],
    )


def _stored_state(v: Variant) -> tuple[object, ...]:
    return (
        [list(pair) for pair in v.options],
        v.cost,
        v.price,
        v.tax_class,
        v.reorder_point,
        v.reorder_qty,
        v.pack_size,
        v.active,
        list(v.barcodes),
    )


def save_product(conn: Conn, product_id: int | None, edit: ProductEdit, *, currency: str) -> Saved:
    """Create a product (product_id None) or save one with its variant rows, in one
    transaction under the catalog's write lock. Raises EditRefused with every problem, or
    Conflict when the product or a variant changed since the editor was opened."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        current = product(conn, product_id) if product_id is not None else None
        stored = {v.id: v for v in current.variants} if current else {}
        _check_unchanged(current, edit)
        records = _records(edit, stored)
        problems: list[Problem] = []
        name = edit.name.strip()
        inputs, row_problems = parse_rows(
            records,
            present=frozenset(CSV_COLUMNS),
            currency=currency,
            tax_classes=tax_classes(conn),
            existing={},
        )
        # parse_rows reports the product-level cells on every row; they belong to the product.
        for p in row_problems:
            if p.column in _PRODUCT_COLUMNS:
                problems.append(Problem(row=PRODUCT_ROW, column=p.column, reason=p.reason))
            else:
                problems.append(p)
        if not records:
            problems.append(
                Problem(row=PRODUCT_ROW, column="variants", reason="a product needs a variant")
            )
        in_form, _, barcode_rows = check_rows(inputs)
        problems.extend(p for p in in_form if p.column not in _PRODUCT_COLUMNS)
        problems.extend(_stored_problems(conn, product_id, name, inputs, barcode_rows, stored))
        problems = list({(p.row, p.column, p.reason): p for p in problems}.values())
        if problems:
            raise EditRefused(problems)
        category = _named(conn, "catalog_category", inputs[0].category)
        vendor = _named(conn, "catalog_vendor", inputs[0].vendor)
        if current is None:
            row = conn.execute(
                "INSERT INTO catalog_product (name, category_id, vendor_id) VALUES (%s, %s, %s)"
                " RETURNING id",
                (inputs[0].product, category, vendor),
            ).fetchone()
            assert row is not None
            product_id = int(row[0])
        else:
            assert product_id is not None
            # The trigger changes each variant with it, so stores hear of a new name or
            # category (migration 0006); unchanged fields are not written.
            conn.execute(
                "UPDATE catalog_product SET name = %s, category_id = %s, vendor_id = %s"
                " WHERE id = %s AND (name, category_id, vendor_id)"
                "  IS DISTINCT FROM (%s, %s, %s)",
                (
                    inputs[0].product,
                    category,
                    vendor,
                    product_id,
                    inputs[0].product,
                    category,
                    vendor,
                ),
            )
        by_row = dict(enumerate(edit.variants, start=1))
        created = updated = unchanged = 0
        written: list[tuple[int, VariantInput]] = []
        for item in inputs:
            typed = by_row[item.row]
            if typed.id is None:
                row = conn.execute(
                    "INSERT INTO catalog_variant (sku, product_id, options, cost, price,"
                    " tax_class, reorder_point, reorder_qty, pack_size, active)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                    (item.sku, product_id, *_columns(item)),
                ).fetchone()
                assert row is not None
                written.append((int(row[0]), item))
                created += 1
            elif _stored_state(stored[typed.id]) == _state(item):
                unchanged += 1
            else:
                # Written even when only its barcodes changed: the write gives the new number.
                conn.execute(
                    "UPDATE catalog_variant SET options = %s, cost = %s, price = %s,"
                    " tax_class = %s, reorder_point = %s, reorder_qty = %s, pack_size = %s,"
                    " active = %s WHERE id = %s",
                    (*_columns(item), typed.id),
                )
                written.append((typed.id, item))
                updated += 1
        # Every changed variant's codes go before any is added, so a code can move between
        # two of the product's variants in one save.
        conn.execute(
            "DELETE FROM catalog_barcode WHERE variant_id = ANY(%s)",
            ([variant_id for variant_id, _ in written],),
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO catalog_barcode (code, display, kind, variant_id, position)"
                " VALUES (%s, %s, %s, %s, %s)",
                [
                    (code.key, code.display, code.kind, variant_id, position)
                    for variant_id, item in written
                    for position, code in enumerate(item.barcodes)
                ],
            )
        if current is not None and not current.active and any(i.active for i in inputs):
            conn.execute("UPDATE catalog_product SET active = true WHERE id = %s", (product_id,))
        return Saved(
            product_id=product_id,
            created=created,
            updated=updated,
            unchanged=unchanged,
            version=head_version(conn),
        )


def _columns(item: VariantInput) -> tuple[object, ...]:
    return (
        Jsonb([list(pair) for pair in item.options]),
        item.cost,
        item.price,
        item.tax_class,
        item.reorder_point,
        item.reorder_qty,
        item.pack_size,
        item.active,
    )


def _check_unchanged(current: Product | None, edit: ProductEdit) -> None:
    """The optimistic check: the product and each variant row still at the change number
    the editor was opened at, and no variant added or taken since."""
    if current is None:
        if any(v.id is not None for v in edit.variants):
            raise Invalid("a new product has no stored variants", code="invalid")
        return
    stale: list[str] = []
    if edit.seq is None or edit.seq != current.change_seq:
        stale.append(current.name)
    stored = {v.id: v for v in current.variants}
    seen = {v.id for v in edit.variants if v.id is not None}
    for v in edit.variants:
        if v.id is None:
            continue
        if v.id not in stored:
            raise NotFound(f"variant {v.id} is not one of this product's", code="unknown_variant")
        if v.seq != stored[v.id].change_seq:
            stale.append(stored[v.id].sku)
    added = [v.sku for v in current.variants if v.id not in seen]
    if stale or added:
        what = ", ".join(stale + [f"{sku} (added)" for sku in added])
        raise Conflict(
            f"someone else changed this product since you opened it ({what}); nothing was"
            " saved. The page now shows their version: make your change again on it.",
            code="edit_conflict",
            details={"changed": stale, "added": added, "version": current.change_seq},
        )


def _stored_problems(
    conn: Conn,
    product_id: int | None,
    name: str,
    inputs: Sequence[VariantInput],
    barcode_rows: dict[str, tuple[int, str]],
    stored: dict[int, Variant],
) -> list[Problem]:
    """The form against the rest of the catalog: the product's name and a new SKU are not
    another's, and no barcode is on a variant of another product."""
    problems: list[Problem] = []
    if name:
        other = conn.execute(
            "SELECT id FROM catalog_product WHERE name = %s AND id IS DISTINCT FROM %s",
            (name, product_id),
        ).fetchone()
        if other is not None:
            problems.append(
                Problem(
                    row=PRODUCT_ROW,
                    column="product",
                    reason=f"another product is already called {name!r}",
                )
            )
    own = {v.sku.upper() for v in stored.values()}
    new = {i.sku.upper(): i.row for i in inputs if i.sku.upper() not in own}
    if new:
        for sku, product_name in conn.execute(
            "SELECT v.sku, p.name FROM catalog_variant v JOIN catalog_product p"
            " ON p.id = v.product_id WHERE upper(v.sku) = ANY(%s)",
            (list(new),),
        ):
            problems.append(
                Problem(
                    row=new[sku.upper()],
                    column="sku",
                    reason=f"SKU {sku} is already used by {product_name!r}",
                )
            )
    if barcode_rows:
        for code, display, sku, owner in conn.execute(
            "SELECT b.code, b.display, v.sku, v.product_id FROM catalog_barcode b"
            " JOIN catalog_variant v ON v.id = b.variant_id WHERE b.code = ANY(%s)",
            (list(barcode_rows),),
        ):
            row, _ = barcode_rows[code]
            if owner != product_id or sku.upper() not in {i.sku.upper() for i in inputs}:
                problems.append(
                    Problem(
                        row=row,
                        column="barcodes",
                        reason=f"barcode {display} is already on SKU {sku}",
                    )
                )
    return problems


def set_archived(conn: Conn, product_id: int, *, seq: int | None, archived: bool) -> int:
    """Archive a product and all its variants (stores stop selling them; history keeps
    them), or bring it back with all its variants; the catalog version after it."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        current = product(conn, product_id)
        if seq is not None and seq != current.change_seq:
            raise Conflict(
                f"someone else changed {current.name} since you opened it; nothing was"
                " changed. Look at it again first.",
                code="edit_conflict",
                details={"version": current.change_seq},
            )
        conn.execute(
            "UPDATE catalog_variant SET active = %s WHERE product_id = %s AND active = %s",
            (not archived, product_id, archived),
        )
        conn.execute(
            "UPDATE catalog_product SET active = %s WHERE id = %s", (not archived, product_id)
        )
        return head_version(conn)


def store_price(conn: Conn, store: str, variant_id: int) -> int | None:
    """A store's own price for a variant, if it has one."""
    row = conn.execute(
        "SELECT price FROM catalog_store_price WHERE store = %s AND variant_id = %s AND active",
        (store, variant_id),
    ).fetchone()
    return None if row is None else int(row[0])


def names(conn: Conn, table: str) -> list[Named]:
    """Every category or vendor (table: catalog_category or catalog_vendor), by name."""
    column = "category_id" if table == "catalog_category" else "vendor_id"
    return [
        Named(id=r[0], name=r[1], active=r[2], products=r[3])
        for r in conn.execute(
            f"SELECT n.id, n.name, n.active, (SELECT count(*) FROM catalog_product p"
            f" WHERE p.{column} = n.id AND p.active) FROM {table} n ORDER BY lower(n.name)"
        )
    ]


def save_name(conn: Conn, table: str, ident: int | None, name: str, *, active: bool = True) -> int:
    """Add a category or vendor (ident None) or rename or (de)activate one; its id. A
    rename reaches every variant of its products (migration 0006's trigger)."""
    name = name.strip()
    if not name or len(name) > 200 or re.search("[\x00-\x1f\x7f]", name):
        raise Invalid(
            "a name of 1 to 200 characters without line breaks", details={"field": "name"}
        )
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        clash = conn.execute(
            f"SELECT id FROM {table} WHERE lower(name) = lower(%s) AND id IS DISTINCT FROM %s",
            (name, ident),
        ).fetchone()
        if clash is not None:
            raise Conflict(f"{name!r} already exists", code="name_taken", details={"field": "name"})
        if ident is None:
            row = conn.execute(
                f"INSERT INTO {table} (name) VALUES (%s) RETURNING id", (name,)
            ).fetchone()
        else:
            row = conn.execute(
                f"UPDATE {table} SET name = %s, active = %s WHERE id = %s RETURNING id",
                (name, active, ident),
            ).fetchone()
            if row is None:
                raise NotFound(f"no such entry {ident}", code="not_found")
        assert row is not None
        return int(row[0])


def store_versions(conn: Conn, stores: Sequence[str]) -> list[StoreVersion]:
    """Each store's catalog version as its appliance last reported it."""
    return [
        StoreVersion(
            store=r[0], name=r[1], version=r[2], applied_at=r[3], reported_at=r[4], online=r[5]
        )
        for r in conn.execute(
            "SELECT s.id, COALESCE(s.name, 'Store ' || s.id), a.catalog_version,"
            " a.catalog_applied_at, a.received_at, a.online FROM store s"
            " LEFT JOIN appliance_status a ON a.store = s.id WHERE s.id = ANY(%s) ORDER BY s.id",
            (list(stores),),
        )
    ]
