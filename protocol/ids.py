"""Event and record identifiers: UUIDv7 in lowercase canonical form."""

from __future__ import annotations

import re

import uuid_utils

UUID7_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"

_UUID7 = re.compile(UUID7_RE)


def new_id() -> str:
    """Return a fresh UUIDv7 as a lowercase canonical 36-character string.

    uuid_utils keeps ids strictly increasing within a process with a counter inside the
    millisecond, so a burst (a 100,000-row import) neither collides nor runs its
    timestamps ahead of the real clock.
    """
    return str(uuid_utils.uuid7())


def is_uuid7(text: str) -> bool:
    """Tell whether text is a UUIDv7 in lowercase canonical form (the only form we store)."""
    raw: object = text
    return isinstance(raw, str) and _UUID7.fullmatch(raw) is not None
