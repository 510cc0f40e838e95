"""Event and record identifiers: UUIDv7 in lowercase canonical form."""

from __future__ import annotations

import re

import uuid6

UUID7_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"

_UUID7 = re.compile(UUID7_RE)


def new_id() -> str:
    """Return a fresh UUIDv7 as a lowercase canonical 36-character string."""
    return str(uuid6.uuid7())


def is_uuid7(text: str) -> bool:
    """Tell whether text is a UUIDv7 in lowercase canonical form (the only form we store)."""
    raw: object = text
    return isinstance(raw, str) and _UUID7.fullmatch(raw) is not None
