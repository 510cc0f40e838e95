"""Reading the catalog: the change feed, search, barcode lookup and export rows."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

from appliance.catalog.barcodes import BarcodeError, lookup_key
from appliance.db import Database

_TERM = re.compile(r"\S+")
# FTS5 reads a query only up to a NUL ("unterminated string"); no other control character
# can be part of a word either, so all of them separate words.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
MAX_TERMS = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedPage:
    """One page of the change feed: raw JSON entries, where to continue, and the head."""

    changes: list[bytes]
    next: int
    head: int


def head(db: Database) -> int:
    """The catalog version: the highest change number handed out so far."""
    value = db.scalar("SELECT seq FROM sqlite_sequence WHERE name = 'catalog_feed'")
    return int(value or 0)


def changes(db: Database, *, since: int, limit: int) -> FeedPage:
    """Entries with a version above `since`, oldest first. Each entity appears once, latest."""
    rows = db.query(
        "SELECT version, kind, key, doc FROM catalog_feed WHERE version > ?"
        " ORDER BY version LIMIT ?",
        (since, limit),
    )
    entries = [
        b'{"version":%d,"kind":"%s","id":"%s","data":%s}'
        % (row["version"], row["kind"].encode(), row["key"].encode(), row["doc"].encode())
        for row in rows
    ]
    current = head(db)
    # With no rows, `since` is at or past the head. Past it means the register's cache came
    # from another database (a restore): `next` below `since` tells it to start again from 0.
    following = rows[-1]["version"] if rows else current
    return FeedPage(changes=entries, next=following, head=current)


def fts_query(text: str) -> str | None:
    """An FTS5 query where every word is a prefix and all must match; None if nothing to find."""
    phrases = []
    for term in _TERM.findall(_CONTROL.sub(" ", text))[:MAX_TERMS]:
        if not any(ch.isalnum() for ch in term):
            continue
        phrases.append('"' + term.replace('"', '""') + '"*')
    return " ".join(phrases) or None


# bm25 ranks every match, so a broad prefix ("s", "sh") over 100,000 variants would cost
# tens of milliseconds. Up to this many matches are ranked; beyond it, order is cheap.
RANK_AT_MOST = 300
# Names weigh most, then SKUs, then barcodes, then the category.
_WEIGHTS = "10.0, 5.0, 3.0, 1.0"


def search(db: Database, text: str, *, limit: int) -> list[bytes]:
    """Active variants matching a name, SKU or barcode prefix; an exact SKU or barcode first.

    A specific query is ranked by relevance. A broad one (more than RANK_AT_MOST matches)
    lists names that start with the first word, then the other matches, in catalog order.
    """
    found: list[bytes] = []
    seen: set[str] = set()
    exact = _exact(db, text.strip())
    if exact is not None:
        found.append(exact[1])
        seen.add(exact[0])
    query = fts_query(text)
    if query is None:
        return found
    ids = _matching_ids(db, query, limit + 1)
    if not ids:
        return found
    docs = {
        row["id"]: (row["key"], row["doc"])
        # CROSS JOIN fixes the order: from the few ids out, never a scan of the feed.
        for row in db.query(
            "SELECT v.id, f.key, f.doc FROM json_each(?) AS wanted"
            " CROSS JOIN variant v ON v.id = wanted.value"
            " CROSS JOIN catalog_feed f ON f.kind = 'variant' AND f.key = v.uid",
            ("[" + ",".join(map(str, ids)) + "]",),
        )
    }
    for variant_id in ids:
        key, doc = docs[variant_id]
        if key not in seen and len(found) < limit:
            found.append(doc.encode())
            seen.add(key)
    return found


def _matching_ids(db: Database, query: str, limit: int) -> list[int]:
    """Variant ids for an FTS5 query, best first."""
    matches = db.scalar(
        "SELECT count(*) FROM (SELECT 1 FROM catalog_search WHERE catalog_search MATCH ? LIMIT ?)",
        (query, RANK_AT_MOST),
    )
    if matches < RANK_AT_MOST:
        return [
            row[0]
            for row in db.query(
                "SELECT rowid FROM catalog_search WHERE catalog_search MATCH ?"
                f" ORDER BY bm25(catalog_search, {_WEIGHTS}) LIMIT ?",
                (query, limit),
            )
        ]
    first, _, rest = query.partition(" ")
    anchored = f"{{title}} : ^{first} {rest}".rstrip()
    ids: list[int] = []
    for candidate in (anchored, query):
        for row in db.query(
            "SELECT rowid FROM catalog_search WHERE catalog_search MATCH ? LIMIT ?",
            (candidate, limit * 2),
        ):
            if row[0] not in ids:
                ids.append(row[0])
        if len(ids) >= limit:
            break
    return ids[:limit]


def _exact(db: Database, text: str) -> tuple[str, bytes] | None:
    """The active variant whose SKU or barcode is exactly the text, if any."""
    if not text:
        return None
    row = db.one(
        "SELECT f.key, f.doc FROM variant v"
        " JOIN catalog_feed f ON f.kind = 'variant' AND f.key = v.uid"
        " WHERE v.sku = ? AND v.active = 1",
        (text,),
    )
    if row is None:
        try:
            key = lookup_key(text)
        except BarcodeError:
            return None
        row = db.one(
            "SELECT f.key, f.doc FROM barcode b JOIN variant v ON v.id = b.variant_id"
            " JOIN catalog_feed f ON f.kind = 'variant' AND f.key = v.uid"
            " WHERE b.code = ? AND v.active = 1",
            (key,),
        )
    return None if row is None else (row["key"], row["doc"].encode())


def exact_variant(db: Database, text: str) -> str | None:
    """The id of the active variant whose SKU or barcode is exactly `text` (a scan), or None."""
    found = _exact(db, text.strip())
    return None if found is None else found[0]


def by_barcode(db: Database, key: str) -> bytes | None:
    """The variant document for a barcode lookup key (active or not), or None."""
    row = db.one(
        "SELECT f.doc FROM barcode b JOIN variant v ON v.id = b.variant_id"
        " JOIN catalog_feed f ON f.kind = 'variant' AND f.key = v.uid WHERE b.code = ?",
        (key,),
    )
    return None if row is None else str(row["doc"]).encode()


def by_id(db: Database, uid: str) -> bytes | None:
    """The variant document for a variant id, or None."""
    row = db.one("SELECT doc FROM catalog_feed WHERE kind = 'variant' AND key = ?", (uid,))
    return None if row is None else str(row["doc"]).encode()


def export_rows(db: Database) -> Iterator[dict[str, object]]:
    """Every variant with its product facts, for CSV export, ordered by product then SKU."""
    cursor = db.execute(
        "SELECT v.sku, p.name AS product, v.options, c.name AS category, ve.name AS vendor,"
        " v.cost, v.price, v.tax_class, v.reorder_point, v.reorder_qty, v.pack_size, v.active,"
        " (SELECT group_concat(display, '|') FROM (SELECT display FROM barcode b"
        "   WHERE b.variant_id = v.id ORDER BY position)) AS barcodes"
        " FROM variant v JOIN product p ON p.id = v.product_id"
        " LEFT JOIN category c ON c.id = p.category_id"
        " LEFT JOIN vendor ve ON ve.id = p.vendor_id"
        " ORDER BY p.name, v.id"
    )
    for row in cursor:
        item = dict(row)
        item["options"] = json.loads(row["options"])
        yield item
