"""RFC 8785 (JCS) canonical JSON and the SHA-256 digest the journal chain uses."""

from __future__ import annotations

import hashlib
from typing import Any, cast

import msgspec
import rfc8785

_MAX_INT = 2**53 - 1
_encode = msgspec.json.Encoder(order="sorted").encode


def _plain(value: object) -> bool:
    """True for a tree that json.dumps writes exactly as JCS would: no floats (JCS has its
    own number format), ASCII keys (JCS sorts by UTF-16 units), no lone surrogates, and
    integers JCS can carry."""
    if isinstance(value, str):
        return value.isascii() or not any(0xD800 <= ord(ch) <= 0xDFFF for ch in value)
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):
        return -_MAX_INT <= value <= _MAX_INT
    if isinstance(value, dict):
        return all(
            isinstance(key, str) and key.isascii() and _plain(item) for key, item in value.items()
        )
    if isinstance(value, list):
        return all(_plain(item) for item in value)
    return False


def canonical_json(obj: object) -> bytes:
    """Serialize a JSON value (dicts, lists, str, int, float, bool, None) as RFC 8785 bytes."""
    # Events are ints, strings and ASCII keys: for those msgspec's sorted, compact output is
    # byte-for-byte JCS (its string escaping is ECMAScript's) and fifty times faster than the
    # general algorithm; a property test holds the two equal. Anything else goes through
    # rfc8785, which raises CanonicalizationError (a ValueError) for what JCS cannot represent.
    if _plain(obj):
        return _encode(obj)
    return rfc8785.dumps(cast(Any, obj))


def sha256_hex(data: bytes) -> str:
    """Return the lowercase hex SHA-256 digest of data."""
    return hashlib.sha256(data).hexdigest()
