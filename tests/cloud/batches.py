"""Batches as the appliance publishes them, from envelopes sealed by the test Till."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from appliance.runtime import Runtime
from protocol.envelope import Envelope, envelope_dict
from tests.appliance.till import Till
from tests.conftest import FakeWall


def batch(first: int, envelopes: Sequence[Envelope]) -> bytes:
    """`{from, to, events}`: the envelopes of store_seq first, first + 1, …"""
    return msgspec.json.encode(
        {
            "from": first,
            "to": first + len(envelopes) - 1,
            "events": [envelope_dict(env) for env in envelopes],
        }
    )


def journal_batches(rt: Runtime, size: int = 500) -> list[bytes]:
    """The appliance's whole journal in store_seq order, cut into batches of `size`."""
    rows = rt.db.query("SELECT store_seq, envelope FROM event ORDER BY store_seq")
    entries: list[tuple[int, Any]] = [
        (row["store_seq"], msgspec.json.decode(row["envelope"])) for row in rows
    ]
    return [
        msgspec.json.encode(
            {"from": chunk[0][0], "to": chunk[-1][0], "events": [env for _, env in chunk]}
        )
        for chunk in (entries[i : i + size] for i in range(0, len(entries), size))
    ]


def offline_till(store: str = "s01", origin: str = "s01-r01") -> Till:
    """A register that only seals events (no appliance behind it)."""
    return Till(
        client=None, store=store, origin=origin, device="", wall=FakeWall(), actor="staff-7"
    )  # type: ignore[arg-type]


def received(till: Till, variant: str, qty: int) -> Envelope:
    """A stock.received event of one line."""
    till.wall.advance(1)
    return till.event("stock.received", {"lines": [{"variant": variant, "qty": qty}]})
