"""GET /api/v1/store: what a register needs to price, tender and show money offline."""

from __future__ import annotations

from pathlib import Path

from appliance.app import create_app
from appliance.runtime import open_runtime
from tests.conftest import Store, make_settings


def test_registers_get_tax_tenders_and_the_locale_to_show_money_in(store: Store) -> None:
    answer = store.client.get("/api/v1/store", headers=store.bearer(store.device))
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["currency"] == "EUR"
    assert body["locale"] == "en-IE"
    assert body["tax_mode"] == "inclusive"
    assert body["no_receipt_refunds"] == ["store_credit", "cash"]
    assert 50000 in body["denominations"] and 1 in body["denominations"]


def test_a_store_set_to_german_tells_its_registers(data_dir: Path, store: Store) -> None:
    settings = make_settings(data_dir, locale="de-DE")
    runtime = open_runtime(settings)
    try:
        client = create_app(settings, runtime=runtime).test_client()
        answer = client.get("/api/v1/store", headers=store.bearer(store.device))
        assert answer.get_json()["locale"] == "de-DE"
    finally:
        runtime.close()
