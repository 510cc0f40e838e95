"""The authorization matrix's rows for the audit pages (tests/hq/test_authorization.py).

CASES: endpoint -> Case. SNAPSHOT: scalar SQL subqueries (each "(SELECT …)") over what this
page's POSTs change: a refused request must leave them equal, an allowed POST must change one.
prepare(hq, store): ids the paths use (made fresh for each case; store is the one the request
names, "s01" in the manager's scope or "s02" outside it).
"""

from __future__ import annotations

from typing import Any

from cloud.hq.accounts import HqRole
from protocol.ids import new_id
from tests.hq.authz import EVERYONE, Case, _none
from tests.hq.conftest import Hq


def _get(path: str) -> Case:
    return Case(EVERYONE, lambda i: path.format(**i), _none)


CASES: dict[str, Case] = {
    "hq.audit": _get("/hq/audit"),
    "hq.audit_trail": _get("/hq/audit/adjustments"),
    "hq.audit_trail_csv": _get("/hq/audit/adjustments.csv"),
    "hq.audit_counts": _get("/hq/audit/counts"),
    "hq.audit_counts_csv": _get("/hq/audit/counts.csv"),
    "hq.audit_count": _get("/hq/audit/counts/{count}"),
    "hq.audit_overrides": _get("/hq/audit/overrides"),
    "hq.audit_overrides_csv": _get("/hq/audit/overrides.csv"),
    "hq.audit_journal": _get("/hq/audit/journal"),
    "hq.audit_journal_csv": _get("/hq/audit/journal.csv"),
    "hq.audit_alerts": _get("/hq/audit/alerts"),
    "hq.audit_alerts_csv": _get("/hq/audit/alerts.csv"),
    "hq.audit_alert_resolve": Case(
        frozenset({HqRole.ADMIN}),
        lambda i: f"/hq/audit/alerts/{i['alert']}/resolve",
        lambda who: {"note": f"looked into it ({who})"},
    ),
    "hq.audit_dead_letters": _get("/hq/audit/dead-letters"),
    "hq.audit_dead_letters_csv": _get("/hq/audit/dead-letters.csv"),
    "hq.audit_dead_letter": _get("/hq/audit/dead-letters/{letter}"),
    "hq.audit_dead_letter_raw": _get("/hq/audit/dead-letters/{letter}/raw"),
}
SNAPSHOT: tuple[str, ...] = (
    "(SELECT count(*) FROM alert WHERE resolved_at IS NOT NULL)",
    "(SELECT string_agg(COALESCE(resolution_note, ''), ',' ORDER BY id) FROM alert)",
)


def prepare(hq: Hq, store: str) -> dict[str, Any]:
    """An open alert, a dead letter and a stock count, all of `store`."""
    alert = hq.query(
        "INSERT INTO alert (kind, store, details) VALUES ('chain_broken', %s, '{}') RETURNING id",
        (store,),
    )[0][0]
    letter = hq.query(
        "INSERT INTO dead_letter (topic, store, raw, reason) VALUES (%s, %s, %s, 'not JSON')"
        " RETURNING id",
        (f"tillbox/v1/stores/{store}/events", store, b"\xff<b>x</b>"),
    )[0][0]
    count = new_id()
    origin = f"{store}-r09"
    hq.query(
        "INSERT INTO origin (id, store) VALUES (%s, %s) ON CONFLICT DO NOTHING", (origin, store)
    )
    seq = hq.query("SELECT COALESCE(max(store_seq), 0) + 1 FROM event WHERE store = %s", (store,))
    hq.query(
        "INSERT INTO event (id, store, origin, seq, store_seq, type, hlc, at, actor, envelope)"
        " VALUES (%s, %s, %s, %s, %s, 'stock.counted', %s, now(), 'staff-7', %s)",
        (
            count,
            store,
            origin,
            seq[0][0],
            seq[0][0],
            f"1.0.{origin}",
            '{"body": {"scope": "cycle", "lines": []}}',
        ),
    )
    return {"alert": alert, "letter": letter, "count": count}
