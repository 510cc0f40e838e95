"""Catalog down-sync messages, as the cloud sends them and the appliance applies them.

A change is one variant's whole current state in the catalog CSV's terms (ARCHITECTURE.md,
"Catalog CSV"), money in minor units: exactly what the appliance's variant upsert takes, so
the appliance applies the cloud's changes with the code that imports its own CSV files.
"""

from __future__ import annotations

import msgspec

# The most changes one reply carries, whatever a request asks for.
MAX_PAGE = 1000


class CatalogChange(msgspec.Struct, frozen=True, kw_only=True):
    """A variant as the cloud holds it after change number `seq` (for the asking store:
    its own price where it has one). `active` false is a tombstone."""

    seq: int
    sku: str
    product: str
    options: dict[str, str]
    barcodes: list[str]
    category: str | None
    vendor: str | None
    cost: int | None
    price: int
    tax_class: str
    reorder_point: int | None
    reorder_qty: int | None
    pack_size: int
    active: bool


class ChangesRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A store's request: the changes after `since`, at most `limit` of them."""

    since: int
    limit: int


class ChangesReply(msgspec.Struct, frozen=True, kw_only=True):
    """A page of changes, oldest first. Continue from `next`; the page ends the catalog when
    `next` equals `head`. A `next` below the request's `since` means the cloud's catalog is
    older than what the store applied (a restored database): start again from 0."""

    changes: list[CatalogChange]
    next: int
    head: int


class Head(msgspec.Struct, frozen=True, kw_only=True):
    """The retained `tillbox/v1/catalog/head` message."""

    version: int


def parse_request(payload: bytes) -> ChangesRequest | None:
    """A well-formed request with non-negative numbers, or None."""
    try:
        request = msgspec.json.decode(payload, type=ChangesRequest)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if request.since < 0 or request.limit < 1:
        return None
    return request


def parse_head(payload: bytes) -> int | None:
    """The version a head message announces, or None for anything else."""
    try:
        version = msgspec.json.decode(payload, type=Head).version
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return version if version >= 0 else None
