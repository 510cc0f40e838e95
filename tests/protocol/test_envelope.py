"""Tests for protocol.envelope: decoding, sealing, the hash chain and the `at` format."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from protocol.canonical import canonical_json
from protocol.envelope import (
    ACTOR_RE,
    AT_RE,
    EVENT_TYPES,
    HASH_RE,
    ID_RE,
    MAX_BODY_DEPTH,
    MAX_SEQ,
    Envelope,
    EnvelopeError,
    Override,
    content_hash,
    decode_envelope,
    encode_envelope,
    envelope_dict,
    format_at,
    parse_at,
    seal,
    verify_hash,
    verify_link,
)
from protocol.hlc import HLC, MAX_COUNTER, MAX_WALL_MS
from protocol.ids import new_id
from protocol.schemas import load_schema

FIELDS = (
    "v",
    "id",
    "type",
    "store",
    "origin",
    "seq",
    "hlc",
    "at",
    "actor",
    "override",
    "body",
    "prev",
    "hash",
)
VALIDATOR = Draft202012Validator(load_schema("envelope"))
EARLIEST_MS = parse_at("0001-01-01T00:00:00.000Z")
LATEST_MS = parse_at("9999-12-31T23:59:59.999Z")

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=4)
hashes = st.binary(min_size=32, max_size=32).map(bytes.hex)
uuid7s = st.from_regex(ID_RE, fullmatch=True)
actors = st.from_regex(ACTOR_RE, fullmatch=True)
overrides = st.builds(
    Override, id=uuid7s, action=st.text(max_size=30), approver=actors, offline=st.booleans()
)


@st.composite
def sealed(draw: st.DrawFn) -> Envelope:
    """Any envelope that the protocol accepts, sealed with its hash."""
    store = draw(st.from_regex(r"[a-z][a-z0-9]{1,15}", fullmatch=True))
    origin = f"{store}-{draw(st.just('ap') | st.from_regex(r'r[0-9]{2,4}', fullmatch=True))}"
    seq = draw(st.integers(1, MAX_SEQ))
    return seal(
        id=draw(uuid7s),
        type=draw(st.sampled_from(sorted(EVENT_TYPES))),
        store=store,
        origin=origin,
        seq=seq,
        hlc=HLC(draw(st.integers(0, MAX_WALL_MS)), draw(st.integers(0, MAX_COUNTER)), origin),
        at=format_at(draw(st.integers(EARLIEST_MS, LATEST_MS))),
        actor=draw(st.none() | actors),
        override=draw(st.none() | overrides),
        body=draw(json_objects),
        prev=None if seq == 1 else draw(hashes),
    )


def example(**changes: Any) -> Envelope:
    """A fixed, valid sale; keyword arguments replace fields before sealing."""
    fields: dict[str, Any] = {
        "id": "0193a6f0-0000-7000-8000-000000000001",
        "type": "sale.completed",
        "store": "s01",
        "origin": "s01-r02",
        "seq": 17,
        "hlc": "1764081234567.3.s01-r02",
        "at": "2026-11-25T10:05:03.120Z",
        "actor": "staff-7",
        "override": None,
        "body": {
            "lines": [{"sku": "X", "qty": 2, "unit_price": {"amount": 1299, "currency": "EUR"}}],
            "note": "café",
        },
        "prev": "a" * 64,
    }
    fields.update(changes)
    return seal(**fields)


def valid_dict(**changes: Any) -> dict[str, Any]:
    """The example as a plain dict, with top-level fields replaced after sealing."""
    data = envelope_dict(example())
    data.update(changes)
    return data


def test_golden_vector() -> None:
    """The PWA and the cloud must reproduce these bytes and this hash exactly."""
    env = example()
    unsealed = envelope_dict(env)
    del unsealed["hash"]
    assert canonical_json(unsealed) == (
        b'{"actor":"staff-7","at":"2026-11-25T10:05:03.120Z","body":{"lines":[{"qty":2,'
        b'"sku":"X","unit_price":{"amount":1299,"currency":"EUR"}}],"note":"caf\xc3\xa9"},'
        b'"hlc":"1764081234567.3.s01-r02","id":"0193a6f0-0000-7000-8000-000000000001",'
        b'"origin":"s01-r02","override":null,"prev":"' + b"a" * 64 + b'","seq":17,'
        b'"store":"s01","type":"sale.completed","v":1}'
    )
    assert env.v == 1
    assert env.hash == "92438a9a66e4691f47a799821592ac720361f47caafc80fd670dc3f364bddbf5"
    assert content_hash(unsealed) == env.hash
    assert verify_hash(env)


@given(sealed())
def test_sealed_envelopes_verify_and_round_trip(env: Envelope) -> None:
    assert verify_hash(env)
    assert decode_envelope(encode_envelope(env)) == env
    assert decode_envelope(envelope_dict(env)) == env
    assert list(envelope_dict(env)) == list(FIELDS)
    assert json.loads(encode_envelope(env)) == envelope_dict(env)


@given(sealed())
@settings(max_examples=50)
def test_schema_accepts_every_envelope_decode_accepts(env: Envelope) -> None:
    data = json.loads(encode_envelope(env))
    errors = [error.message for error in VALIDATOR.iter_errors(data)]
    assert errors == []


def _tampered(env: Envelope, field: str) -> Envelope:
    other_override = Override(id=new_id(), action="no_sale", approver="boss", offline=False)
    changes: dict[str, Any] = {
        "v": 2,
        "id": new_id(),
        "type": "sale.voided" if env.type != "sale.voided" else "sale.completed",
        "store": env.store + "x",
        "origin": env.origin + "0",
        "seq": env.seq + 1,
        "hlc": str(HLC.parse(env.hlc).key()[0] + 1) + env.hlc[env.hlc.index(".") :],
        "at": format_at(parse_at(env.at) + 1) if env.at != format_at(LATEST_MS) else env.at[:-2],
        "actor": None if env.actor is not None else "staff-1",
        "override": None if env.override is not None else other_override,
        "body": {**env.body, "tampered": True},
        "prev": "f" * 64 if env.prev != "f" * 64 else None,
        "hash": "0" * 64 if env.hash != "0" * 64 else "1" * 64,
    }
    return msgspec.structs.replace(env, **{field: changes[field]})


@given(sealed(), st.sampled_from(FIELDS))
def test_any_single_field_tamper_breaks_the_hash(env: Envelope, field: str) -> None:
    tampered = _tampered(env, field)
    assert getattr(tampered, field) != getattr(env, field)
    assert not verify_hash(tampered)


def test_tampering_inside_the_body_or_override_breaks_the_hash() -> None:
    override = Override(id=new_id(), action="price_override", approver="boss-1", offline=True)
    env = example(override=override)
    assert verify_hash(env)
    body = copy.deepcopy(env.body)
    body["lines"][0]["qty"] = 3
    assert not verify_hash(msgspec.structs.replace(env, body=body))
    forged = msgspec.structs.replace(override, offline=False)
    assert not verify_hash(msgspec.structs.replace(env, override=forged))


def test_content_hash_ignores_the_hash_key_and_key_order() -> None:
    data = envelope_dict(example())
    without = {key: value for key, value in reversed(data.items()) if key != "hash"}
    assert content_hash(data) == content_hash(without) == data["hash"]
    assert content_hash({**data, "hash": "whatever"}) == data["hash"]


def test_chain_of_fifty_events_links() -> None:
    chain: list[Envelope] = []
    previous: str | None = None
    for seq in range(1, 51):
        env = example(seq=seq, id=new_id(), hlc=f"{1_000 + seq}.0.s01-r02", prev=previous)
        chain.append(env)
        previous = env.hash
    for index, env in enumerate(chain):
        before = chain[index - 1].hash if index else None
        assert verify_hash(env)
        assert verify_link(before, env)
    assert len({env.hash for env in chain}) == 50
    # Reordering, skipping or inserting a foreign event breaks the links.
    assert not verify_link(chain[1].hash, chain[1])
    assert not verify_link(chain[2].hash, chain[4])
    assert not verify_link(None, chain[3])
    assert not verify_link(chain[0].hash, chain[0])
    assert not verify_link(example().hash, chain[10])


def test_verify_link_first_event() -> None:
    first = example(seq=1, prev=None)
    assert verify_link(None, first)
    assert not verify_link("a" * 64, first)


def test_seal_accepts_hlc_and_override_objects_and_copies_the_body() -> None:
    override = Override(id=new_id(), action="price_override", approver="boss-1", offline=False)
    body: dict[str, Any] = {"lines": [1, 2]}
    env = example(hlc=HLC(5, 0, "s01-r02"), override=override, body=body)
    assert env.hlc == "5.0.s01-r02"
    assert env.override == override
    body["lines"].append(3)
    assert env.body == {"lines": [1, 2]}
    assert verify_hash(env)
    as_mapping = example(override=msgspec.to_builtins(override))
    assert as_mapping.override == override


def test_seal_validates_like_decode() -> None:
    with pytest.raises(EnvelopeError) as info:
        example(store="S01")
    assert info.value.field == "store"
    with pytest.raises(EnvelopeError) as info:
        example(hlc="1.0.s01-r03")
    assert info.value.field == "hlc"


def test_envelope_error_carries_field_and_reason() -> None:
    with pytest.raises(EnvelopeError) as info:
        decode_envelope(valid_dict(seq=0))
    error = info.value
    assert isinstance(error, ValueError)
    assert error.field == "seq"
    assert "between 1 and" in error.reason
    assert str(error) == f"seq: {error.reason}"


BAD_FIELDS: list[tuple[str, dict[str, Any]]] = [
    ("v", {"v": 2}),
    ("v", {"v": True}),
    ("v", {"v": 1.0}),
    ("v", {"v": "1"}),
    ("id", {"id": "0193A6F0-0000-7000-8000-000000000001"}),
    ("id", {"id": "c232ab00-9414-11ec-b3c8-9f6bdeced846"}),
    ("id", {"id": 7}),
    ("type", {"type": "sale.refunded"}),
    ("type", {"type": None}),
    ("store", {"store": "S01"}),
    ("store", {"store": "s"}),
    ("store", {"store": "1s"}),
    ("store", {"store": "s01\n"}),
    ("origin", {"origin": "s01-r1"}),
    ("origin", {"origin": "s01-r12345"}),
    ("origin", {"origin": "s01-pos"}),
    ("origin", {"origin": "s02-r02", "hlc": "1.0.s02-r02"}),
    ("seq", {"seq": 0}),
    ("seq", {"seq": -1}),
    ("seq", {"seq": 2**53}),
    ("seq", {"seq": True}),
    ("seq", {"seq": 17.0}),
    ("seq", {"seq": "17"}),
    ("hlc", {"hlc": "1764081234567.3.s01-r03"}),
    ("hlc", {"hlc": "1764081234567.3"}),
    ("hlc", {"hlc": "01.3.s01-r02"}),
    ("hlc", {"hlc": 1764081234567}),
    ("at", {"at": "2026-02-30T10:05:03.120Z"}),
    ("at", {"at": "2026-11-25T24:00:00.000Z"}),
    ("at", {"at": "2026-11-25T10:05:03Z"}),
    ("at", {"at": "2026-11-25T10:05:03.120+00:00"}),
    ("at", {"at": "2026-11-25 10:05:03.120Z"}),
    ("at", {"at": 1764081234567}),
    ("actor", {"actor": ""}),
    ("actor", {"actor": "Staff-7"}),
    ("actor", {"actor": "-staff"}),
    ("actor", {"actor": 7}),
    ("override", {"override": []}),
    ("override", {"override": "boss"}),
    ("override.id", {"override": {"id": "x", "action": "a", "approver": "b", "offline": True}}),
    ("override.action", {"override": {"id": new_id(), "action": 1, "approver": "b", "offline": 1}}),
    (
        "override.approver",
        {"override": {"id": new_id(), "action": "a", "approver": "B", "offline": True}},
    ),
    ("override.offline", {"override": {"id": new_id(), "action": "a", "approver": "b"}}),
    (
        "override.offline",
        {"override": {"id": new_id(), "action": "a", "approver": "b", "offline": "yes"}},
    ),
    (
        "override.reason",
        {
            "override": {
                "id": new_id(),
                "action": "a",
                "approver": "b",
                "offline": True,
                "reason": "x",
            }
        },
    ),
    ("body", {"body": []}),
    ("body", {"body": None}),
    ("body", {"body": "{}"}),
    ("body.n", {"body": {"n": 2**53}}),
    ("body.a.0", {"body": {"a": [float("nan")]}}),
    ("body.x", {"body": {"x": float("inf")}}),
    ("body.s", {"body": {"s": {1, 2}}}),
    ("body.b", {"body": {"b": b"bytes"}}),
    ("body", {"body": {1: "non-string key"}}),
    ("body.t", {"body": {"t": "\ud800"}}),
    ("prev", {"prev": None}),
    ("prev", {"prev": "A" * 64}),
    ("prev", {"prev": "a" * 63}),
    ("prev", {"seq": 1}),
    ("hash", {"hash": "A" * 64}),
    ("hash", {"hash": None}),
    ("unexpected", {"unexpected": 1}),
    ("store_seq", {"store_seq": 5}),
]


@pytest.mark.parametrize(("field", "changes"), BAD_FIELDS)
def test_decode_names_the_field_that_broke_a_rule(field: str, changes: dict[str, Any]) -> None:
    with pytest.raises(EnvelopeError) as info:
        decode_envelope(valid_dict(**changes))
    assert info.value.field == field


@pytest.mark.parametrize("field", FIELDS)
def test_every_field_is_required(field: str) -> None:
    data = valid_dict()
    del data[field]
    with pytest.raises(EnvelopeError) as info:
        decode_envelope(data)
    assert info.value.field == field
    assert info.value.reason == "missing"


def test_nullable_fields_accept_null() -> None:
    env = decode_envelope(valid_dict(actor=None, override=None))
    assert env.actor is None
    assert env.override is None
    first = example(seq=1, prev=None)
    assert decode_envelope(encode_envelope(first)) == first


def test_origin_may_be_the_appliance_and_registers_have_two_to_four_digits() -> None:
    for origin in ("s01-ap", "s01-r01", "s01-r9999"):
        assert example(origin=origin, hlc=f"1.0.{origin}").origin == origin


def test_body_nesting_is_bounded() -> None:
    deep: Any = "leaf"
    for _ in range(MAX_BODY_DEPTH):
        deep = [deep]
    decode_envelope(valid_dict(body={"d": deep[0]}))
    with pytest.raises(EnvelopeError) as info:
        decode_envelope(valid_dict(body={"d": deep}))
    assert info.value.field.startswith("body.d")


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"v": 1,',
        b"\xff\xfe",
        b"[]",
        b"null",
        b"17",
        b'"\\ud800"',
        bytearray(b"{}"),
        None,
        17,
        ["v", 1],
    ],
)
def test_decode_rejects_non_envelopes(raw: Any) -> None:
    with pytest.raises(EnvelopeError) as info:
        decode_envelope(raw)
    assert info.value.field in {"", *FIELDS}


def test_decode_of_bytes_names_the_field() -> None:
    raw = encode_envelope(example()).replace(b'"s01"', b'"S01"')
    with pytest.raises(EnvelopeError) as info:
        decode_envelope(raw)
    assert info.value.field == "store"


@given(st.binary(max_size=200))
def test_decode_of_random_bytes_raises_only_envelope_error(raw: bytes) -> None:
    with pytest.raises(EnvelopeError):
        decode_envelope(raw)


@given(json_values)
def test_decode_of_random_json_raises_only_envelope_error(value: Any) -> None:
    for raw in (value, msgspec.json.encode(value)):
        with pytest.raises(EnvelopeError):
            decode_envelope(raw)


@given(st.fixed_dictionaries(dict.fromkeys(FIELDS, json_values)))
def test_decode_of_random_field_values_raises_only_envelope_error(data: dict[str, Any]) -> None:
    try:
        env = decode_envelope(data)
    except EnvelopeError as error:
        rejected = error.field
    else:
        assert VALIDATOR.is_valid(envelope_dict(env))
        return
    assert rejected.split(".")[0] in FIELDS


mutations = st.one_of(
    st.tuples(st.just("set"), st.sampled_from((*FIELDS, "extra")), json_values),
    st.tuples(st.just("delete"), st.sampled_from(FIELDS), st.none()),
    st.tuples(
        st.just("override"), st.sampled_from(("id", "action", "approver", "offline")), json_values
    ),
    st.tuples(st.just("body"), st.text(max_size=4), json_values),
)


@given(sealed(), st.lists(mutations, min_size=1, max_size=3))
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_envelopes_raise_only_envelope_error_and_agree_with_the_schema(
    env: Envelope, changes: list[tuple[str, str, Any]]
) -> None:
    data = envelope_dict(env)
    for kind, key, value in changes:
        if kind == "set":
            data[key] = value
        elif kind == "delete":
            data.pop(key, None)
        elif kind == "override":
            current = data.get("override")
            data["override"] = {**(current if isinstance(current, dict) else {}), key: value}
        elif isinstance(data.get("body"), dict):
            data["body"][key] = value
    outcomes: list[Envelope | str] = []
    for raw in (data, msgspec.json.encode(data)):
        try:
            decoded = decode_envelope(raw)
        except EnvelopeError as error:
            outcomes.append(error.field)
            continue
        outcomes.append(decoded)
        # Whatever decode accepts, the schema the PWA mirrors accepts too.
        assert VALIDATOR.is_valid(json.loads(msgspec.json.encode(data)))
        assert decode_envelope(encode_envelope(decoded)) == decoded
    # A decoded mapping and its JSON bytes get the same verdict.
    assert outcomes[0] == outcomes[1]


def test_decode_never_returns_shared_mutable_state() -> None:
    data = valid_dict()
    env = decode_envelope(data)
    data["body"]["note"] = "changed"
    assert env.body["note"] == "café"
    assert verify_hash(env)


class _Key(str):
    """A str subclass, as an enum or a framework might hand over."""


def test_decode_keeps_plain_strings() -> None:
    env = decode_envelope(valid_dict(type=_Key("sale.completed"), body={_Key("k"): _Key("v")}))
    assert type(env.type) is str
    assert [type(key) for key in env.body] == [str]
    assert type(env.body["k"]) is str


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1764081234567, "2025-11-25T14:33:54.567Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (951782400000, "2000-02-29T00:00:00.000Z"),
        (EARLIEST_MS, "0001-01-01T00:00:00.000Z"),
        (LATEST_MS, "9999-12-31T23:59:59.999Z"),
    ],
)
def test_format_and_parse_at_examples(ms: int, text: str) -> None:
    assert format_at(ms) == text
    assert parse_at(text) == ms


@given(st.integers(EARLIEST_MS, LATEST_MS))
def test_at_round_trip(ms: int) -> None:
    text = format_at(ms)
    assert re.fullmatch(AT_RE, text)
    assert parse_at(text) == ms


@pytest.mark.parametrize("ms", [EARLIEST_MS - 1, LATEST_MS + 1, 10**20, True, 1.5, "0"])
def test_format_at_rejects_out_of_range_and_non_ints(ms: Any) -> None:
    with pytest.raises(ValueError, match=r"int of milliseconds|outside years"):
        format_at(ms)


@pytest.mark.parametrize(
    "text",
    [
        "2026-02-29T00:00:00.000Z",
        "2026-13-01T00:00:00.000Z",
        "2026-11-25T10:60:00.000Z",
        "2026-11-25T10:05:60.000Z",
        "0000-01-01T00:00:00.000Z",
        "2026-11-25T10:05:03.120z",
        "2026-11-25T10:05:03.1200Z",
        "\u0662026-11-25T10:05:03.120Z",
        "2026-11-25T10:05:03.120Z\n",
        "",
    ],
)
def test_parse_at_rejects_malformed(text: str) -> None:
    with pytest.raises(ValueError, match=r"must look like|not a real UTC date"):
        parse_at(text)


def test_hash_pattern_is_sha256_hex() -> None:
    assert HASH_RE == "^[0-9a-f]{64}$"
