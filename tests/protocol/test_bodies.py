"""Event bodies: strict decoding, and the JSON Schema the PWA mirrors."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from protocol.bodies import BODY_TYPES, BodyError, body_schemas, decode_body
from protocol.envelope import EVENT_TYPES

SCHEMA = Path(__file__).resolve().parents[2] / "protocol" / "schemas" / "bodies.json"
ID = "01a21413-8c88-7109-b9e3-4eeb55c608bb"

SALE = {
    "receipt": "s01-r02-000017",
    "shift": ID,
    "catalog_version": 7,
    "currency": "EUR",
    "lines": [{"line": 1, "variant": ID, "qty": 2, "unit_price": 1299}],
    "tenders": [{"kind": "cash", "amount": 2598, "tendered": 3000}],
    "totals": {"subtotal": 2598, "discount": 0, "tax": 433, "total": 2598},
}


def test_every_event_type_has_a_body() -> None:
    assert set(BODY_TYPES) == set(EVENT_TYPES)


def test_the_committed_schema_is_the_generated_one() -> None:
    """protocol/schemas/bodies.json is what the PWA mirrors; after changing protocol/bodies.py
    run `.venv/bin/python scripts/generate_schemas.py`."""
    assert json.loads(SCHEMA.read_text(encoding="utf-8")) == json.loads(json.dumps(body_schemas()))


def test_a_sale_decodes() -> None:
    sale = decode_body("sale.completed", SALE)
    assert sale.lines[0].qty == 2  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"lines": [{"line": 1, "variant": ID, "qty": -1, "unit_price": 1}]}, "$.lines[0].qty"),
        ({"lines": [{"line": 1, "variant": ID, "qty": 0, "unit_price": 1}]}, "$.lines[0].qty"),
        ({"lines": []}, "$.lines"),
        ({"receipt": "S01-R02-17"}, "$.receipt"),
        ({"tenders": [{"kind": "cheque", "amount": 1}]}, "$.tenders[0].kind"),
        ({"tenders": [{"kind": "cash", "amount": 0}]}, "$.tenders[0].amount"),
        ({"extra": 1}, None),
        ({"totals": {"subtotal": 1, "discount": 0, "tax": 0, "total": "1"}}, "$.totals.total"),
    ],
)
def test_bad_bodies_say_where(change: dict[str, object], path: str | None) -> None:
    with pytest.raises(BodyError) as refused:
        decode_body("sale.completed", {**SALE, **change})
    assert refused.value.path == path or (path is None and "extra" in str(refused.value))


def test_the_schema_agrees_with_decoding() -> None:
    """What decodes validates against the schema, and what the schema refuses, decoding refuses."""
    schema = body_schemas()
    validator = jsonschema.Draft202012Validator({**schema, "$ref": "#/properties/sale.completed"})
    validator.validate(SALE)
    for bad in ({**SALE, "lines": []}, {**SALE, "extra": 1}, {**SALE, "currency": "eur"}):
        assert not validator.is_valid(bad)
        with pytest.raises(BodyError):
            decode_body("sale.completed", bad)
