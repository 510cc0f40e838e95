"""HQ's one currency setting (TILLBOX_HQ_CURRENCY): checked when HQ starts, and what every
HQ page's amounts are written in (the catalog's prices, reorder values, audit amounts)."""

from __future__ import annotations

import psycopg
import pytest

from cloud.catalog import import_csv
from cloud.hq import create_app
from cloud.hq.settings import HqSettingsError, from_env
from tests.hq.conftest import Hq, fast_settings, seed_users


def test_from_env_reads_and_checks_the_currency() -> None:
    base = {"TILLBOX_CLOUD_DSN": "dbname=x"}
    assert from_env(base).currency == "EUR"
    assert from_env({**base, "TILLBOX_HQ_CURRENCY": "JPY"}).currency == "JPY"
    # The cloud CLI's name is read too; HQ's own wins.
    assert from_env({**base, "TILLBOX_CLOUD_CURRENCY": "GBP"}).currency == "GBP"
    both = {**base, "TILLBOX_CLOUD_CURRENCY": "GBP", "TILLBOX_HQ_CURRENCY": "USD"}
    assert from_env(both).currency == "USD"
    for bad in ("XYZ", "eur", "", "EURO", "12"):
        with pytest.raises(HqSettingsError, match="currency: an ISO 4217 code"):
            from_env({**base, "TILLBOX_HQ_CURRENCY": bad})


def _catalog(dsn: str, currency: str, price: str) -> None:
    csv = (
        "sku,product,options,barcodes,category,vendor,cost,price,tax_class,"
        "reorder_point,reorder_qty,pack_size,active\r\n"
        f"TEA-1,Green Tea,,,Food,Leaf,{price},{price},standard,2,10,1,1\r\n"
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert import_csv(conn, csv.encode(), currency=currency).applied


@pytest.mark.parametrize(
    ("currency", "typed", "shown"), [("JPY", "1200", "1200"), ("EUR", "12", "12.00")]
)
def test_hq_pages_write_amounts_in_the_setting(
    cloud_dsn: str, currency: str, typed: str, shown: str
) -> None:
    app = create_app(fast_settings(cloud_dsn, currency=currency))
    hq = Hq(
        app=app, dsn=cloud_dsn, users=seed_users(cloud_dsn, app.extensions["tillbox_hq_passwords"])
    )
    _catalog(cloud_dsn, currency, typed)
    buyer = hq.browser().sign_in("buyer")
    listing = buyer.get("/hq/catalog")
    assert listing.status_code == 200, listing.text
    assert f">{shown}<" in listing.text
    exported = buyer.get("/hq/catalog.csv").text
    assert f",{shown},{shown}," in exported
    with app.test_request_context():
        from cloud.hq import audit_page

        if currency == "JPY":
            assert audit_page._minor(123456) == "123456"
            assert audit_page._minor(123456, "EUR") == "1234.56"  # a row naming its own
            assert audit_page._minor(5, "XXQ") == "5"  # a code protocol.money does not know
        else:
            assert audit_page._minor(-1234) == "-12.34"
            assert audit_page._minor(5) == "0.05"
