"""RFC 8785 (JCS) canonical JSON and the SHA-256 digest the journal chain uses."""

from __future__ import annotations

import hashlib
from typing import Any, cast

import rfc8785


def canonical_json(obj: object) -> bytes:
    """Serialize a JSON value (dicts, lists, str, int, float, bool, None) as RFC 8785 bytes."""
    # rfc8785 raises CanonicalizationError (a ValueError) for anything JCS cannot represent:
    # non-str keys, NaN, integers beyond 2**53 - 1, lone surrogates, other types.
    return rfc8785.dumps(cast(Any, obj))


def sha256_hex(data: bytes) -> str:
    """Return the lowercase hex SHA-256 digest of data."""
    return hashlib.sha256(data).hexdigest()
