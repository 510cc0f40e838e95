"""Transfer pull messages: the transfers a store sends or receives, as the cloud has them
(decisions.md §55).

A store asks on its `rpc/transfers` topic for its transfers changed since the change number
it applied (`since`); the cloud answers with each such transfer's whole current state, lines
by SKU (the chain's key, §43: each store maps them to its own variant ids), oldest change
first. The store keeps a copy so its manager can approve, ship and receive while offline.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from protocol.bodies import STORE_RE

MAX_PAGE = 200

State = Literal["requested", "approved", "shipped", "received", "cancelled"]


class SkuLine(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """A SKU and a quantity (`[sku, qty]` on the wire)."""

    sku: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    qty: int


class TransferState(msgspec.Struct, frozen=True, kw_only=True):
    """A transfer as the cloud has it after change number `seq`."""

    seq: Annotated[int, msgspec.Meta(ge=1)]
    id: str
    from_store: Annotated[str, msgspec.Meta(pattern=STORE_RE)]
    to_store: Annotated[str, msgspec.Meta(pattern=STORE_RE)]
    state: State
    requested_in: str
    requested_at: str
    note: str | None = None
    # Asked for; as shipped by the sender (empty until the cloud has heard of the shipment).
    lines: list[SkuLine] = []
    shipped: list[SkuLine] = []


class TransfersRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A store's request: its transfers changed after `since`, at most `limit` of them."""

    since: Annotated[int, msgspec.Meta(ge=0)]
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE)] = MAX_PAGE


class TransfersReply(msgspec.Struct, frozen=True, kw_only=True):
    """A page of transfers, oldest change first; continue from `next`. The page is the last
    when `next` equals `head`. `error` says why a request was not answered."""

    transfers: list[TransferState] = []
    next: int = 0
    head: int = 0
    error: str | None = None


def parse_request(payload: bytes) -> TransfersRequest | str:
    """The request, or why it is not one."""
    try:
        return msgspec.json.decode(payload, type=TransfersRequest)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return str(exc)
