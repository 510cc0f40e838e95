"""Chain requests: what a store asks the cloud about the rest of the chain, and the answers.

Asked on `tillbox/v1/stores/{store}/rpc/chain` with MQTT 5 request/response (the store's own
`…/rpc/chain/reply` as ResponseTopic, CorrelationData). Requests are tagged by `"kind"` so
more kinds can join (another store's receipt, balances). Variants travel by SKU, the chain's
key: each store's variant ids are its own (decisions.md §43). Every reply is one of the
tagged records below (`"kind"`); a request the cloud cannot answer gets an `ErrorReply`.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

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


ChainRequest = StockRequest


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


class ErrorReply(_Reply, frozen=True, kw_only=True, tag="error"):
    """The cloud could not answer: `error` is a code (`not_found`, `bad_request`, …)."""

    error: str
    message: str


ChainReply = StockReply | ErrorReply

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
