"""The authorization matrix's rows for the catalog pages (tests/hq/test_authorization.py).

CASES: endpoint -> Case. SNAPSHOT: scalar SQL subqueries (each "(SELECT …)") over what this
page's POSTs change: a refused request must leave them equal, an allowed POST must change one.
prepare(hq, store): ids the paths use (made fresh for each case; store is the one the request
names, "s01" in the manager's scope or "s02" outside it).

Admins and buyers edit; store managers view and set their own stores' prices (§56). A form
that needs what prepare made (a change number, a kept upload of the signed-in user) reads it
from _PREPARED, which prepare fills just before the test builds the form.
"""

from __future__ import annotations

from typing import Any

import psycopg

from cloud.catalog import import_csv
from tests.hq.authz import CHAIN, EVERYONE, Case, _none
from tests.hq.conftest import Hq

_CSV = (
    "sku,product,options,barcodes,category,vendor,cost,price,tax_class,reorder_point,"
    "reorder_qty,pack_size,active\r\n"
    "AZ-S,Authz Tee,Size=S,4006381333931,Apparel,Acme,4.00,10.00,standard,,,1,1\r\n"
)
_UPLOAD = b"sku,product,price\r\nAZ-NEW,Authz Import,3.00\r\n"
_PREPARED: dict[str, Any] = {}


def _save_form(who: str) -> dict[str, Any]:
    return {
        "action": "save",
        "name": "Authz Tee",
        "category": "Apparel",
        "vendor": "Acme",
        "seq": _PREPARED["product_seq"],
        "rows": "1",
        "v0_id": _PREPARED["variant"],
        "v0_seq": _PREPARED["variant_seq"],
        "v0_sku": "AZ-S",
        "v0_options": "Size=S",
        "v0_barcodes": "4006381333931",
        "v0_cost": "4.00",
        "v0_price": "11.00",
        "v0_tax_class": "standard",
        "v0_pack_size": "1",
        "v0_active": "1",
    }


CASES: dict[str, Case] = {
    "hq.catalog": Case(EVERYONE, lambda i: "/hq/catalog", _none),
    "hq.catalog_csv": Case(EVERYONE, lambda i: "/hq/catalog.csv", _none),
    "hq.catalog_product": Case(EVERYONE, lambda i: f"/hq/catalog/products/{i['product']}", _none),
    "hq.catalog_new": Case(CHAIN, lambda i: "/hq/catalog/products/new", _none),
    "hq.catalog_create": Case(
        CHAIN,
        lambda i: "/hq/catalog/products",
        lambda who: {
            "action": "save",
            "name": "Authz New",
            "rows": "1",
            "v0_sku": "AZ-NEW-1",
            "v0_price": "2.00",
            "v0_tax_class": "standard",
            "v0_active": "1",
        },
    ),
    "hq.catalog_save": Case(CHAIN, lambda i: f"/hq/catalog/products/{i['product']}", _save_form),
    "hq.catalog_archive": Case(
        CHAIN,
        lambda i: f"/hq/catalog/products/{i['product']}/archive",
        lambda who: {"archived": "1", "seq": _PREPARED["product_seq"]},
    ),
    # Managers too, for their own stores: the store is the request's ?store=.
    "hq.catalog_price": Case(
        EVERYONE,
        lambda i: "/hq/catalog/prices",
        lambda who: {"variant": _PREPARED["variant"], "price": "9.50"},
    ),
    "hq.catalog_names": Case(CHAIN, lambda i: "/hq/catalog/names", _none),
    "hq.catalog_name_add": Case(
        CHAIN, lambda i: "/hq/catalog/names/vendors", lambda who: {"name": "Authz Vendor"}
    ),
    "hq.catalog_name_save": Case(
        CHAIN,
        lambda i: f"/hq/catalog/names/categories/{i['category']}",
        lambda who: {"name": "Clothing", "active": "1"},
    ),
    "hq.catalog_import_form": Case(CHAIN, lambda i: "/hq/catalog/import", _none),
    # Applying a kept (dry-run) upload: each user may apply only their own.
    "hq.catalog_import": Case(
        CHAIN,
        lambda i: "/hq/catalog/import",
        lambda who: {"upload": str(_PREPARED["uploads"].get(who, 0))},
    ),
}
SNAPSHOT: tuple[str, ...] = (
    "(SELECT string_agg(sku || price || active || change_seq, ',' ORDER BY id)"
    " FROM catalog_variant)",
    "(SELECT string_agg(name || active || change_seq, ',' ORDER BY id) FROM catalog_product)",
    "(SELECT string_agg(name || change_seq, ',' ORDER BY id) FROM catalog_category)",
    "(SELECT string_agg(name || change_seq, ',' ORDER BY id) FROM catalog_vendor)",
    "(SELECT string_agg(store || variant_id || price || active, ',' ORDER BY store, variant_id)"
    " FROM catalog_store_price)",
    "(SELECT count(*) FROM hq_catalog_upload WHERE applied_at IS NOT NULL)",
)


def prepare(hq: Hq, store: str) -> dict[str, Any]:
    """A product with one variant, and a checked upload kept for each user."""
    with psycopg.connect(hq.dsn, autocommit=True) as conn:
        assert import_csv(conn, _CSV.encode()).applied
        product, product_seq, category = conn.execute(
            "SELECT id, change_seq, category_id FROM catalog_product WHERE name = 'Authz Tee'"
        ).fetchone() or (0, 0, 0)
        variant, variant_seq = conn.execute(
            "SELECT id, change_seq FROM catalog_variant WHERE sku = 'AZ-S'"
        ).fetchone() or (0, 0)
        uploads = {
            who: conn.execute(
                "INSERT INTO hq_catalog_upload (user_id, filename, data) VALUES (%s, 'a.csv', %s)"
                " RETURNING id",
                (user_id, _UPLOAD),
            ).fetchone()[0]  # type: ignore[index]
            for who, user_id in hq.users.items()
        }
    _PREPARED.update(
        product=product,
        product_seq=str(product_seq),
        variant=str(variant),
        variant_seq=str(variant_seq),
        category=category,
        uploads=uploads,
    )
    return {"product": product, "category": category}
