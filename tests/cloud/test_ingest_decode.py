"""cloud.ingest.decode_batch's fast path accepts and refuses exactly what the general one does,
with the same envelopes, bodies and hash verdicts (no database needed)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.ingest import Batch, Poison, _decode_any, _plain_payload, decode_batch
from protocol.envelope import envelope_dict, verify_hash
from protocol.ids import new_id
from tests.cloud.batches import offline_till, received


def _sale_envelopes() -> list[dict[str, Any]]:
    till = offline_till()
    variant = new_id()
    shift = new_id()
    events = [received(till, variant, 5)]
    till.wall.advance(1)
    events.append(
        till.event(
            "sale.completed",
            {
                "receipt": "s01-r01-000001",
                "shift": shift,
                "catalog_version": 3,
                "currency": "EUR",
                "lines": [
                    {"line": 1, "variant": variant, "qty": 2, "unit_price": 1250},
                    {
                        "line": 2,
                        "variant": variant,
                        "qty": 1500,
                        "qty_scale": 1000,
                        "unit_price": 399,
                        "discount": {"kind": "percent", "value": 1000},
                    },
                ],
                "tenders": [{"kind": "cash", "amount": 3000, "tendered": 5000}],
                "totals": {"subtotal": 3099, "discount": 60, "tax": 500, "total": 3039},
            },
        )
    )
    return [envelope_dict(env) for env in events]


def _payload(events: list[Any], *, first: int = 1, style: str = "compact") -> bytes:
    frame = {"from": first, "to": first + len(events) - 1, "events": events}
    if style == "compact":
        return msgspec.json.encode(frame)
    if style == "indented":
        return json.dumps(frame, indent=2, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return json.dumps(frame).encode()  # spaces after ":" and ",", non-ASCII as \u escapes


def _outcome(decode: Any, payload: bytes) -> tuple[str, Any]:
    try:
        batch: Batch = decode("s01", payload)
    except Poison as exc:
        return "poison", (exc.kind, exc.reason)
    return "batch", (
        batch.first,
        batch.last,
        [
            (item.store_seq, item.envelope, item.body, item.hlc, item.hash_matches())
            for item in batch.items
        ],
    )


def _same(payload: bytes) -> tuple[str, Any]:
    fast, slow = _outcome(decode_batch, payload), _outcome(_decode_any, payload)
    assert fast == slow
    return fast


def test_a_plain_batch_takes_the_fast_path_and_matches_the_general_one() -> None:
    payload = _payload(_sale_envelopes())
    assert _plain_payload(payload)
    batch = decode_batch("s01", payload)
    assert all(item.content is not None and item.text is not None for item in batch.items)
    assert all(item.hash_matches() and verify_hash(item.envelope) for item in batch.items)
    assert [msgspec.json.decode(item.text or "") for item in batch.items] == [
        envelope_dict(item.envelope) for item in batch.items
    ]
    kind, _ = _same(payload)
    assert kind == "batch"


@pytest.mark.parametrize("style", ["compact", "indented", "escaped"])
def test_a_tampered_body_fails_its_hash_on_both_paths(style: str) -> None:
    events = _sale_envelopes()
    events[1]["body"]["totals"]["total"] = 1
    kind, (_, _, items) = _same(_payload(events, style=style))
    assert kind == "batch"
    assert [item[-1] for item in items] == [True, False]


@pytest.mark.parametrize(
    ("payload", "plain"),
    [
        (b'{"a": 12345678901234567}', False),
        (b'{"a":[1,-1234567890123456]}', False),
        (b'{"a":\n\t1234567890123456}', False),
        (b'{"a":123456789012345}', True),
        (b'{"h":"a1234567890123456789b"}', True),
        (b'{"t":"caf\\u00e9"}', False),
        ('{"t":"café"}'.encode(), False),
    ],
)
def test_what_the_fast_path_leaves_to_the_general_one(payload: bytes, plain: bool) -> None:
    assert _plain_payload(payload) is plain


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.sampled_from([2**53 - 1, 2**53, 2**53 + 1, -(2**53) - 1, 10**15, 10**16, 10**19])
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
_PATHS = [
    ("body", "catalog_version"),
    ("body", "receipt"),
    ("body", "lines", 0, "qty"),
    ("body", "lines", 1, "discount"),
    ("body", "totals"),
    ("body", "extra"),
    ("body",),
    ("seq",),
    ("hlc",),
    ("store",),
    ("origin",),
    ("override",),
    ("actor",),
    ("prev",),
    ("hash",),
    ("v",),
]


@settings(max_examples=300, deadline=None)
@given(
    path=st.sampled_from(_PATHS),
    value=_json_values,
    drop=st.booleans(),
    style=st.sampled_from(["compact", "indented", "escaped"]),
)
def test_any_change_to_an_envelope_is_judged_alike_on_both_paths(
    path: tuple[Any, ...], value: Any, drop: bool, style: str
) -> None:
    events = _sale_envelopes()
    target: Any = events[1]
    for step in path[:-1]:
        target = target[step]
    if drop and isinstance(target, dict):
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value
    try:
        payload = _payload(events, style=style)
    except (UnicodeEncodeError, msgspec.EncodeError):
        return
    _same(payload)


@pytest.mark.parametrize("style", ["compact", "indented", "escaped"])
@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("body", "catalog_version"), 2**53 + 1),
        (("body", "catalog_version"), 2**53 - 1),
        (("body", "catalog_version"), 1.0),
        (("body", "lines", 1, "discount", "reason"), "\ud800 lone"),
        (("body", "lines", 1, "discount", "reason"), "Größe 38"),
        (("body", "lines", 1, "discount", "reason"), "tab\there"),
        (("body", "lines", 1, "discount", "reason"), "no. 12345678901234567"),
        (("body", "totals", "tax"), 10**16),
        (("seq",), 2**53),
        (("seq",), True),
        (("seq",), 1),
        (("v",), True),
        (("v",), 1.0),
        (("v",), 2),
        (("actor",), "staff-ü"),
        (("actor",), "staff-7\n"),
        (("id",), "01a216d0-9dbb-7104-bd71-0f0d0efc1700\n"),
        (("hash",), "0" * 64 + "\n"),
        (("prev",), None),
        (("type",), "sale.refunded"),
        (("store",), "s02"),
        (("origin",), "s01-r99"),
        (("origin",), "s02-r01"),
        (("hlc",), "1795000000000:0:s01-r02"),
        (("hlc",), "garbage"),
        (("at",), "2026-02-30T10:00:00.000Z"),
        (("at",), "2026-11-25T10:05:03.120Z\n"),
        (
            ("override",),
            {
                "id": "01a216d0-9dbb-7104-bd71-0f0d0efc1700",
                "action": "discount",
                "approver": "staff-9",
                "offline": False,
            },
        ),
        (
            ("override",),
            {
                "id": "01a216d0-9dbb-7104-bd71-0f0d0efc1700",
                "action": "discount",
                "approver": "staff-9",
                "offline": "no",
            },
        ),
        (
            ("override",),
            {
                "id": "01a216d0-9dbb-7104-bd71-0f0d0efc1700",
                "action": "discount",
                "approver": "staff-9",
                "offline": True,
                "extra": 1,
            },
        ),
        (("override",), []),
        (("body",), []),
    ],
)
def test_values_at_the_edges_are_judged_alike_on_both_paths(
    path: tuple[Any, ...], value: Any, style: str
) -> None:
    events = _sale_envelopes()
    target: Any = events[1]
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    try:
        payload = _payload(events, style=style)
    except (UnicodeEncodeError, msgspec.EncodeError):
        return
    _same(payload)


@pytest.mark.parametrize(
    "frame",
    [
        {"from": 1, "to": 2},
        {"from": 1, "to": 2, "events": [], "extra": 1},
        {"from": True, "to": 2, "events": None},
        {"from": 0, "to": 1, "events": None},
        {"from": 1.0, "to": 2.0, "events": None},
        {"from": 1, "to": 3, "events": None},
        {"from": 1, "to": 2, "events": "x"},
    ],
)
def test_a_bad_frame_is_refused_alike(frame: dict[str, Any]) -> None:
    if frame.get("events", 0) is None:
        frame["events"] = _sale_envelopes()
    assert _same(msgspec.json.encode(frame))[0] == "poison"


def test_another_stores_envelope_is_refused_alike_on_the_fast_path() -> None:
    till = offline_till(store="s02", origin="s02-r01")
    payload = _payload([envelope_dict(received(till, new_id(), 1))])
    assert _plain_payload(payload)
    kind, (problem, _) = _same(payload)
    assert (kind, problem) == ("poison", "wrong_store")
