"""Routes for gift cards and store credit: balances and holds, asked of the cloud."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from appliance import balances
from appliance.api.registry import Call
from appliance.api.schemas import Strict
from appliance.api.v1 import api
from appliance.errors import Invalid
from protocol.bodies import TEXT_RE, Reference
from protocol.ids import UUID7_RE
from protocol.money import MAX_AMOUNT

Kind = Literal["gift_card", "store_credit"]
# A pattern makes the URL rule match only these, so `/balances/holds/…` is never a kind.
_KIND_PATH = {"type": "string", "pattern": "^(gift_card|store_credit)$"}
_REFERENCE_PATH = {"type": "string", "minLength": 1, "maxLength": 64}
_ID_PATH = {"type": "string", "pattern": UUID7_RE}


class BalanceOut(msgspec.Struct, kw_only=True):
    """An account as the cloud has it now: `available` = `balance` − `held` (payments on
    their way from any store)."""

    kind: str
    reference: str
    currency: str
    balance: int
    held: int
    available: int


class HoldIn(Strict):
    """Reserve `amount` (minor units) of an account for the payment about to be made."""

    kind: Kind
    reference: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=TEXT_RE)]
    amount: Annotated[int, msgspec.Meta(gt=0, le=MAX_AMOUNT)]


class HoldOut(msgspec.Struct, kw_only=True):
    """The hold: the sale's tender of this account and amount uses it up."""

    hold: str
    kind: str
    reference: str
    amount: int
    expires_at: str
    available: int


@api.route(
    "GET",
    "/balances/<kind>/<reference>",
    summary="A gift card's or store credit account's balance, asked of the cloud",
    tag="balances",
    auth="device",
    response=BalanceOut,
    path={"kind": _KIND_PATH, "reference": _REFERENCE_PATH},
    errors=(404, 502, 503),
)
def get_balance(call: Call, kind: str, reference: str) -> BalanceOut:
    """404 `unknown_account`; 422 for a reference no tender could carry; 503 when the cloud
    cannot be asked."""
    try:
        msgspec.convert(reference, Reference)
    except msgspec.ValidationError:
        raise Invalid(
            f"{reference!r} is not a card or account number", code="invalid_path"
        ) from None
    return BalanceOut(**balances.balance_of(call.rt, kind, reference))


@api.route(
    "POST",
    "/balances/holds",
    summary="Reserve part of a balance for a payment here",
    tag="balances",
    auth="staff",
    body=HoldIn,
    response=HoldOut,
    status=201,
    errors=(404, 409, 422, 502, 503),
)
def post_hold(call: Call, body: HoldIn) -> HoldOut:
    """Before a sale is paid from a gift card or store credit, online: the cloud reserves
    the amount, so no other store can spend it meanwhile. 404 `unknown_account`, 409
    `insufficient_balance` (`details.available`), 503 offline: then the payment may go
    without a hold, up to the store's offline limit per card."""
    call.staff_caller()
    return HoldOut(**balances.place_hold(call.rt, body.kind, body.reference, body.amount))


@api.route(
    "DELETE",
    "/balances/holds/<hold_id>",
    summary="Give back a hold whose payment was not made",
    tag="balances",
    auth="staff",
    status=204,
    path={"hold_id": _ID_PATH},
    errors=(404, 409),
)
def delete_hold(call: Call, hold_id: str) -> None:
    """The sale was abandoned: released here at once and in the cloud when it can be asked
    (otherwise the cloud's hold lapses after 30 minutes). 409 `hold_used` once its sale paid."""
    call.staff_caller()
    balances.release_hold(call.rt, hold_id)
