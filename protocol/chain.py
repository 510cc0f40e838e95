"""Chain requests: what a store asks the cloud about the rest of the chain, and the answers.

Asked on `tillbox/v1/stores/{store}/rpc/chain` with MQTT 5 request/response (the store's own
`…/rpc/chain/reply` as ResponseTopic, CorrelationData). Requests are tagged by `"kind"` so
more kinds can join (balances). Variants travel by SKU, the chain's
key: each store's variant ids are its own (decisions.md §43). Every reply is one of the
tagged records below (`"kind"`); a request the cloud cannot answer gets an `ErrorReply`.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from protocol.bodies import RECEIPT_RE

# The catalog CSV's SKU rule (appliance/catalog/csvio.py, the cloud's catalog_variant).
SKU_RE = r"^[A-Za-z0-9][A-Za-z0-9._/+-]{0,63}$"

Sku = Annotated[str, msgspec.Meta(pattern=SKU_RE)]


class _Request(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="kind"
):
    """Every request names its kind."""


class StockRequest(_Request, frozen=True, kw_only=True, tag="stock"):
    """On-hand of one SKU in every other store of the chain."""

    sku: Sku


class ReceiptRequest(_Request, frozen=True, kw_only=True, tag="receipt"):
    """Another store's sale, for a return in the asking store."""

    receipt: Annotated[str, msgspec.Meta(pattern=RECEIPT_RE)]


ChainRequest = StockRequest | ReceiptRequest


class _Reply(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    """Every reply names its kind."""


class StoreStock(msgspec.Struct, frozen=True, kw_only=True):
    """One store's on-hand of the SKU, as of the last batch of events the cloud took from it
    (`synced_at`, null before its first): how fresh the figure is."""

    store: str
    name: str | None
    on_hand: int
    synced_at: str | None


class StockReply(_Reply, frozen=True, kw_only=True, tag="stock"):
    """The SKU in the other stores that carry it (a store that never had a variant with this
    SKU is not listed), by store id."""

    sku: str
    stores: list[StoreStock]


class ReturnedLine(msgspec.Struct, frozen=True, kw_only=True):
    """What other stores have returned of one line of the sale: how many, refunded how much."""

    line: int
    qty: int
    refund: int


class ReceiptReply(_Reply, frozen=True, kw_only=True, tag="receipt"):
    """Another store's sale as its register sealed it (`body`, a `sale.completed` body), with
    each line's SKU (null when the cloud does not know the selling store's id), whether it
    was post-voided, and what has been returned of it and refunded per tender kind in every
    store but the asking one, as far as the cloud has heard."""

    id: str
    receipt: str
    store: str
    register: str
    actor: str | None
    at: str
    body: dict[str, Any]
    skus: dict[str, str | None]
    voided: bool
    returned: list[ReturnedLine]
    refunded: dict[str, int]


class ErrorReply(_Reply, frozen=True, kw_only=True, tag="error"):
    """The cloud could not answer: `error` is a code (`not_found`, `bad_request`, …)."""

    error: str
    message: str


ChainReply = StockReply | ReceiptReply | ErrorReply

_REQUEST: msgspec.json.Decoder[ChainRequest] = msgspec.json.Decoder(ChainRequest)
_REPLY: msgspec.json.Decoder[ChainReply] = msgspec.json.Decoder(ChainReply)


def parse_request(payload: bytes) -> ChainRequest | None:
    """A well-formed request, or None."""
    try:
        return _REQUEST.decode(payload)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def parse_reply(payload: bytes) -> ChainReply:
    """A reply; raises ValueError (with msgspec's reason) for anything else."""
    try:
        return _REPLY.decode(payload)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ValueError(str(exc)) from None


def encode(message: Any) -> bytes:
    """A request or reply as sent."""
    return msgspec.json.encode(message)
