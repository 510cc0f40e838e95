"""Tests for protocol.schemas and the envelope JSON Schema it ships."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from protocol import envelope
from protocol.envelope import (
    EnvelopeError,
    decode_envelope,
    envelope_dict,
    seal,
    verify_hash,
)
from protocol.schemas import load_schema

OVERRIDE = {
    "id": "0193a6f0-0000-7000-8000-0000000000aa",
    "action": "price_override",
    "approver": "boss-1",
    "offline": False,
}


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    return Draft202012Validator(load_schema("envelope"))


def valid(**changes: Any) -> dict[str, Any]:
    """A sealed, valid envelope as a dict, with fields replaced after sealing."""
    data = envelope_dict(
        seal(
            id="0193a6f0-0000-7000-8000-000000000001",
            type="cash.moved",
            store="s01",
            origin="s01-r02",
            seq=2,
            hlc="1764081234567.0.s01-r02",
            at="2026-11-25T10:05:03.120Z",
            actor="staff-7",
            override=OVERRIDE,
            body={"kind": "pay_out", "amount": {"amount": 500, "currency": "EUR"}},
            prev="b" * 64,
        )
    )
    data.update(changes)
    return data


def test_load_schema_returns_a_valid_draft_2020_12_schema() -> None:
    schema = load_schema("envelope")
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert load_schema("envelope.json") == schema


def test_load_schema_returns_a_fresh_copy() -> None:
    first = load_schema("envelope")
    first["properties"].clear()
    assert load_schema("envelope")["properties"]


@pytest.mark.parametrize("name", ["nope", "../pyproject", "/etc/passwd", "", "Envelope", None])
def test_load_schema_rejects_unknown_names(name: Any) -> None:
    with pytest.raises(ValueError, match="schema"):
        load_schema(name)


def test_schema_uses_the_module_patterns_and_types() -> None:
    schema = load_schema("envelope")
    props = schema["properties"]
    assert props["store"]["pattern"] == envelope.STORE_RE
    assert props["origin"]["pattern"] == envelope.ORIGIN_RE
    assert props["actor"]["pattern"] == envelope.ACTOR_RE
    assert props["id"]["pattern"] == envelope.ID_RE
    assert props["hlc"]["pattern"] == envelope.HLC_RE
    assert props["at"]["pattern"] == envelope.AT_RE
    assert props["prev"]["pattern"] == envelope.HASH_RE
    assert props["hash"]["pattern"] == envelope.HASH_RE
    assert props["override"]["properties"]["id"]["pattern"] == envelope.ID_RE
    assert props["override"]["properties"]["approver"]["pattern"] == envelope.ACTOR_RE
    assert set(props["type"]["enum"]) == envelope.EVENT_TYPES
    assert props["v"]["const"] == envelope.ENVELOPE_VERSION
    assert props["seq"]["maximum"] == envelope.MAX_SEQ
    assert schema["required"] == list(props)
    assert list(props) == list(envelope.Envelope.__struct_fields__)
    assert schema["additionalProperties"] is False
    assert props["override"]["additionalProperties"] is False
    assert props["override"]["required"] == list(envelope.Override.__struct_fields__)


def test_schema_accepts_valid_envelopes(validator: Draft202012Validator) -> None:
    assert validator.is_valid(valid())
    assert validator.is_valid(valid(actor=None, override=None))
    assert validator.is_valid(valid(seq=1, prev=None))
    assert validator.is_valid(valid(origin="s01-ap", hlc="0.0.s01-ap"))


def _without(key: str) -> dict[str, Any]:
    data = valid()
    del data[key]
    return data


def _override(**changes: Any) -> dict[str, Any]:
    return valid(override={**OVERRIDE, **changes})


SCHEMA_INVALID: list[tuple[str, dict[str, Any]]] = [
    *[(field, _without(field)) for field in envelope.Envelope.__struct_fields__],
    ("extra", valid(extra=1)),
    ("v", valid(v=2)),
    ("v", valid(v="1")),
    ("id", valid(id="0193A6F0-0000-7000-8000-000000000001")),
    ("id", valid(id="c232ab00-9414-11ec-b3c8-9f6bdeced846")),
    ("type", valid(type="sale.refunded")),
    ("store", valid(store="S01")),
    ("store", valid(store="s")),
    ("store", valid(store="s0123456789abcdef")),
    ("origin", valid(origin="s01-r1")),
    ("origin", valid(origin="s01-r12345")),
    ("origin", valid(origin="s01-x")),
    ("seq", valid(seq=0)),
    ("seq", valid(seq=-4)),
    ("seq", valid(seq="2")),
    ("seq", valid(seq=2**53)),
    ("hlc", valid(hlc="1764081234567.0")),
    ("hlc", valid(hlc="01.0.s01-r02")),
    ("hlc", valid(hlc="1.123456.s01-r02")),
    ("hlc", valid(hlc="1.0.S01-R02")),
    ("hlc", valid(hlc="1.0.s01.r02")),
    ("at", valid(at="2026-11-25T10:05:03Z")),
    ("at", valid(at="2026-11-25T10:05:03.120+00:00")),
    ("actor", valid(actor="")),
    ("actor", valid(actor="Staff")),
    ("actor", valid(actor=7)),
    ("override", valid(override=[])),
    ("override", valid(override="boss")),
    ("override.id", _override(id="nope")),
    ("override.action", _override(action=None)),
    ("override.approver", _override(approver="Boss")),
    ("override.offline", _override(offline="false")),
    ("override.reason", _override(reason="x")),
    ("body", valid(body=[])),
    ("body", valid(body=None)),
    ("prev", valid(seq=1)),
    ("prev", valid(prev=None)),
    ("prev", valid(prev="abc")),
    ("hash", valid(hash="B" * 64)),
    ("hash", valid(hash=None)),
]


@pytest.mark.parametrize(("field", "data"), SCHEMA_INVALID)
def test_schema_and_decode_both_reject(
    validator: Draft202012Validator, field: str, data: dict[str, Any]
) -> None:
    assert not validator.is_valid(data)
    with pytest.raises(EnvelopeError) as info:
        decode_envelope(data)
    assert info.value.field == field


# Rules the schema cannot express; its description says decode_envelope enforces them.
DECODE_ONLY: list[tuple[str, dict[str, Any]]] = [
    ("hlc", valid(hlc="1764081234567.0.s01-r03")),
    ("hlc", valid(hlc="9999999999999999.0.s01-r02")),
    ("hlc", valid(hlc="1.99999.s01-r02")),
    ("origin", valid(store="s02")),
    ("at", valid(at="2026-02-30T10:05:03.120Z")),
    ("body.n", valid(body={"n": 2**60})),
    ("v", valid(v=1.0)),
]


@pytest.mark.parametrize(("field", "data"), DECODE_ONLY)
def test_rules_beyond_the_schema_are_enforced_by_decode(
    validator: Draft202012Validator, field: str, data: dict[str, Any]
) -> None:
    assert validator.is_valid(data)
    with pytest.raises(EnvelopeError) as info:
        decode_envelope(data)
    assert info.value.field == field


def test_description_lists_the_rules_beyond_the_schema() -> None:
    description = load_schema("envelope")["description"]
    for phrase in ("node of hlc", "origin belongs to store", "real calendar date", "RFC 8785"):
        assert phrase in description


def test_a_wrong_hash_passes_schema_and_decode_but_not_verify_hash(
    validator: Draft202012Validator,
) -> None:
    data = valid(hash="c" * 64)
    assert validator.is_valid(data)
    assert not verify_hash(decode_envelope(data))
