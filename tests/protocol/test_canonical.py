"""Tests for protocol.canonical: RFC 8785 canonical JSON and SHA-256."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from protocol.canonical import canonical_json, sha256_hex

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=25,
)


def test_rfc8785_examples() -> None:
    assert canonical_json({"b": 1, "a": [1.0, "x", None, True]}) == b'{"a":[1,"x",null,true],"b":1}'
    assert (
        canonical_json({"n": 1e21, "m": 0.000001, "z": -0.0}) == b'{"m":0.000001,"n":1e+21,"z":0}'
    )
    # Keys sort by UTF-16 code units and non-ASCII text stays raw UTF-8.
    assert canonical_json({"é": 1, "z": 2, "\U0001f600": 3}) == (
        '{"z":2,"é":1,"\U0001f600":3}'.encode()
    )
    assert canonical_json("line\nbreak\u001f") == b'"line\\nbreak\\u001f"'


@given(st.dictionaries(st.text(max_size=6), json_values, min_size=1, max_size=8), st.randoms())
def test_key_order_does_not_change_the_bytes(obj: dict[str, Any], rnd: Any) -> None:
    items = list(obj.items())
    rnd.shuffle(items)
    assert canonical_json(dict(items)) == canonical_json(obj)


def _same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values: a large float may come back as the integer it is."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    numbers = [x for x in (a, b) if isinstance(x, int | float) and not isinstance(x, bool)]
    if len(numbers) == 2 and float in (type(a), type(b)):
        return float(a) == float(b)
    return type(a) is type(b) and a == b


@given(json_values)
def test_canonical_json_is_json_of_the_same_value(value: Any) -> None:
    assert _same_json(json.loads(canonical_json(value)), value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (math.nan, "not representable"),
        (math.inf, "not representable"),
        (2**53, "exceeds safe integer"),
        (-(2**53), "exceeds safe integer"),
        ({1: "x"}, "keys must be strings"),
        ("\ud800", "non-UTF-8"),
        ({1, 2}, "unsupported type"),
        (b"raw", "unsupported type"),
        (object(), "unsupported type"),
    ],
)
def test_values_outside_jcs_raise_value_error(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        canonical_json(value)


def test_sha256_hex() -> None:
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert sha256_hex(b"") == empty
    assert sha256_hex(b"abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


_json_trees = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=25,
)


@given(_json_trees)
def test_the_fast_path_is_byte_for_byte_jcs(value: object) -> None:
    """Events take the standard library's sorted, compact output; it must be exactly JCS,
    including non-ASCII text, control characters and (via the fallback) non-ASCII keys."""
    assert canonical_json(value) == rfc8785.dumps(value)
