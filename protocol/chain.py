"""Chain requests: what a store asks the cloud about the rest of the chain, and the answers.

Asked on `tillbox/v1/stores/{store}/rpc/chain` with MQTT 5 request/response (the store's own
`…/rpc/chain/reply` as ResponseTopic, CorrelationData). Requests are tagged by `"kind"` so
more kinds can join. Variants travel by SKU, the chain's
key: each store's variant ids are its own (decisions.md §43). Every reply is one of the
tagged records below (`"kind"`); a request the cloud cannot answer gets an `ErrorReply`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

# A card's number or a store credit account is a tender's `reference`.
from protocol.bodies import RECEIPT_RE, Reference
from protocol.ids import UUID7_RE
from protocol.money import MAX_AMOUNT

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


BalanceKind = Literal["gift_card", "store_credit"]
HoldId = Annotated[str, msgspec.Meta(pattern=UUID7_RE)]
Amount = Annotated[int, msgspec.Meta(gt=0, le=MAX_AMOUNT)]


class BalanceRequest(_Request, frozen=True, kw_only=True, tag="balance"):
    """A gift card's or store credit account's balance, and what of it is not on hold."""

    account: BalanceKind
    reference: Reference


class HoldRequest(_Request, frozen=True, kw_only=True, tag="hold"):
    """Reserve `amount` of the account for a payment about to be made in the asking store.
    `hold` is the store's own id for it: asking again with the same id is answered the same,
    never reserved twice."""

    hold: HoldId
    account: BalanceKind
    reference: Reference
    amount: Amount
    currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]


class ReleaseRequest(_Request, frozen=True, kw_only=True, tag="release"):
    """Give back a hold whose payment was not made (the sale was abandoned)."""

    hold: HoldId


ChainRequest = StockRequest | ReceiptRequest | BalanceRequest | HoldRequest | ReleaseRequest


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


class BalanceReply(_Reply, frozen=True, kw_only=True, tag="balance"):
    """An account: its balance (what ingested events left), what is held for payments on
    their way, and `available` = balance − held."""

    account: str
    reference: str
    currency: str
    balance: int
    held: int
    available: int


class HoldReply(_Reply, frozen=True, kw_only=True, tag="hold"):
    """The hold is in place until `expires_at` (or until the payment's event arrives);
    `available` is what is left after it."""

    hold: str
    account: str
    reference: str
    amount: int
    expires_at: str
    available: int


class ReleaseReply(_Reply, frozen=True, kw_only=True, tag="release"):
    """The hold is released (or was already used or released: `released` false)."""

    hold: str
    released: bool


class ErrorReply(_Reply, frozen=True, kw_only=True, omit_defaults=True, tag="error"):
    """The cloud could not answer: `error` is a code (`bad_request`, `unknown_receipt`,
    `unknown_account`, `insufficient_balance`, …), `available` what an account has left
    when that is why."""

    error: str
    message: str
    available: int | None = None


ChainReply = StockReply | ReceiptReply | BalanceReply | HoldReply | ReleaseReply | ErrorReply

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
