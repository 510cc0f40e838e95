"""Creating and updating variants in bulk: check against what is stored, then apply in one go."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import msgspec

from appliance.catalog.queries import head
from appliance.catalog.records import CategoryDoc, Problem, VariantDoc, VariantInput, variant_title
from appliance.db import Database
from appliance.runtime import Runtime
from protocol.ids import new_id

_log = logging.getLogger(__name__)

# (phase, done, total): phases are "reading", "checking" and "writing".
Progress = Callable[[str, int, int], None]
_CHUNK = 500


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

    problems.extend(_check_stored_variants(db, inputs, skus, problems))

    # Against the database: a barcode on a variant this input does not touch is taken.
    keys = list(barcode_rows)
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for row in db.query(
            f"SELECT b.code, b.display, v.sku FROM barcode b JOIN variant v ON v.id = b.variant_id "
            f"WHERE b.code IN ({marks})",
            chunk,
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


def _check_stored_variants(
    db: Database,
    inputs: Sequence[VariantInput],
    skus: dict[str, int],
    found: Sequence[Problem],
) -> list[Problem]:
    """Variants of the input's products that the input leaves alone must agree with it: the
    same option names, and never the same options as a new or changed variant."""
    names = sorted({item.product for item in inputs})
    kept: dict[str, list[tuple[str, tuple[tuple[str, str], ...]]]] = {}
    for start in range(0, len(names), _CHUNK):
        chunk = names[start : start + _CHUNK]
        for row in db.query(
            "SELECT v.sku, v.options, p.name FROM variant v JOIN product p ON p.id = v.product_id"
            f" WHERE p.name IN ({','.join('?' * len(chunk))}) ORDER BY v.id",
            chunk,
        ):
            if row["sku"].upper() not in skus:
                stored: dict[str, str] = json.loads(row["options"])
                kept.setdefault(row["name"], []).append((row["sku"], tuple(stored.items())))
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
) -> UpsertReport:
    """Check, then create or update variants by SKU in one transaction. All or nothing by default.

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
        # Skipping a row can clear a clash it caused, but never creates one: recheck to be sure.
        while True:
            bad_rows = {p.row for p in problems}
            good = [i for i in inputs if i.row not in bad_rows]
            again = [p for p in check(rt.db, good) if p.row not in bad_rows]
            if not again:
                break
            problems.extend(again)
        created, updated, unchanged = _apply(rt, good, progress)
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


def _now_text() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _named(db: Database, table: str, names: Iterable[str]) -> tuple[dict[str, int], list[int]]:
    """Ids of categories or vendors by lowercase name, creating missing ones; also the new ids."""
    known = {row["name"].lower(): row["id"] for row in db.query(f"SELECT id, name FROM {table}")}
    created: list[int] = []
    for name in names:
        if name.lower() not in known:
            cursor = db.execute(f"INSERT INTO {table} (uid, name) VALUES (?, ?)", (new_id(), name))
            known[name.lower()] = int(cursor.lastrowid or 0)
            created.append(known[name.lower()])
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
    rt: Runtime, inputs: Sequence[VariantInput], progress: Progress | None
) -> tuple[int, int, int]:
    """Write checked inputs; rebuild feed documents and search rows for what changed."""
    db = rt.db
    total = len(inputs)
    categories, new_categories = _named(db, "category", {i.category for i in inputs if i.category})
    vendors, _ = _named(db, "vendor", {i.vendor for i in inputs if i.vendor})

    products = {
        row["name"]: (row["id"], row["category_id"], row["vendor_id"])
        for row in db.query("SELECT id, name, category_id, vendor_id FROM product")
    }
    touched_products: set[int] = set()
    for item in inputs:
        category_id = categories[item.category.lower()] if item.category else None
        vendor_id = vendors[item.vendor.lower()] if item.vendor else None
        known = products.get(item.product)
        if known is None:
            cursor = db.execute(
                "INSERT INTO product (uid, name, category_id, vendor_id) VALUES (?, ?, ?, ?)",
                (new_id(), item.product, category_id, vendor_id),
            )
            products[item.product] = (int(cursor.lastrowid or 0), category_id, vendor_id)
        elif (known[1], known[2]) != (category_id, vendor_id):
            db.execute(
                "UPDATE product SET category_id = ?, vendor_id = ? WHERE id = ?",
                (category_id, vendor_id, known[0]),
            )
            products[item.product] = (known[0], category_id, vendor_id)
            touched_products.add(known[0])

    existing: dict[str, tuple[int, tuple[object, ...]]] = {}
    skus = [i.sku for i in inputs]
    for start in range(0, len(skus), _CHUNK):
        chunk = skus[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for row in db.query(
            f"SELECT id, sku, {', '.join(_VARIANT_COLUMNS)},"
            " (SELECT group_concat(display || char(31) || position, char(30))"
            "  FROM barcode WHERE variant_id = variant.id) AS codes"
            f" FROM variant WHERE sku IN ({marks})",
            chunk,
        ):
            codes = sorted(
                (c.split("\x1f") for c in (row["codes"] or "").split("\x1e") if c),
                key=lambda pair: int(pair[1]),
            )
            state = (*(row[c] for c in _VARIANT_COLUMNS), tuple(d for d, _ in codes))
            existing[row["sku"].upper()] = (row["id"], state)

    now = _now_text()
    touched: list[int] = []
    changed_codes: list[tuple[int, VariantInput]] = []
    created = updated = unchanged = 0
    for done, item in enumerate(inputs, start=1):
        values = (
            products[item.product][0],
            json.dumps(dict(item.options), ensure_ascii=False, separators=(",", ":")),
            item.cost,
            item.price,
            item.tax_class,
            item.reorder_point,
            item.reorder_qty,
            item.pack_size,
            int(item.active),
        )
        state = (*values, tuple(b.display for b in item.barcodes))
        current = existing.get(item.sku.upper())
        if current is None:
            cursor = db.execute(
                f"INSERT INTO variant (uid, sku, {', '.join(_VARIANT_COLUMNS)}, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (new_id(), item.sku, *values, now),
            )
            variant_id = int(cursor.lastrowid or 0)
            created += 1
        elif current[1] != state or values[0] in touched_products:
            # A new category or vendor on the product changes this variant's document too.
            variant_id = current[0]
            db.execute(
                f"UPDATE variant SET sku = ?, {', '.join(c + ' = ?' for c in _VARIANT_COLUMNS)},"
                " updated_at = ? WHERE id = ?",
                (item.sku, *values, now, variant_id),
            )
            updated += 1
        else:
            unchanged += 1
            variant_id = 0
        if variant_id:
            touched.append(variant_id)
            changed_codes.append((variant_id, item))
        if progress and done % 2000 == 0 and done < total:
            progress("writing", done, total)

    # Delete every changed variant's codes before inserting any, so a code can move between
    # two variants in one import.
    changed = [variant_id for variant_id, _ in changed_codes]
    for start in range(0, len(changed), _CHUNK):
        id_chunk = changed[start : start + _CHUNK]
        db.execute(
            f"DELETE FROM barcode WHERE variant_id IN ({','.join('?' * len(id_chunk))})", id_chunk
        )
    db.executemany(
        "INSERT INTO barcode (code, display, kind, position, variant_id) VALUES (?, ?, ?, ?, ?)",
        (
            (code.key, code.display, code.kind, position, variant_id)
            for variant_id, item in changed_codes
            for position, code in enumerate(item.barcodes)
        ),
    )
    if touched_products:
        marks = ",".join("?" * len(touched_products))
        touched.extend(
            row[0]
            for row in db.query(
                f"SELECT id FROM variant WHERE product_id IN ({marks})", list(touched_products)
            )
        )
    if new_categories:
        publish_categories(db, new_categories)
    rebuild_variants(rt, sorted(set(touched)))
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


def rebuild_variants(rt: Runtime, variant_ids: Sequence[int]) -> None:
    """Recompute the feed document and search row of each variant, in id order."""
    if not variant_ids:
        return
    db = rt.db
    db.execute("CREATE TEMP TABLE IF NOT EXISTS touched_variant (id INTEGER PRIMARY KEY)")
    db.execute("DELETE FROM touched_variant")
    db.executemany("INSERT INTO touched_variant (id) VALUES (?)", ((i,) for i in variant_ids))
    rows = db.query(
        "SELECT v.id, v.uid, v.sku, v.options, v.price, v.tax_class, v.reorder_point,"
        " v.reorder_qty, v.pack_size, v.active, p.uid AS product_uid, p.name AS product,"
        " c.uid AS category_uid, c.name AS category, ve.name AS vendor,"
        " (SELECT group_concat(display || char(31) || position, char(30))"
        "  FROM barcode b WHERE b.variant_id = v.id) AS codes"
        " FROM touched_variant t JOIN variant v ON v.id = t.id"
        " JOIN product p ON p.id = v.product_id"
        " LEFT JOIN category c ON c.id = p.category_id"
        " LEFT JOIN vendor ve ON ve.id = p.vendor_id"
        " ORDER BY v.id"
    )
    db.execute(
        "DELETE FROM catalog_feed WHERE kind = 'variant' AND key IN"
        " (SELECT v.uid FROM touched_variant t JOIN variant v ON v.id = t.id)"
    )
    db.execute("DELETE FROM catalog_search WHERE rowid IN (SELECT id FROM touched_variant)")
    currency = rt.settings.currency
    feed: list[tuple[str, str]] = []
    search: list[tuple[int, str, str, str, str]] = []
    encode = msgspec.json.encode
    for row in rows:
        options: dict[str, str] = json.loads(row["options"])
        codes = [
            pair[0]
            for pair in sorted(
                (c.split("\x1f") for c in (row["codes"] or "").split("\x1e") if c),
                key=lambda pair: int(pair[1]),
            )
        ]
        title = variant_title(row["product"], options)
        doc = VariantDoc(
            id=row["uid"],
            sku=row["sku"],
            product_id=row["product_uid"],
            product=row["product"],
            options=options,
            title=title,
            barcodes=codes,
            category=row["category"],
            category_id=row["category_uid"],
            vendor=row["vendor"],
            price=row["price"],
            currency=currency,
            tax_class=row["tax_class"],
            reorder_point=row["reorder_point"],
            reorder_qty=row["reorder_qty"],
            pack_size=row["pack_size"],
            active=bool(row["active"]),
        )
        feed.append((row["uid"], encode(doc).decode()))
        if row["active"]:
            search.append((row["id"], title, row["sku"], " ".join(codes), row["category"] or ""))
    db.executemany("INSERT INTO catalog_feed (kind, key, doc) VALUES ('variant', ?, ?)", feed)
    db.executemany(
        "INSERT INTO catalog_search (rowid, title, sku, barcodes, category) VALUES (?, ?, ?, ?, ?)",
        search,
    )
