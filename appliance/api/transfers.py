"""Transfers a register may receive: shipments from other stores on their way here
(decisions.md §55). Receiving itself is a `transfer.received` event pushed like any other
(POST /api/v1/events), so a register can book a shipment in while the appliance is away."""

from __future__ import annotations

import msgspec

from appliance import transfers
from appliance.api.registry import Call
from appliance.api.v1 import api
from protocol.envelope import format_at


class InboundLineOut(msgspec.Struct, kw_only=True):
    """A SKU shipped here: this store's variant for it (None: not in its catalog)."""

    sku: str
    title: str | None
    variant: str | None
    shipped: int


class InboundOut(msgspec.Struct, kw_only=True):
    """A shipment to this store, not received here yet."""

    id: str
    from_store: str
    to_store: str
    note: str | None
    lines: list[InboundLineOut]


class InboundListOut(msgspec.Struct, kw_only=True):
    """The shipments to receive, as this store last heard from head office."""

    store: str
    checked_at: str | None
    transfers: list[InboundOut]


@api.route(
    "GET",
    "/transfers/inbound",
    summary="Shipments from other stores on their way here, to receive",
    tag="stock",
    auth="device",
    response=InboundListOut,
)
def inbound(call: Call) -> InboundListOut:
    """Each shipment with its lines by SKU and this store's variant for each; `checked_at` is
    when the appliance last pulled transfers from head office (None: never)."""
    rt = call.rt
    pulled = transfers.pull_state(rt).get("pulled_ms")
    found = []
    for t in transfers.inbound(rt):
        lines = []
        for line in t.lines:
            if not line.shipped:
                continue
            variant = rt.db.scalar(
                "SELECT uid FROM variant WHERE upper(sku) = upper(?) ORDER BY active DESC, id"
                " LIMIT 1",
                (line.sku,),
            )
            lines.append(
                InboundLineOut(
                    sku=line.sku,
                    title=line.title,
                    variant=None if variant is None else str(variant),
                    shipped=line.shipped,
                )
            )
        found.append(
            InboundOut(
                id=t.id, from_store=t.from_store, to_store=t.to_store, note=t.note, lines=lines
            )
        )
    return InboundListOut(
        store=rt.store,
        checked_at=None if pulled is None else format_at(int(pulled)),
        transfers=found,
    )
