"""Catalog routes: the change feed, search, barcode and variant lookup."""

from __future__ import annotations

from appliance.api.registry import Call
from appliance.api.schemas import ChangesOut, ChangesQuery, SearchOut, SearchQuery
from appliance.api.v1 import api
from appliance.catalog import queries
from appliance.catalog.barcodes import BarcodeError, lookup_key
from appliance.catalog.records import VariantDoc
from appliance.errors import Invalid, NotFound

_BARCODE_PATH = {"type": "string", "minLength": 1, "maxLength": 48}
_ID_PATH = {"type": "string", "minLength": 1, "maxLength": 64}


@api.route(
    "GET",
    "/catalog/changes",
    summary="Catalog changes since a version",
    tag="catalog",
    auth="device",
    query=ChangesQuery,
    response=ChangesOut,
)
def catalog_changes(call: Call, query: ChangesQuery) -> bytes:
    """The latest document of every variant and category changed after `since`, oldest first.

    Registers keep their cache fresh with this: start at 0, then continue from `next` until
    `next` equals `head`. A `next` lower than `since` means the cache came from another
    database (the appliance was restored): drop it and start again from 0.
    """
    page = queries.changes(call.rt.db, since=query.since, limit=query.limit)
    return b'{"changes":[%s],"next":%d,"head":%d}' % (b",".join(page.changes), page.next, page.head)


@api.route(
    "GET",
    "/catalog/search",
    summary="Search variants by name, SKU or barcode prefix",
    tag="catalog",
    auth="device",
    query=SearchQuery,
    response=SearchOut,
)
def catalog_search(call: Call, query: SearchQuery) -> bytes:
    """Active variants whose name, options, category, SKU or barcode start with each word.

    An exact SKU or barcode comes first.
    """
    docs = queries.search(call.rt.db, query.q, limit=query.limit)
    return b'{"variants":[%s]}' % b",".join(docs)


@api.route(
    "GET",
    "/catalog/barcodes/<code>",
    summary="The variant with this barcode",
    tag="catalog",
    auth="device",
    response=VariantDoc,
    path={"code": _BARCODE_PATH},
)
def catalog_barcode(call: Call, code: str) -> bytes:
    """Exact lookup, as a scan does. GS1 codes must have a right check digit (422 if not);
    UPC-A, EAN-13 and GTIN-14 forms of one number find the same variant."""
    try:
        key = lookup_key(code)
    except BarcodeError as exc:
        raise Invalid(str(exc), code="bad_barcode", details={"code": code}) from None
    doc = queries.by_barcode(call.rt.db, key)
    if doc is None:
        raise NotFound(
            f"no product has barcode {code}", code="unknown_barcode", details={"code": code}
        )
    return doc


@api.route(
    "GET",
    "/catalog/variants/<variant_id>",
    summary="One variant by id",
    tag="catalog",
    auth="device",
    response=VariantDoc,
    path={"variant_id": _ID_PATH},
)
def catalog_variant(call: Call, variant_id: str) -> bytes:
    """The variant's current document."""
    doc = queries.by_id(call.rt.db, variant_id)
    if doc is None:
        raise NotFound(f"no variant {variant_id}")
    return doc
