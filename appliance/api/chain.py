"""Routes that ask the cloud about the rest of the chain: other stores' stock."""

from __future__ import annotations

import msgspec

from appliance.api.registry import Call
from appliance.api.schemas import StockQuery
from appliance.api.v1 import api
from appliance.errors import NotFound
from appliance.sync.chain import BadCloudReply, call_cloud
from protocol.chain import StockReply, StockRequest
from protocol.envelope import format_at


class OtherStoreOut(msgspec.Struct, kw_only=True):
    """A store's on-hand, as of `synced_at`: when the cloud last took its events."""

    store: str
    name: str | None
    on_hand: int
    synced_at: str | None


class ChainStockOut(msgspec.Struct, kw_only=True):
    """A variant in the other stores of the chain, as the cloud has it now."""

    variant: str
    sku: str
    store: str
    asked_at: str
    stores: list[OtherStoreOut]


@api.route(
    "GET",
    "/stock/chain",
    summary="On-hand of a variant in the other stores, asked of the cloud",
    tag="stock",
    auth="device",
    query=StockQuery,
    response=ChainStockOut,
    errors=(404, 502, 503),
)
def chain_stock(call: Call, query: StockQuery) -> ChainStockOut:
    """The cloud is asked by SKU, the chain's key, and answers for every other store that
    carries it, with when it last heard from each. 503 (`cloud_offline`, `cloud_timeout`)
    when the cloud cannot be asked or does not answer within `chain_rpc_timeout_ms`; 502
    for an answer that is not one. Stores it has no figures for are not listed."""
    rt = call.rt
    row = rt.db.one(
        "SELECT uid, sku FROM variant WHERE uid = ? OR sku = ?", (query.variant, query.variant)
    )
    if row is None:
        raise NotFound(f"no variant {query.variant}")
    asked = rt.now_ms()
    reply = call_cloud(rt, StockRequest(sku=row["sku"]))
    if not isinstance(reply, StockReply):
        raise BadCloudReply(f"the cloud answered a stock question with {type(reply).__name__}")
    return ChainStockOut(
        variant=row["uid"],
        sku=row["sku"],
        store=rt.store,
        asked_at=format_at(asked),
        stores=[
            OtherStoreOut(store=s.store, name=s.name, on_hand=s.on_hand, synced_at=s.synced_at)
            for s in reply.stores
            if s.store != rt.store
        ],
    )
