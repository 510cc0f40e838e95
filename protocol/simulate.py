"""Sealing events as a register does, for the demo store, the cloud demo and the benchmarks.

A `SealingTill` is one origin's hash chain: each `seal` takes the next `seq`, links to the last
hash and stamps the HLC and wall time from the clock it is given (the real one, or a simulated
one). `split_tender_sale` builds a `sale.completed` body priced by `protocol.pricing` exactly as
the appliance will check it, paid part in cash and the rest by card.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from protocol.envelope import Envelope, Override, format_at, seal
from protocol.hlc import Clock
from protocol.ids import new_id
from protocol.pricing import LineInput, TaxMode, TaxRounding, price_sale


def now_ms() -> int:
    """The system's wall clock in milliseconds."""
    return time.time_ns() // 1_000_000


@dataclass
class SealingTill:
    """One register's chain of events: its origin, next seq, last hash and clocks."""

    store: str
    origin: str
    wall: Callable[[], int] = now_ms
    seq: int = 0
    prev: str | None = None
    clock: Clock = field(init=False)

    def __post_init__(self) -> None:
        self.clock = Clock(self.origin, wall=self.wall)

    def seal(
        self,
        type: str,
        body: dict[str, Any],
        *,
        actor: str | None,
        override: Override | None = None,
        event_id: str | None = None,
    ) -> Envelope:
        """The next event of this register's chain."""
        self.seq += 1
        envelope = seal(
            id=event_id or new_id(),
            type=type,
            store=self.store,
            origin=self.origin,
            seq=self.seq,
            hlc=str(self.clock.now()),
            at=format_at(self.wall()),
            actor=actor,
            override=override,
            body=body,
            prev=self.prev,
        )
        self.prev = envelope.hash
        return envelope


@dataclass(frozen=True, slots=True)
class Item:
    """What goes on a sale line: the variant, how many, its price and tax rate."""

    variant: str
    qty: int
    unit_price: int
    tax_rate_ppm: int


def split_tender_sale(
    items: Sequence[Item],
    *,
    receipt: str,
    shift: str,
    cash_share: float = 0.5,
    mode: TaxMode = TaxMode.INCLUSIVE,
    rounding: TaxRounding = TaxRounding.LINE,
    currency: str = "EUR",
    catalog_version: int = 10**9,
    card_reference: str = "AUTH1",
) -> dict[str, Any]:
    """A `sale.completed` body for `items`, part cash (exact), the rest by card."""
    totals = price_sale(
        [
            LineInput(qty=item.qty, unit_price=item.unit_price, tax_rate_ppm=item.tax_rate_ppm)
            for item in items
        ],
        order_discount=None,
        mode=mode,
        rounding=rounding,
    )
    cash = int(totals.total * cash_share)
    return {
        "receipt": receipt,
        "shift": shift,
        "catalog_version": catalog_version,
        "currency": currency,
        "lines": [
            {"line": n, "variant": item.variant, "qty": item.qty, "unit_price": item.unit_price}
            for n, item in enumerate(items, start=1)
        ],
        "tenders": [
            {"kind": "cash", "amount": cash, "tendered": cash},
            {"kind": "card", "amount": totals.total - cash, "reference": card_reference},
        ],
        "totals": {
            "subtotal": totals.subtotal,
            "discount": totals.discount,
            "tax": totals.tax,
            "total": totals.total,
        },
    }
