"""Catalog over HTTP: search, the change feed, barcode and variant lookup, and their errors."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient
from stdnum import ean

from appliance.catalog import queries
from appliance.runtime import Runtime
from tests.conftest import Store

API = "/api/v1/catalog"
UNKNOWN_EAN = "500000000000" + ean.calc_check_digit("500000000000")


@pytest.fixture
def headers(store: Store, catalog: Runtime) -> dict[str, str]:
    """A cashier's staff session on the register, with the small catalog imported."""
    return store.bearer(store.login("cashier"))


def ok(client: FlaskClient, url: str, headers: dict[str, str]) -> Any:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "application/json"
    return response.get_json()


def error(
    client: FlaskClient, url: str, headers: dict[str, str], status: int, code: str
) -> dict[str, Any]:
    response = client.get(url, headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    assert set(body) == {"error", "message", "details"}, body
    assert body["error"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    return body


# ---- search ------------------------------------------------------------------------------------


def test_search(client: FlaskClient, headers: dict[str, str]) -> None:
    body = ok(client, f"{API}/search?q=creme", headers)
    assert set(body) == {"variants"}
    [mug] = body["variants"]
    assert mug["sku"] == "MUG-1"
    assert mug["product"] == 'Crème Brûlée Mug, "Large"'
    assert mug["price"] == 950
    assert mug["currency"] == "EUR"
    assert "cost" not in mug


def test_search_words_sku_and_barcode(client: FlaskClient, headers: dict[str, str]) -> None:
    def skus(q: str, **extra: str) -> list[str]:
        params = "&".join(f"{k}={v}" for k, v in extra.items())
        body = ok(client, f"{API}/search?q={quote(q)}&{params}", headers)
        return [v["sku"] for v in body["variants"]]

    assert sorted(skus("classic red")) == ["TEE-L-RED", "TEE-M-RED"]
    assert skus("TEE-M") == ["TEE-M-RED"]
    assert skus("40063") == ["TEE-M-RED"]
    assert skus("0036000291452") == ["TEE-L-RED"]
    assert skus("retired") == []
    assert len(skus("classic", limit="1")) == 1


@pytest.mark.parametrize("q", ['"', "NEAR(", "a AND", "*", "-", "^", ":", "tee\x00", "\x00"])
def test_search_with_fts_syntax_is_not_an_error(
    client: FlaskClient, headers: dict[str, str], q: str
) -> None:
    body = ok(client, f"{API}/search?q={quote(q)}", headers)
    assert isinstance(body["variants"], list)


@pytest.mark.parametrize(
    "query",
    ["", "?q=", "?limit=5", "?q=tee&limit=0", "?q=tee&limit=101", "?q=tee&limit=x", "?q=tee&x=1"],
)
def test_bad_search_query_is_422(client: FlaskClient, headers: dict[str, str], query: str) -> None:
    body = error(client, f"{API}/search{query}", headers, 422, "invalid_query")
    assert body["details"] is None or set(body["details"]) == {"path"}


def test_search_q_longer_than_100_is_422(client: FlaskClient, headers: dict[str, str]) -> None:
    error(client, f"{API}/search?q={'a' * 101}", headers, 422, "invalid_query")
    ok(client, f"{API}/search?q={'a' * 100}", headers)


# ---- change feed -------------------------------------------------------------------------------


def test_changes_page_through_to_the_head(
    client: FlaskClient, headers: dict[str, str], catalog: Runtime
) -> None:
    since, seen = 0, []
    while True:
        body = ok(client, f"{API}/changes?since={since}&limit=2", headers)
        assert set(body) == {"changes", "next", "head"}
        assert len(body["changes"]) <= 2
        seen.extend(body["changes"])
        if body["next"] == body["head"]:
            break
        since = body["next"]
    assert body["head"] == queries.head(catalog.db)
    assert [c["version"] for c in seen] == sorted({c["version"] for c in seen})
    kinds = sorted(c["kind"] for c in seen)
    assert kinds == ["category"] * 3 + ["variant"] * 4
    assert {c["data"]["sku"] for c in seen if c["kind"] == "variant"} == {
        "TEE-M-RED",
        "TEE-L-RED",
        "MUG-1",
        "OLD-1",
    }
    assert all(c["id"] == c["data"]["id"] for c in seen)


def test_changes_defaults_to_everything(client: FlaskClient, headers: dict[str, str]) -> None:
    body = ok(client, f"{API}/changes", headers)
    assert len(body["changes"]) == 7
    assert body["next"] == body["head"] == 7


def test_changes_since_beyond_the_head(client: FlaskClient, headers: dict[str, str]) -> None:
    body = ok(client, f"{API}/changes?since=1000", headers)
    assert body == {"changes": [], "next": 7, "head": 7}


@pytest.mark.parametrize(
    "query", ["?since=-1", "?since=x", "?limit=0", "?limit=5001", "?since=1.5", "?since=2&x=1"]
)
def test_bad_changes_query_is_422(client: FlaskClient, headers: dict[str, str], query: str) -> None:
    error(client, f"{API}/changes{query}", headers, 422, "invalid_query")


# ---- barcodes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "sku"),
    [
        ("4006381333931", "TEE-M-RED"),
        ("036000291452", "TEE-L-RED"),
        ("0036000291452", "TEE-L-RED"),
        ("00036000291452", "TEE-L-RED"),
        ("TB-0001", "TEE-L-RED"),
        ("tb-0001", "TEE-L-RED"),
        ("96385074", "MUG-1"),
    ],
)
def test_barcode_lookup(client: FlaskClient, headers: dict[str, str], code: str, sku: str) -> None:
    doc = ok(client, f"{API}/barcodes/{code}", headers)
    assert doc["sku"] == sku
    assert doc["active"] is True
    assert "cost" not in doc


def test_barcode_lookup_finds_inactive_variants(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    doc = ok(client, f"{API}/barcodes/5901234123457", headers)
    assert doc["sku"] == "OLD-1"
    assert doc["active"] is False


@pytest.mark.parametrize("code", [UNKNOWN_EAN, "TB-9999", "123456"])
def test_unknown_barcode_is_404(client: FlaskClient, headers: dict[str, str], code: str) -> None:
    body = error(client, f"{API}/barcodes/{code}", headers, 404, "unknown_barcode")
    assert body["details"] == {"code": code}
    assert code in body["message"]


@pytest.mark.parametrize(
    "code", ["4006381333932", "036000291453", "96385075", "TB%200001", "TB%7C1", "A" * 49]
)
def test_bad_barcode_is_422(client: FlaskClient, headers: dict[str, str], code: str) -> None:
    body = error(client, f"{API}/barcodes/{code}", headers, 422, "bad_barcode")
    assert set(body["details"]) == {"code"}


def test_wrong_check_digit_message(client: FlaskClient, headers: dict[str, str]) -> None:
    body = error(client, f"{API}/barcodes/4006381333932", headers, 422, "bad_barcode")
    assert "check digit" in body["message"]
    assert body["details"] == {"code": "4006381333932"}


# ---- variants ----------------------------------------------------------------------------------


def test_variant_by_id(client: FlaskClient, headers: dict[str, str]) -> None:
    found = ok(client, f"{API}/barcodes/4006381333931", headers)
    doc = ok(client, f"{API}/variants/{found['id']}", headers)
    assert doc == found
    assert doc["title"] == "Classic Tee — M / Red"


def test_unknown_variant_is_404(client: FlaskClient, headers: dict[str, str]) -> None:
    body = error(client, f"{API}/variants/no-such-variant", headers, 404, "not_found")
    assert "no-such-variant" in body["message"]


# ---- authentication ----------------------------------------------------------------------------


CATALOG_URLS = [
    f"{API}/search?q=tee",
    f"{API}/changes",
    f"{API}/barcodes/4006381333931",
    f"{API}/variants/whatever",
]


@pytest.mark.parametrize("url", CATALOG_URLS)
def test_catalog_needs_a_token(client: FlaskClient, store: Store, url: str) -> None:
    error(client, url, {}, 401, "unauthorized")
    error(client, url, {"Authorization": "Bearer nonsense"}, 401, "bad_token")
    error(client, url, {"Authorization": "Basic abc"}, 401, "unauthorized")


@pytest.mark.parametrize("url", CATALOG_URLS[:3])
def test_a_paired_register_may_read_the_catalog(
    client: FlaskClient, store: Store, catalog: Runtime, url: str
) -> None:
    response = client.get(url, headers=store.bearer(store.device))
    assert response.status_code == 200


def test_an_ended_session_is_refused(client: FlaskClient, store: Store, catalog: Runtime) -> None:
    token = store.login("cashier")
    assert client.delete("/api/v1/sessions/current", headers=store.bearer(token)).status_code in (
        200,
        204,
    )
    error(client, f"{API}/search?q=tee", store.bearer(token), 401, "session_ended")


def test_unknown_catalog_path_is_404_in_the_error_shape(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    error(client, f"{API}/nothing-here", headers, 404, "not_found")
    error(client, f"{API}/barcodes/", headers, 404, "not_found")
    response = client.post(f"{API}/search?q=tee", headers=headers)
    assert response.status_code == 405
    assert set(response.get_json()) == {"error", "message", "details"}
