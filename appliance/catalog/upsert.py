"""Creating and updating variants in bulk: check against what is stored, then apply in one go."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import msgspec

from appliance.catalog.queries import head
from appliance.catalog.records import CategoryDoc, Problem, VariantDoc, VariantInput, variant_title
from appliance.db import Database
from appliance.runtime import Runtime
from protocol.envelope import format_at
from protocol.ids import new_id

_log = logging.getLogger(__name__)

# (phase, done, total): phases are "reading", "checking" and "writing".
Progress = Callable[[str, int, int], None]


def _json_list(values: Iterable[object]) -> str:
    """Many values as one bound parameter, for `IN (SELECT value FROM json_each(?))`."""
    return msgspec.json.encode(list(values)).decode()


@dataclass(frozen=True, slots=True, kw_only=True)
class UpsertReport:
    """What an upsert did, or would have done when problems stopped it."""

    created: int
    updated: int
    unchanged: int
    skipped: int
    problems: tuple[Problem, ...]
    version: int
    applied: bool


def check(db: Database, inputs: Sequence[VariantInput]) -> list[Problem]:
    """Problems that involve other rows or stored data: duplicate SKUs and barcodes, products."""
    problems, skus, barcode_rows = check_rows(inputs)
    problems.extend(_check_stored_variants(db, inputs, skus, problems))

    # Against the database: a barcode on a variant this input does not touch is taken.
    if barcode_rows:
        for row in db.query(
            "SELECT b.code, b.display, v.sku FROM barcode b JOIN variant v ON v.id = b.variant_id"
            " WHERE b.code IN (SELECT value FROM json_each(?))",
            (_json_list(barcode_rows),),
        ):
            owner = row["sku"].upper()
            if owner not in skus:
                where_row, _ = barcode_rows[row["code"]]
                problems.append(
                    Problem(
                        row=where_row,
                        column="barcodes",
                        reason=f"barcode {row['display']} is already on SKU {row['sku']}",
                    )
                )
    problems.sort(key=lambda p: (p.row, p.column))
    return problems


def check_rows(
    inputs: Sequence[VariantInput],
) -> tuple[list[Problem], dict[str, int], dict[str, tuple[int, str]]]:
    """Problems among the input's own rows, wherever the catalog is kept (appliance or cloud):
    duplicate SKUs and barcodes, one product's variants disagreeing. Also the row of each
    upper-cased SKU, and the (row, SKU) of each barcode key, for the checks against what is
    stored."""
    problems: list[Problem] = []
    skus: dict[str, int] = {}
    barcode_rows: dict[str, tuple[int, str]] = {}
    product_facts: dict[str, tuple[int, str | None, str | None, tuple[str, ...]]] = {}
    option_sets: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[str, int]] = {}
    for item in inputs:
        key = item.sku.upper()
        if key in skus:
            reason = f"SKU {item.sku} is also on row {skus[key]}"
            problems.append(Problem(row=item.row, column="sku", reason=reason))
            continue
        skus[key] = item.row
        for code in item.barcodes:
            if code.key in barcode_rows and barcode_rows[code.key][1] != key:
                other_row, other_sku = barcode_rows[code.key]
                reason = f"barcode {code.display} is also on row {other_row} (SKU {other_sku})"
                problems.append(Problem(row=item.row, column="barcodes", reason=reason))
            else:
                barcode_rows[code.key] = (item.row, key)
        names = tuple(name for name, _ in item.options)
        facts = product_facts.get(item.product)
        if facts is None:
            product_facts[item.product] = (item.row, item.category, item.vendor, names)
        else:
            first_row, category, vendor, first_names = facts
            if (category or "").lower() != (item.category or "").lower():
                problems.append(
                    Problem(
                        row=item.row,
                        column="category",
                        reason=f"{item.product!r} is in category {category!r} on row {first_row}",
                    )
                )
            elif (vendor or "").lower() != (item.vendor or "").lower():
                problems.append(
                    Problem(
                        row=item.row,
                        column="vendor",
                        reason=f"{item.product!r} comes from vendor {vendor!r} on row {first_row}",
                    )
                )
            elif names != first_names:
                problems.append(
                    Problem(
                        row=item.row,
                        column="options",
                        reason=f"{item.product!r} has options {', '.join(first_names) or 'none'} "
                        f"on row {first_row}",
                    )
                )
        combo = (item.product, item.options)
        if combo in option_sets:
            other_sku, other_row = option_sets[combo]
            reason = (
                f"SKU {other_sku} on row {other_row} already is {item.product!r} with these options"
            )
            problems.append(Problem(row=item.row, column="options", reason=reason))
        else:
            option_sets[combo] = (item.sku, item.row)
    return problems, skus, barcode_rows


# Per product name, the (SKU, options) of its stored variants that an input leaves alone.
KeptVariants = dict[str, list[tuple[str, tuple[tuple[str, str], ...]]]]


def _check_stored_variants(
    db: Database,
    inputs: Sequence[VariantInput],
    skus: dict[str, int],
    found: Sequence[Problem],
) -> list[Problem]:
    """Variants of the input's products that the input leaves alone must agree with it: the
    same option names, and never the same options as a new or changed variant."""
    names = sorted({item.product for item in inputs})
    kept: KeptVariants = {}
    if names:
        for row in db.query(
            "SELECT v.sku, v.options, p.name FROM variant v JOIN product p ON p.id = v.product_id"
            " WHERE p.name IN (SELECT value FROM json_each(?)) ORDER BY v.id",
            (_json_list(names),),
        ):
            if row["sku"].upper() not in skus:
                stored: dict[str, str] = json.loads(row["options"])
                kept.setdefault(row["name"], []).append((row["sku"], tuple(stored.items())))
    return check_kept_variants(inputs, skus, found, kept)


def check_kept_variants(
    inputs: Sequence[VariantInput],
    skus: dict[str, int],
    found: Sequence[Problem],
    kept: KeptVariants,
) -> list[Problem]:
    """The input against its products' stored variants that it leaves alone (appliance or
    cloud): the same option names, and never the same options as one of them."""
    if not kept:
        return []
    flagged = {p.row for p in found if p.column in ("sku", "options")}
    problems: list[Problem] = []
    for item in inputs:
        others = kept.get(item.product)
        if not others or item.row in flagged or skus.get(item.sku.upper()) != item.row:
            continue
        first_sku, first_options = others[0]
        wanted = [name for name, _ in first_options]
        if [name for name, _ in item.options] != wanted:
            reason = (
                f"{item.product!r} has options {', '.join(wanted) or 'none'} on SKU {first_sku}"
            )
            problems.append(Problem(row=item.row, column="options", reason=reason))
            continue
        for sku, options in others:
            if options == item.options:
                reason = f"SKU {sku} already is {item.product!r} with these options"
                problems.append(Problem(row=item.row, column="options", reason=reason))
                break
    return problems


def upsert_variants(
    rt: Runtime,
    inputs: Sequence[VariantInput],
    *,
    earlier_problems: Sequence[Problem] = (),
    skip_bad_rows: bool = False,
    progress: Progress | None = None,
    uids: Mapping[str, str] | None = None,
) -> UpsertReport:
    """Check, then create or update variants by SKU in one transaction. All or nothing by default.

    `uids` (upper-case SKU → uid) gives a variant created here the id it had before: an
    appliance restored from the cloud keeps the ids its store's events name.

    Checking runs outside the write lock so sales keep committing during a large import;
    the write then re-checks only if the catalog moved in between.
    """
    problems = list(earlier_problems)
    bad_rows = {p.row for p in problems}
    good = [i for i in inputs if i.row not in bad_rows]
    seen_version = head(rt.db)
    if progress:
        progress("checking", 0, len(good))
    problems.extend(check(rt.db, good))
    if problems and not skip_bad_rows:
        return _report(inputs, problems, applied=False, version=seen_version)
    with rt.db.write():
        if head(rt.db) != seen_version:
            problems = list(earlier_problems)
            problems.extend(check(rt.db, good))
            if problems and not skip_bad_rows:
                return _report(inputs, problems, applied=False, version=head(rt.db))
        # Leaving out a bad row can change which rows clash (a duplicate's first row may be
        # the bad one), so check what remains until it is clean. Without problems, no rework.
        while problems:
            bad_rows = {p.row for p in problems}
            good = [i for i in inputs if i.row not in bad_rows]
            again = [p for p in check(rt.db, good) if p.row not in bad_rows]
            if not again:
                break
            problems.extend(again)
        created, updated, unchanged = _apply(rt, good, progress, uids or {})
        version = head(rt.db)
    problems.sort(key=lambda p: (p.row, p.column))
    _log.info(
        "catalog upsert store=%s created=%s updated=%s unchanged=%s skipped=%s version=%s",
        rt.store,
        created,
        updated,
        unchanged,
        len({p.row for p in problems}),
        version,
    )
    return UpsertReport(
        created=created,
        updated=updated,
        unchanged=unchanged,
        skipped=len({p.row for p in problems}),
        problems=tuple(problems),
        version=version,
        applied=True,
    )


def _report(
    inputs: Sequence[VariantInput], problems: list[Problem], *, applied: bool, version: int
) -> UpsertReport:
    problems.sort(key=lambda p: (p.row, p.column))
    return UpsertReport(
        created=0,
        updated=0,
        unchanged=0,
        skipped=len({p.row for p in problems}),
        problems=tuple(problems),
        version=version,
        applied=applied,
    )


def _named(
    db: Database, table: str, names: Iterable[str]
) -> tuple[dict[str, tuple[int, str, str]], list[int]]:
    """Categories or vendors by lowercase name as (id, uid, name), creating missing ones; also
    the ids created."""
    known = {
        row["name"].lower(): (row["id"], row["uid"], row["name"])
        for row in db.query(f"SELECT id, uid, name FROM {table}")
    }
    created: list[int] = []
    for name in names:
        if name.lower() not in known:
            uid = new_id()
            cursor = db.execute(f"INSERT INTO {table} (uid, name) VALUES (?, ?)", (uid, name))
            known[name.lower()] = (int(cursor.lastrowid or 0), uid, name)
            created.append(known[name.lower()][0])
    return known, created


_VARIANT_COLUMNS = (
    "product_id",
    "options",
    "cost",
    "price",
    "tax_class",
    "reorder_point",
    "reorder_qty",
    "pack_size",
    "active",
)


def _apply(
    rt: Runtime,
    inputs: Sequence[VariantInput],
    progress: Progress | None,
    uids: Mapping[str, str],
) -> tuple[int, int, int]:
    """Write checked inputs; rebuild feed documents and search rows for what changed."""
    db = rt.db
    total = len(inputs)
    categories, new_categories = _named(db, "category", {i.category for i in inputs if i.category})
    vendors, _ = _named(db, "vendor", {i.vendor for i in inputs if i.vendor})

    products = {
        row["name"]: (row["id"], row["category_id"], row["vendor_id"], row["uid"])
        for row in db.query("SELECT id, uid, name, category_id, vendor_id FROM product")
    }
    touched_products: set[int] = set()
    next_product = int(db.scalar("SELECT COALESCE(MAX(id), 0) FROM product")) + 1
    new_products: list[tuple[int, str, str, int | None, int | None]] = []
    for item in inputs:
        category_id = categories[item.category.lower()][0] if item.category else None
        vendor_id = vendors[item.vendor.lower()][0] if item.vendor else None
        known = products.get(item.product)
        if known is None:
            uid = new_id()
            new_products.append((next_product, uid, item.product, category_id, vendor_id))
            products[item.product] = (next_product, category_id, vendor_id, uid)
            next_product += 1
        elif (known[1], known[2]) != (category_id, vendor_id):
            db.execute(
                "UPDATE product SET category_id = ?, vendor_id = ? WHERE id = ?",
                (category_id, vendor_id, known[0]),
            )
            products[item.product] = (known[0], category_id, vendor_id, known[3])
            touched_products.add(known[0])
    db.executemany(
        "INSERT INTO product (id, uid, name, category_id, vendor_id) VALUES (?, ?, ?, ?, ?)",
        new_products,
    )

    existing: dict[str, tuple[int, tuple[object, ...], str]] = {}
    if inputs:
        for row in db.query(
            f"SELECT id, uid, sku, {', '.join(_VARIANT_COLUMNS)},"
            " (SELECT group_concat(display || char(31) || position, char(30))"
            "  FROM barcode WHERE variant_id = variant.id) AS codes"
            " FROM variant WHERE sku IN (SELECT value FROM json_each(?))",
            (_json_list(i.sku for i in inputs),),
        ):
            codes = sorted(
                (c.split("\x1f") for c in (row["codes"] or "").split("\x1e") if c),
                key=lambda pair: int(pair[1]),
            )
            state = (*(row[c] for c in _VARIANT_COLUMNS), tuple(d for d, _ in codes))
            existing[row["sku"].upper()] = (row["id"], state, row["uid"])

    now = format_at(rt.now_ms())
    facts: list[_Facts] = []
    changed_codes: list[tuple[int, VariantInput]] = []
    inserts: list[tuple[object, ...]] = []
    updates: list[tuple[object, ...]] = []
    updated_ids: list[int] = []
    unchanged = 0
    # Ids are handed out here, under the write lock, so rows go in with executemany.
    next_variant = int(db.scalar("SELECT COALESCE(MAX(id), 0) FROM variant")) + 1
    encode = msgspec.json.encode
    for item in inputs:
        values = (
            products[item.product][0],
            encode(dict(item.options)).decode(),
            item.cost,
            item.price,
            item.tax_class,
            item.reorder_point,
            item.reorder_qty,
            item.pack_size,
            int(item.active),
        )
        current = existing.get(item.sku.upper())
        if current is None:
            variant_id, uid = next_variant, uids.get(item.sku.upper()) or new_id()
            next_variant += 1
            inserts.append((variant_id, uid, item.sku, *values, now))
        elif current[1] != (*values, tuple(b.display for b in item.barcodes)) or (
            values[0] in touched_products  # a new category or vendor changes its document too
        ):
            variant_id, uid = current[0], current[2]
            updates.append((item.sku, *values, now, variant_id))
            updated_ids.append(variant_id)
        else:
            unchanged += 1
            continue
        changed_codes.append((variant_id, item))
        # The document is made from the input itself: re-reading 100,000 rows just written
        # would double the write phase of a large import.
        product = products[item.product]
        category = categories[item.category.lower()] if item.category else None
        facts.append(
            _Facts(
                id=variant_id,
                uid=uid,
                sku=item.sku,
                options=dict(item.options),
                price=item.price,
                tax_class=item.tax_class,
                reorder_point=item.reorder_point,
                reorder_qty=item.reorder_qty,
                pack_size=item.pack_size,
                active=item.active,
                product_uid=product[3],
                product=item.product,
                category_uid=category[1] if category else None,
                category=category[2] if category else None,
                vendor=vendors[item.vendor.lower()][2] if item.vendor else None,
                codes=[code.display for code in item.barcodes],
            )
        )
    columns = ", ".join(_VARIANT_COLUMNS)
    for start in range(0, len(inserts), 5000):
        db.executemany(
            f"INSERT INTO variant (id, uid, sku, {columns}, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            inserts[start : start + 5000],
        )
        if progress:
            progress("writing", start + len(inserts[start : start + 5000]), total)
    db.executemany(
        f"UPDATE variant SET sku = ?, {', '.join(c + ' = ?' for c in _VARIANT_COLUMNS)},"
        " updated_at = ? WHERE id = ?",
        updates,
    )
    created, updated = len(inserts), len(updates)

    # Delete every changed variant's codes before inserting any, so a code can move between
    # two variants in one import.
    if updates:
        db.execute(
            "DELETE FROM barcode WHERE variant_id IN (SELECT value FROM json_each(?))",
            (_json_list(updated_ids),),
        )
    db.executemany(
        "INSERT INTO barcode (code, display, kind, position, variant_id) VALUES (?, ?, ?, ?, ?)",
        (
            (code.key, code.display, code.kind, position, variant_id)
            for variant_id, item in changed_codes
            for position, code in enumerate(item.barcodes)
        ),
    )
    if new_categories:
        publish_categories(db, new_categories)
    _write_documents(rt, facts, replacing=updated_ids)
    if touched_products:
        # Variants of a product whose category or vendor moved, that the input left alone.
        written = {fact.id for fact in facts}
        marks = ",".join("?" * len(touched_products))
        others = [
            row[0]
            for row in db.query(
                f"SELECT id FROM variant WHERE product_id IN ({marks})", list(touched_products)
            )
            if row[0] not in written
        ]
        rebuild_variants(rt, others)
    if progress:
        progress("writing", total, total)
    return created, updated, unchanged


def publish_categories(db: Database, category_ids: Sequence[int]) -> None:
    """Put the current document of each category into the change feed."""
    for row in db.query(
        f"SELECT uid, name, active FROM category WHERE id IN ({','.join('?' * len(category_ids))})"
        " ORDER BY name",
        list(category_ids),
    ):
        doc = CategoryDoc(id=row["uid"], name=row["name"], active=bool(row["active"]))
        _publish(db, "category", row["uid"], msgspec.json.encode(doc))


def _publish(db: Database, kind: str, key: str, doc: bytes) -> None:
    db.execute("DELETE FROM catalog_feed WHERE kind = ? AND key = ?", (kind, key))
    db.execute(
        "INSERT INTO catalog_feed (kind, key, doc) VALUES (?, ?, ?)", (kind, key, doc.decode())
    )


class _Facts(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Everything a variant's document and search row are made of."""

    id: int
    uid: str
    sku: str
    options: dict[str, str]
    price: int
    tax_class: str
    reorder_point: int | None
    reorder_qty: int | None
    pack_size: int
    active: bool
    product_uid: str
    product: str
    category_uid: str | None
    category: str | None
    vendor: str | None
    codes: list[str]


def rebuild_variants(rt: Runtime, variant_ids: Sequence[int]) -> None:
    """Recompute the feed document and search row of each variant from what is stored."""
    if not variant_ids:
        return
    rows = rt.db.query(
        "SELECT v.id, v.uid, v.sku, v.options, v.price, v.tax_class, v.reorder_point,"
        " v.reorder_qty, v.pack_size, v.active, p.uid AS product_uid, p.name AS product,"
        " c.uid AS category_uid, c.name AS category, ve.name AS vendor,"
        " (SELECT group_concat(display || char(31) || position, char(30))"
        "  FROM barcode b WHERE b.variant_id = v.id) AS codes"
        " FROM variant v"
        " JOIN product p ON p.id = v.product_id"
        " LEFT JOIN category c ON c.id = p.category_id"
        " LEFT JOIN vendor ve ON ve.id = p.vendor_id"
        " WHERE v.id IN (SELECT value FROM json_each(?)) ORDER BY v.id",
        (_json_list(variant_ids),),
    )
    facts = [
        _Facts(
            id=row["id"],
            uid=row["uid"],
            sku=row["sku"],
            options=json.loads(row["options"]),
            price=row["price"],
            tax_class=row["tax_class"],
            reorder_point=row["reorder_point"],
            reorder_qty=row["reorder_qty"],
            pack_size=row["pack_size"],
            active=bool(row["active"]),
            product_uid=row["product_uid"],
            product=row["product"],
            category_uid=row["category_uid"],
            category=row["category"],
            vendor=row["vendor"],
            codes=[
                pair[0]
                for pair in sorted(
                    (c.split("\x1f") for c in (row["codes"] or "").split("\x1e") if c),
                    key=lambda pair: int(pair[1]),
                )
            ],
        )
        for row in rows
    ]
    _write_documents(rt, facts)


def _write_documents(
    rt: Runtime, facts: Sequence[_Facts], *, replacing: Sequence[int] | None = None
) -> None:
    """Write the feed documents and search rows of these variants, in id order, replacing the
    old ones of the ids in `replacing` (all of them when not given; new variants have none)."""
    if not facts:
        return
    db = rt.db
    ordered = sorted(facts, key=lambda f: f.id)
    old = [f.id for f in ordered] if replacing is None else replacing
    if old:
        db.execute(
            "DELETE FROM catalog_feed WHERE kind = 'variant' AND key IN"
            " (SELECT uid FROM variant WHERE id IN (SELECT value FROM json_each(?)))",
            (_json_list(old),),
        )
        db.execute(
            "DELETE FROM catalog_search WHERE rowid IN (SELECT value FROM json_each(?))",
            (_json_list(old),),
        )
    currency = rt.settings.currency
    feed: list[tuple[str, str]] = []
    search: list[tuple[int, str, str, str, str]] = []
    encode = msgspec.json.encode
    for fact in ordered:
        title = variant_title(fact.product, fact.options)
        doc = VariantDoc(
            id=fact.uid,
            sku=fact.sku,
            product_id=fact.product_uid,
            product=fact.product,
            options=fact.options,
            title=title,
            barcodes=fact.codes,
            category=fact.category,
            category_id=fact.category_uid,
            vendor=fact.vendor,
            price=fact.price,
            currency=currency,
            tax_class=fact.tax_class,
            reorder_point=fact.reorder_point,
            reorder_qty=fact.reorder_qty,
            pack_size=fact.pack_size,
            active=fact.active,
        )
        feed.append((fact.uid, encode(doc).decode()))
        if fact.active:
            search.append((fact.id, title, fact.sku, " ".join(fact.codes), fact.category or ""))
    db.executemany("INSERT INTO catalog_feed (kind, key, doc) VALUES ('variant', ?, ?)", feed)
    db.executemany(
        "INSERT INTO catalog_search (rowid, title, sku, barcodes, category) VALUES (?, ?, ?, ?, ?)",
        search,
    )
    # Each new document is a catalog version at which the variant had this price: a sale rung
    # up at that version (offline, during a price change) is checked against it.
    if _has_price_history(db):
        db.execute(
            "INSERT OR REPLACE INTO price_history (variant, version, price)"
            " SELECT f.key, f.version, f.doc ->> '$.price' FROM catalog_feed f"
            " WHERE f.kind = 'variant' AND f.key IN (SELECT value FROM json_each(?))",
            (_json_list(f.uid for f in ordered),),
        )


def _has_price_history(db: Database) -> bool:
    """Whether the schema has price history yet (a migration in between imports it)."""
    return bool(
        db.scalar("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'price_history'")
    )
