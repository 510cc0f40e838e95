"""cloud.audit_facts through real ingest batches on the real PostgreSQL: the override log from
override.granted events and from overrides carried in envelopes (one row per approval,
idempotent, the migration's backfill giving the same rows), and over-returns across stores."""

from __future__ import annotations

from importlib import resources
from typing import Any

import psycopg

from cloud.ingest import ingest_batch
from protocol.envelope import Envelope, Override, format_at
from protocol.ids import new_id
from tests.appliance.till import Item, Till
from tests.cloud.batches import batch, offline_till, received

Conn = psycopg.Connection[Any]

_FACTS = (
    "SELECT event::text, store, action, requester, approver, register, amount, currency, reason,"
    " offline, approval, source, used_by::text FROM override_fact ORDER BY approval"
)


def granted(
    till: Till, *, approval: str, action: str = "price_override", offline: bool = False
) -> Envelope:
    """An override.granted event of `till`, approved by sup-1 for staff-7."""
    till.wall.advance(1)
    return till.event(
        "override.granted",
        {
            "approval": approval,
            "action": action,
            "amount": 500,
            "currency": "EUR",
            "requester": "staff-7",
            "approver": "sup-1",
            "register": till.origin,
            "reason": "box damaged",
            "expires_at": format_at(till.wall() + 60_000),
            "offline": offline,
        },
        actor="sup-1",
    )


def carrying(till: Till, variant: str, *, approval: str, action: str) -> Envelope:
    """A delivery that carries an approval in its envelope."""
    till.wall.advance(1)
    return till.event(
        "stock.received",
        {"lines": [{"variant": variant, "qty": 1}]},
        override=Override(id=approval, action=action, approver="sup-1", offline=True),
    )


def facts(pg: Conn) -> list[tuple[Any, ...]]:
    return pg.execute(_FACTS).fetchall()


def test_overrides_granted_and_carried_make_one_row_per_approval(pg: Conn) -> None:
    till = offline_till()
    variant = new_id()
    first, second, third = new_id(), new_id(), new_id()
    g1 = granted(till, approval=first)
    used = carrying(till, variant, approval=first, action="price_override")
    # An approval the cloud hears of first from the event that used it…
    early = carrying(till, variant, approval=second, action="stock_adjust")
    assert ingest_batch(pg, "s01", batch(1, [g1, used, early])) == {"applied_through": 3}
    rows = {row[10]: row for row in facts(pg)}
    assert rows[first] == (
        g1.id,
        "s01",
        "price_override",
        "staff-7",
        "sup-1",
        "s01-r01",
        500,
        "EUR",
        "box damaged",
        False,
        first,
        "granted",
        used.id,
    )
    assert rows[second] == (
        early.id,
        "s01",
        "stock_adjust",
        "staff-7",
        "sup-1",
        "s01-r01",
        None,
        None,
        None,
        True,
        second,
        "envelope",
        early.id,
    )
    # … and then of its override.granted, which takes the row over (still used by `early`).
    g2 = granted(till, approval=second, action="stock_adjust", offline=True)
    g3 = granted(till, approval=third, action="no_sale")
    payload = batch(4, [g2, g3])
    assert ingest_batch(pg, "s01", payload) == {"applied_through": 5}
    rows = {row[10]: row for row in facts(pg)}
    assert len(rows) == 3
    assert rows[second][0] == g2.id and rows[second][11] == "granted"
    assert rows[second][12] == early.id and rows[second][8] == "box damaged"
    assert rows[third][12] is None
    # The same batch again changes nothing.
    before = facts(pg)
    assert ingest_batch(pg, "s01", payload) == {"applied_through": 5}
    assert facts(pg) == before


def test_the_migration_backfills_the_same_rows(pg: Conn) -> None:
    till = offline_till()
    variant = new_id()
    a, b = new_id(), new_id()
    events = [
        granted(till, approval=a),
        carrying(till, variant, approval=a, action="price_override"),
        carrying(till, variant, approval=b, action="line_void"),
        received(till, variant, 2),
    ]
    assert ingest_batch(pg, "s01", batch(1, events)) == {"applied_through": 4}
    projected = facts(pg)
    assert len(projected) == 2
    sql = (resources.files("cloud.db") / "migrations" / "0020_audit.sql").read_text("utf-8")
    with pg.transaction():
        pg.execute(
            "DROP TABLE override_fact; DROP INDEX stock_ledger_kind_at, dead_letter_received,"
            " alert_raised"
        )
        pg.execute(sql.encode())
    assert facts(pg) == projected


def _sale(till: Till, variant: str, qty: int) -> tuple[Envelope, str]:
    till.wall.advance(1)
    body = till.sale_body([Item(variant, qty, 1000)])
    return till.event("sale.completed", body), body["receipt"]


def _return(till: Till, variant: str, original: str, qty: int) -> Envelope:
    till.wall.advance(1)
    return till.event(
        "return.completed",
        {
            "receipt": till.next_receipt(),
            "shift": till.shift,
            "original": original,
            "lines": [
                {
                    "line": 1,
                    "original_line": 1,
                    "variant": variant,
                    "qty": qty,
                    "refund": 1000 * qty,
                    "tax": 0,
                    "reason": "changed_mind",
                }
            ],
            "tenders": [{"kind": "card", "amount": 1000 * qty, "reference": "T-1"}],
            "totals": {"total": 1000 * qty, "tax": 0},
        },
    )


def _over_returns(pg: Conn) -> list[tuple[str, dict[str, Any]]]:
    return pg.execute(
        "SELECT store, details FROM alert WHERE kind = 'over_return' ORDER BY id"
    ).fetchall()


def test_two_stores_returning_the_last_unit_raise_an_over_return(pg: Conn) -> None:
    """s02 sold 2 on one line; s01 takes back 1 (fine), then s02 itself takes back 2 while
    cut off from the cloud: 3 of 2 returned chain-wide, flagged on s02."""
    seller = offline_till("s02", "s02-r01")
    seller.shift = new_id()
    other = offline_till("s01", "s01-r01")
    other.shift = new_id()
    v1, v2 = new_id(), new_id()
    sale, receipt = _sale(seller, v2, 2)
    assert ingest_batch(pg, "s02", batch(1, [sale])) == {"applied_through": 1}
    assert ingest_batch(pg, "s01", batch(1, [_return(other, v1, receipt, 1)])) == {
        "applied_through": 1
    }
    assert _over_returns(pg) == []
    late = _return(seller, v2, receipt, 2)
    payload = batch(2, [late])
    assert ingest_batch(pg, "s02", payload) == {"applied_through": 2}
    [(store, details)] = _over_returns(pg)
    assert store == "s02"
    assert details["receipt"] == receipt and details["line"] == 1
    assert (details["sold"], details["returned"]) == (2, 3)
    assert details["sale_store"] == "s02" and details["events"] == [late.id]
    assert sorted((r["store"], r["qty"]) for r in details["returns"]) == [("s01", 1), ("s02", 2)]
    # Sent again: no second alert.
    assert ingest_batch(pg, "s02", payload) == {"applied_through": 2}
    assert len(_over_returns(pg)) == 1


def test_a_return_of_a_post_voided_sale_is_an_over_return(pg: Conn) -> None:
    till = offline_till()
    till.shift = new_id()
    variant = new_id()
    sale, receipt = _sale(till, variant, 1)
    till.wall.advance(1)
    void = till.event("sale.voided", {"sale": sale.id, "receipt": receipt, "reason": "mistake"})
    ret = _return(till, variant, receipt, 1)
    assert ingest_batch(pg, "s01", batch(1, [sale, void, ret])) == {"applied_through": 3}
    [(store, details)] = _over_returns(pg)
    assert store == "s01" and (details["sold"], details["returned"]) == (0, 1)


def test_a_return_within_what_was_sold_or_of_an_unknown_sale_is_not_flagged(pg: Conn) -> None:
    till = offline_till()
    till.shift = new_id()
    variant = new_id()
    sale, receipt = _sale(till, variant, 3)
    events = [
        sale,
        _return(till, variant, receipt, 1),
        _return(till, variant, receipt, 2),
        _return(till, variant, "s09-r01-000001", 5),  # a sale the cloud does not hold
    ]
    assert ingest_batch(pg, "s01", batch(1, events)) == {"applied_through": 4}
    assert _over_returns(pg) == []
