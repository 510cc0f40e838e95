"""A scripted register for tests: seals events as the PWA will, computes totals with the
shared pricing code, and pushes them over HTTP."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from flask.testing import FlaskClient

from protocol.envelope import Envelope, Override, envelope_dict, format_at, seal
from protocol.hlc import Clock
from protocol.ids import new_id
from protocol.pricing import Discount, DiscountKind, LineInput, TaxMode, TaxRounding, price_sale

RATES = {"standard": 200_000, "reduced": 70_000, "zero": 0}


@dataclass
class Item:
    """A sale line as a cashier rings it up."""

    variant: str
    qty: int
    unit_price: int
    tax_class: str = "standard"
    discount: tuple[str, int] | None = None
    price_approval: str | None = None
    discount_approval: str | None = None
    voided: bool = False


@dataclass
class Till:
    """One register: its own seq, hash chain, HLC and receipt counter."""

    client: FlaskClient
    store: str
    origin: str
    device: str
    wall: Any
    seq: int = 0
    prev: str | None = None
    receipts: int = 0
    staff_token: str | None = None
    actor: str | None = None
    shift: str | None = None
    clock: Clock = field(init=False)
    mode: TaxMode = TaxMode.INCLUSIVE
    rounding: TaxRounding = TaxRounding.LINE

    def __post_init__(self) -> None:
        self.clock = Clock(self.origin, wall=self.wall)

    def next_receipt(self) -> str:
        self.receipts += 1
        return f"{self.origin}-{self.receipts:06d}"

    def event(
        self,
        type: str,
        body: dict[str, Any],
        *,
        actor: str | None = None,
        override: Override | None = None,
    ) -> Envelope:
        """Seal the next event of this register's chain."""
        self.seq += 1
        env = seal(
            id=new_id(),
            type=type,
            store=self.store,
            origin=self.origin,
            seq=self.seq,
            hlc=str(self.clock.now()),
            at=format_at(self.wall()),
            actor=actor if actor is not None else self.actor,
            override=override,
            body=body,
            prev=self.prev,
        )
        self.prev = env.hash
        return env

    def push(self, *events: Envelope, mode: str = "live", token: str | None = None) -> Any:
        """POST /events; returns the Flask response."""
        return self.client.post(
            "/api/v1/events",
            json={"events": [envelope_dict(e) for e in events], "mode": mode},
            headers={"Authorization": f"Bearer {token or self.staff_token or self.device}"},
        )

    def send(self, type: str, body: dict[str, Any], **kwargs: Any) -> Any:
        """Seal and push one live event; on refusal, rewind the chain (nothing was stored)."""
        seq, prev = self.seq, self.prev
        env = self.event(
            type, body, actor=kwargs.pop("actor", None), override=kwargs.pop("override", None)
        )
        response = self.push(env, **kwargs)
        if response.status_code != 200:
            self.seq, self.prev = seq, prev
        response.envelope = env
        return response

    def sale_body(
        self,
        items: Sequence[Item],
        *,
        tenders: Sequence[dict[str, Any]] | None = None,
        order_discount: tuple[str, int] | None = None,
        order_discount_approval: str | None = None,
        catalog_version: int = 10**9,
        exchange_of: str | None = None,
        receipt: str | None = None,
    ) -> dict[str, Any]:
        """A sale.completed body with totals as the shared pricing code computes them."""
        inputs = [
            LineInput(
                qty=i.qty,
                unit_price=i.unit_price,
                tax_rate_ppm=RATES[i.tax_class],
                discount=None
                if i.discount is None
                else Discount(kind=DiscountKind(i.discount[0]), value=i.discount[1]),
                voided=i.voided,
            )
            for i in items
        ]
        totals = price_sale(
            inputs,
            order_discount=None
            if order_discount is None
            else Discount(kind=DiscountKind(order_discount[0]), value=order_discount[1]),
            mode=self.mode,
            rounding=self.rounding,
        )
        lines = []
        for number, item in enumerate(items, start=1):
            line: dict[str, Any] = {
                "line": number,
                "variant": item.variant,
                "qty": item.qty,
                "unit_price": item.unit_price,
            }
            if item.discount is not None:
                line["discount"] = {"kind": item.discount[0], "value": item.discount[1]}
                if item.discount_approval:
                    line["discount"]["approval"] = item.discount_approval
            if item.price_approval:
                line["price_approval"] = item.price_approval
            if item.voided:
                line["voided"] = True
            lines.append(line)
        body: dict[str, Any] = {
            "receipt": receipt or self.next_receipt(),
            "shift": self.shift,
            "catalog_version": catalog_version,
            "currency": "EUR",
            "lines": lines,
            "tenders": list(tenders)
            if tenders is not None
            else [{"kind": "card", "amount": totals.total, "reference": "T-1"}],
            "totals": {
                "subtotal": totals.subtotal,
                "discount": totals.discount,
                "tax": totals.tax,
                "total": totals.total,
            },
        }
        if order_discount is not None:
            body["order_discount"] = {"kind": order_discount[0], "value": order_discount[1]}
            if order_discount_approval:
                body["order_discount"]["approval"] = order_discount_approval
        if exchange_of:
            body["exchange_of"] = exchange_of
        return body

    def total_of(self, body: dict[str, Any]) -> int:
        total: int = body["totals"]["total"]
        return total

    def open_shift(self, float_counts: dict[str, int] | None = None) -> Any:
        counts = float_counts or {"2000": 5, "1000": 5, "500": 4, "100": 20}
        self.shift = new_id()
        return self.send(
            "shift.opened",
            {
                "shift": self.shift,
                "float": {"counts": counts, "total": sum(int(k) * v for k, v in counts.items())},
            },
        )

    def receipt(self, number: str) -> dict[str, Any]:
        response = self.client.get(
            f"/api/v1/receipts/{number}", headers={"Authorization": f"Bearer {self.device}"}
        )
        assert response.status_code == 200, response.get_json()
        data: dict[str, Any] = response.get_json()
        return data


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
