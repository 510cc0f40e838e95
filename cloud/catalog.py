"""The catalog master in PostgreSQL: CSV import, per-store prices, and changes since N.

The CSV is read and checked by the appliance's own parser and row checks (one format, one
set of rules, ARCHITECTURE.md "Catalog CSV"); only the checks against what is stored are
written again here, in SQL. Every write bumps the global `change_seq` (a trigger,
migration 0006), and `changes_since` hands stores each changed variant in the shape the
appliance's upsert takes (`protocol.catalog.CatalogChange`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from appliance.catalog.csvio import parse_csv
from appliance.catalog.records import Problem, VariantInput
from appliance.catalog.upsert import KeptVariants, check_kept_variants, check_rows
from protocol.catalog import MAX_PAGE, CatalogChange, ChangesReply

_log = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]
# The lock the change_seq trigger takes (migration 0006): writers take turns.
WRITE_LOCK = 7411006
# (phase, done, total), as the appliance's import reports progress.
Progress = Callable[[str, int, int], None]


class CatalogError(ValueError):
    """A catalog write that cannot be done; the message says why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportReport:
    """What an import did, or would have done when problems stopped it."""

    created: int
    updated: int
    unchanged: int
    skipped: int
    problems: tuple[Problem, ...]
    version: int
    applied: bool


def head_version(conn: Conn) -> int:
    """The catalog version: the highest change number committed (each max is one index
    lookup)."""
    row = conn.execute(
        "SELECT GREATEST("
        " (SELECT max(change_seq) FROM catalog_tax_class),"
        " (SELECT max(change_seq) FROM catalog_category),"
        " (SELECT max(change_seq) FROM catalog_vendor),"
        " (SELECT max(change_seq) FROM catalog_product),"
        " (SELECT max(change_seq) FROM catalog_variant),"
        " (SELECT max(change_seq) FROM catalog_store_price))"
    ).fetchone()
    return int(row[0] or 0) if row else 0


def tax_classes(conn: Conn) -> list[str]:
    """The active tax classes, the default first."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT code FROM catalog_tax_class WHERE active ORDER BY position, code"
        )
    ]


def _stored_rows(conn: Conn) -> Callable[[set[str]], dict[str, dict[str, Any]]]:
    """Stored variants by upper-cased SKU, as the appliance's export_rows gives them."""

    def stored(skus: set[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for row in conn.execute(
            "SELECT v.sku, p.name, v.options, c.name, ve.name, v.cost, v.price, v.tax_class,"
            " v.reorder_point, v.reorder_qty, v.pack_size, v.active,"
            " (SELECT string_agg(b.display, '|' ORDER BY b.position) FROM catalog_barcode b"
            "  WHERE b.variant_id = v.id)"
            " FROM catalog_variant v JOIN catalog_product p ON p.id = v.product_id"
            " LEFT JOIN catalog_category c ON c.id = p.category_id"
            " LEFT JOIN catalog_vendor ve ON ve.id = p.vendor_id"
            " WHERE upper(v.sku) = ANY(%s)",
            (sorted(skus),),
        ):
            found[row[0].upper()] = {
                "sku": row[0],
                "product": row[1],
                "options": dict(row[2]),
                "category": row[3],
                "vendor": row[4],
                "cost": row[5],
                "price": row[6],
                "tax_class": row[7],
                "reorder_point": row[8],
                "reorder_qty": row[9],
                "pack_size": row[10],
                "active": row[11],
                "barcodes": row[12],
            }
        return found

    return stored


def check(conn: Conn, inputs: Sequence[VariantInput]) -> list[Problem]:
    """The appliance's row checks, then the same checks against the cloud's stored catalog:
    a barcode on a variant the input leaves alone is taken, and a product's variants agree."""
    problems, skus, barcode_rows = check_rows(inputs)
    names = sorted({item.product for item in inputs})
    kept: KeptVariants = {}
    for sku, options, name in conn.execute(
        "SELECT v.sku, v.options, p.name FROM catalog_variant v"
        " JOIN catalog_product p ON p.id = v.product_id WHERE p.name = ANY(%s) ORDER BY v.id",
        (names,),
    ):
        if sku.upper() not in skus:
            kept.setdefault(name, []).append((sku, tuple((n, v) for n, v in options)))
    problems.extend(check_kept_variants(inputs, skus, problems, kept))
    if barcode_rows:
        for code, display, sku in conn.execute(
            "SELECT b.code, b.display, v.sku FROM catalog_barcode b"
            " JOIN catalog_variant v ON v.id = b.variant_id WHERE b.code = ANY(%s)",
            (list(barcode_rows),),
        ):
            if sku.upper() not in skus:
                row, _ = barcode_rows[code]
                problems.append(
                    Problem(
                        row=row,
                        column="barcodes",
                        reason=f"barcode {display} is already on SKU {sku}",
                    )
                )
    problems.sort(key=lambda p: (p.row, p.column))
    return problems


def import_csv(
    conn: Conn,
    data: bytes,
    *,
    currency: str = "EUR",
    skip_bad_rows: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a catalog CSV into the master in one transaction: all or nothing, unless bad
    rows are to be skipped (never for a broken header, encoding or quoting)."""
    with conn.transaction():
        # Taken first, so what is checked is what is written: no other catalog writer runs.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        inputs, problems, fatal = parse_csv(
            data,
            currency=currency,
            tax_classes=tax_classes(conn),
            stored=_stored_rows(conn),
            progress=progress,
        )
        if fatal:
            skip_bad_rows = False
        bad_rows = {p.row for p in problems}
        good = [i for i in inputs if i.row not in bad_rows]
        problems.extend(check(conn, good))
        if problems and not skip_bad_rows:
            return _report(problems, applied=False, version=head_version(conn))
        # Leaving out a bad row can change which rows clash: check what remains until clean.
        while problems:
            bad_rows = {p.row for p in problems}
            good = [i for i in inputs if i.row not in bad_rows]
            again = [p for p in check(conn, good) if p.row not in bad_rows]
            if not again:
                break
            problems.extend(again)
        created, updated, unchanged = _apply(conn, good, progress)
        version = head_version(conn)
    problems.sort(key=lambda p: (p.row, p.column))
    skipped = len({p.row for p in problems})
    _log.info(
        "catalog import: created=%s updated=%s unchanged=%s skipped=%s version=%s",
        created,
        updated,
        unchanged,
        skipped,
        version,
    )
    return ImportReport(
        created=created,
        updated=updated,
        unchanged=unchanged,
        skipped=skipped,
        problems=tuple(problems),
        version=version,
        applied=True,
    )


def _report(problems: list[Problem], *, applied: bool, version: int) -> ImportReport:
    problems.sort(key=lambda p: (p.row, p.column))
    return ImportReport(
        created=0,
        updated=0,
        unchanged=0,
        skipped=len({p.row for p in problems}),
        problems=tuple(problems),
        version=version,
        applied=applied,
    )


def _named(conn: Conn, table: str, names: set[str]) -> dict[str, int]:
    """Category or vendor ids by lower-case name, creating the missing ones."""
    known = {name.lower(): ident for ident, name in conn.execute(f"SELECT id, name FROM {table}")}
    for name in sorted(names):
        if name.lower() not in known:
            row = conn.execute(
                f"INSERT INTO {table} (name) VALUES (%s) RETURNING id", (name,)
            ).fetchone()
            assert row is not None
            known[name.lower()] = row[0]
    return known


def _apply(
    conn: Conn, inputs: Sequence[VariantInput], progress: Progress | None
) -> tuple[int, int, int]:
    """Write checked inputs: products, variants and their barcodes; (created, updated, same)."""
    categories = _named(conn, "catalog_category", {i.category for i in inputs if i.category})
    vendors = _named(conn, "catalog_vendor", {i.vendor for i in inputs if i.vendor})
    names = sorted({i.product for i in inputs})
    products = {
        name: (ident, category, vendor)
        for ident, name, category, vendor in conn.execute(
            "SELECT id, name, category_id, vendor_id FROM catalog_product WHERE name = ANY(%s)",
            (names,),
        )
    }
    for item in inputs:
        category = categories[item.category.lower()] if item.category else None
        vendor = vendors[item.vendor.lower()] if item.vendor else None
        known = products.get(item.product)
        if known is None:
            row = conn.execute(
                "INSERT INTO catalog_product (name, category_id, vendor_id) VALUES (%s, %s, %s)"
                " RETURNING id",
                (item.product, category, vendor),
            ).fetchone()
            assert row is not None
            products[item.product] = (row[0], category, vendor)
        elif (known[1], known[2]) != (category, vendor):
            # The product's variants are changed with it (a trigger), so stores hear of it.
            conn.execute(
                "UPDATE catalog_product SET category_id = %s, vendor_id = %s WHERE id = %s",
                (category, vendor, known[0]),
            )
            products[item.product] = (known[0], category, vendor)

    existing: dict[str, tuple[int, tuple[object, ...]]] = {}
    for row in conn.execute(
        "SELECT v.id, v.sku, v.product_id, v.options, v.cost, v.price, v.tax_class,"
        " v.reorder_point, v.reorder_qty, v.pack_size, v.active,"
        " ARRAY(SELECT b.display FROM catalog_barcode b WHERE b.variant_id = v.id"
        "  ORDER BY b.position)"
        " FROM catalog_variant v WHERE upper(v.sku) = ANY(%s)",
        ([i.sku.upper() for i in inputs],),
    ):
        state = (row[1], row[2], [list(pair) for pair in row[3]], *row[4:11], list(row[11]))
        existing[row[1].upper()] = (row[0], tuple(state))

    inserts: list[tuple[object, ...]] = []
    updates: list[tuple[object, ...]] = []
    changed: list[tuple[int, VariantInput]] = []
    unchanged = 0
    wanted_new = sum(1 for i in inputs if i.sku.upper() not in existing)
    # Ids taken up front, so new rows go in with one executemany.
    fresh_ids = iter(
        [
            r[0]
            for r in conn.execute(
                "SELECT nextval('catalog_variant_id_seq') FROM generate_series(1, %s)",
                (wanted_new,),
            )
        ]
    )
    for item in inputs:
        values = (
            item.sku,
            products[item.product][0],
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
        current = existing.get(item.sku.upper())
        if current is None:
            variant_id = next(fresh_ids)
            inserts.append((variant_id, *_columns(values)))
        elif current[1] != values:
            variant_id = current[0]
            updates.append((*_columns(values), variant_id))
        else:
            unchanged += 1
            continue
        changed.append((variant_id, item))

    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO catalog_variant (id, sku, product_id, options, cost, price, tax_class,"
            " reorder_point, reorder_qty, pack_size, active)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            inserts,
        )
        if progress:
            progress("writing", len(inserts), len(inputs))
        # Every changed variant's row is written, even when only its barcodes changed: the
        # write is what gives it a new change_seq.
        cur.executemany(
            "UPDATE catalog_variant SET sku = %s, product_id = %s, options = %s, cost = %s,"
            " price = %s, tax_class = %s, reorder_point = %s, reorder_qty = %s,"
            " pack_size = %s, active = %s WHERE id = %s",
            updates,
        )
        # Every changed variant's codes go before any is inserted, so a code can move
        # between two variants in one import.
        cur.execute(
            "DELETE FROM catalog_barcode WHERE variant_id = ANY(%s)",
            ([variant_id for variant_id, _ in changed],),
        )
        cur.executemany(
            "INSERT INTO catalog_barcode (code, display, kind, variant_id, position)"
            " VALUES (%s, %s, %s, %s, %s)",
            [
                (code.key, code.display, code.kind, variant_id, position)
                for variant_id, item in changed
                for position, code in enumerate(item.barcodes)
            ],
        )
    if progress:
        progress("writing", len(inputs), len(inputs))
    return len(inserts), len(updates), unchanged


def _columns(values: tuple[Any, ...]) -> tuple[object, ...]:
    """The variant row's columns from a compared state (the barcodes left out)."""
    sku, product_id, options, *rest, _barcodes = values
    return (sku, product_id, Jsonb(options), *rest)


def set_store_price(conn: Conn, store: str, sku: str, price: int | None) -> int:
    """Give a store its own price for a variant, or (None) take it back to the chain's price;
    the catalog version after it."""
    if price is not None and price < 0:
        raise CatalogError("a price must not be negative")
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        row = conn.execute(
            "SELECT id FROM catalog_variant WHERE upper(sku) = upper(%s)", (sku,)
        ).fetchone()
        if row is None:
            raise CatalogError(f"no variant has SKU {sku}")
        if price is None:
            conn.execute(
                "UPDATE catalog_store_price SET active = false"
                " WHERE store = %s AND variant_id = %s AND active",
                (store, row[0]),
            )
        else:
            conn.execute(
                "INSERT INTO catalog_store_price (store, variant_id, price) VALUES (%s, %s, %s)"
                " ON CONFLICT (store, variant_id) DO UPDATE SET price = excluded.price,"
                " active = true",
                (store, row[0], price),
            )
        return head_version(conn)


# Each branch is an index range scan that stops at `limit`; the merge keeps the first
# `limit` of both. A variant may come twice in one page (its own change and its store
# price's), each time with its whole current state: applying both is the same as one.
_CHANGES = """
WITH picked AS (
    SELECT seq, variant_id FROM (
        (SELECT change_seq AS seq, id AS variant_id FROM catalog_variant
         WHERE change_seq > %(since)s AND change_seq <= %(head)s
         ORDER BY change_seq LIMIT %(limit)s)
        UNION ALL
        (SELECT change_seq, variant_id FROM catalog_store_price
         WHERE store = %(store)s AND change_seq > %(since)s AND change_seq <= %(head)s
         ORDER BY change_seq LIMIT %(limit)s)
    ) AS both_kinds
    ORDER BY seq LIMIT %(limit)s
)
SELECT k.seq, v.sku, p.name, v.options,
    ARRAY(SELECT b.display FROM catalog_barcode b WHERE b.variant_id = v.id
          ORDER BY b.position),
    c.name, ve.name, v.cost, COALESCE(sp.price, v.price), v.tax_class,
    v.reorder_point, v.reorder_qty, v.pack_size, v.active
FROM picked k
JOIN catalog_variant v ON v.id = k.variant_id
JOIN catalog_product p ON p.id = v.product_id
LEFT JOIN catalog_category c ON c.id = p.category_id
LEFT JOIN catalog_vendor ve ON ve.id = p.vendor_id
LEFT JOIN catalog_store_price sp ON sp.store = %(store)s AND sp.variant_id = v.id AND sp.active
ORDER BY k.seq
"""


def changes_since(conn: Conn, since: int, limit: int, store: str) -> ChangesReply:
    """The variants changed after version `since` as `store` sees them, oldest change first,
    at most `limit` (capped at MAX_PAGE); `next` is where to continue, `head` the version."""
    limit = max(1, min(limit, MAX_PAGE))
    with conn.transaction():
        head = head_version(conn)
        # Only up to the head read above: everything at or below it is committed (writers
        # take turns, migration 0006), so a store that continues from `next` misses nothing.
        rows = conn.execute(
            _CHANGES, {"since": since, "head": head, "limit": limit, "store": store}
        ).fetchall()
    changes = [
        CatalogChange(
            seq=row[0],
            sku=row[1],
            product=row[2],
            options=dict(row[3]),
            barcodes=list(row[4]),
            category=row[5],
            vendor=row[6],
            cost=row[7],
            price=row[8],
            tax_class=row[9],
            reorder_point=row[10],
            reorder_qty=row[11],
            pack_size=row[12],
            active=row[13],
        )
        for row in rows
    ]
    following = changes[-1].seq if len(changes) == limit else head
    return ChangesReply(changes=changes, next=following, head=head)
