"""The authorization matrix's rows for the transfers pages (tests/hq/test_authorization.py).

CASES: endpoint -> Case. SNAPSHOT: scalar SQL subqueries (each "(SELECT …)") over what this
page's POSTs change: a refused request must leave them equal, an allowed POST must change one.
prepare(hq, store): a catalog SKU and a requested transfer sent by `store` ("s01" in the
manager's scope, "s02" outside it) to the other store.
"""

from __future__ import annotations

from typing import Any

import psycopg

from cloud import transfers
from cloud.catalog import import_csv
from tests.hq.authz import EVERYONE, Case, _none
from tests.hq.conftest import Hq

CASES: dict[str, Case] = {
    "hq.transfers": Case(EVERYONE, lambda i: "/hq/transfers", _none),
    "hq.transfers_csv": Case(EVERYONE, lambda i: "/hq/transfers.csv", _none),
    "hq.transfer": Case(EVERYONE, lambda i: f"/hq/transfers/{i['transfer']}", _none),
    "hq.transfer_create": Case(
        EVERYONE,
        lambda i: "/hq/transfers",
        lambda who: {"from_store": "s01", "to_store": "s02", "lines": "MUG 2"},
    ),
    "hq.transfer_approve": Case(
        EVERYONE, lambda i: f"/hq/transfers/{i['transfer']}/approve", _none
    ),
    "hq.transfer_cancel": Case(
        EVERYONE, lambda i: f"/hq/transfers/{i['transfer']}/cancel", lambda who: {"reason": "x"}
    ),
}
SNAPSHOT: tuple[str, ...] = (
    "(SELECT string_agg(id::text || state || change_seq, ',' ORDER BY id) FROM transfer)",
)

_CATALOG = (
    "sku,product,options,barcodes,category,vendor,cost,price,tax_class,reorder_point,"
    "reorder_qty,pack_size,active\r\nMUG,Mug,,,Home,Potters,2.00,6.00,standard,,,1,1\r\n"
)


def prepare(hq: Hq, store: str) -> dict[str, Any]:
    """A SKU to ask for, and a transfer `store` is asked to send."""
    with psycopg.connect(hq.dsn, autocommit=True) as conn:
        assert import_csv(conn, _CATALOG.encode()).applied
        other = "s02" if store == "s01" else "s01"
        transfer = transfers.create(
            conn, from_store=store, to_store=other, lines=[("MUG", 1)], note=None, by="t"
        )
    return {"transfer": transfer}
