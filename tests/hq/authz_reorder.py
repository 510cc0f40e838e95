"""The authorization matrix's rows for the reorder pages (tests/hq/test_authorization.py).

CASES: endpoint -> Case. SNAPSHOT: scalar SQL subqueries (each "(SELECT …)") over what this
page's POSTs change: a refused request must leave them equal, an allowed POST must change one.
prepare(hq, store): a vendor with a SKU both stores should order (a hand-set reorder point, no
stock), and a draft purchase order of another SKU for s01, in packs of 6.
"""

from __future__ import annotations

from typing import Any

import psycopg

from tests.hq.authz import CHAIN, Case, _none
from tests.hq.conftest import Hq

VENDOR = "Authz Reorder Vendor"

CASES: dict[str, Case] = {
    "hq.reorder": Case(CHAIN, lambda i: "/hq/reorder", _none),
    "hq.reorder_csv": Case(CHAIN, lambda i: "/hq/reorder.csv", _none),
    "hq.reorder_draft": Case(CHAIN, lambda i: "/hq/reorder/orders", lambda who: {"vendor": VENDOR}),
    "hq.purchase_order_list": Case(CHAIN, lambda i: "/hq/reorder/orders", _none),
    "hq.purchase_order": Case(CHAIN, lambda i: f"/hq/reorder/orders/{i['order']}", _none),
    "hq.purchase_order_save": Case(
        CHAIN,
        lambda i: f"/hq/reorder/orders/{i['order']}",
        lambda who: {"qty-s01-AUTHZ-PO": "12"},
    ),
    "hq.purchase_order_state": Case(
        CHAIN, lambda i: f"/hq/reorder/orders/{i['order']}/state", lambda who: {"state": "sent"}
    ),
    "hq.purchase_order_csv": Case(CHAIN, lambda i: f"/hq/reorder/orders/{i['order']}.csv", _none),
    "hq.purchase_order_print": Case(
        CHAIN, lambda i: f"/hq/reorder/orders/{i['order']}/print", _none
    ),
}
SNAPSHOT: tuple[str, ...] = (
    "(SELECT string_agg(id || state, ',' ORDER BY id) FROM purchase_order)",
    "(SELECT string_agg(order_id || store || sku || qty, ',' ORDER BY order_id, store, sku)"
    " FROM purchase_order_line)",
)


def prepare(hq: Hq, store: str) -> dict[str, Any]:
    """A SKU to order in both stores and a draft order; its id."""
    with psycopg.connect(hq.dsn, autocommit=True) as conn:
        vendor = conn.execute(
            "INSERT INTO catalog_vendor (name) VALUES (%s) RETURNING id", (VENDOR,)
        ).fetchone()[0]
        product = conn.execute(
            "INSERT INTO catalog_product (name, vendor_id) VALUES ('Authz item', %s) RETURNING id",
            (vendor,),
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO catalog_variant (sku, product_id, cost, price, tax_class, reorder_point,"
            " reorder_qty, pack_size) VALUES ('AUTHZ-1', %(p)s, 100, 300, 'standard', 5, 10, 1),"
            " ('AUTHZ-PO', %(p)s, 100, 300, 'standard', NULL, NULL, 6)",
            {"p": product},
        )
        conn.execute(
            "INSERT INTO store_variant (store, uid, sku, local_id) VALUES"
            " ('s01', gen_random_uuid(), 'AUTHZ-1', 9000001),"
            " ('s02', gen_random_uuid(), 'AUTHZ-1', 9000001)"
        )
        order = conn.execute(
            "INSERT INTO purchase_order (vendor_id, currency) VALUES (%s, 'EUR') RETURNING id",
            (vendor,),
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO purchase_order_line (order_id, store, sku, qty, suggested, pack_size,"
            " unit_cost) VALUES (%s, 's01', 'AUTHZ-PO', 6, 6, 6, 100)",
            (order,),
        )
    return {"order": order}
