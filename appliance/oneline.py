"""One-line text typed by people (names, reasons): no line breaks or control characters."""

from __future__ import annotations

import re

from appliance.errors import Invalid
from protocol.bodies import TEXT_RE

# Shared by the API schemas and event bodies (as a JSON Schema pattern) and the domain
# checks, so text a schema accepts is never refused later. C0 and C1 controls and the
# Unicode line and paragraph separators are out; at least one character must be visible.
ONE_LINE_PATTERN = TEXT_RE
_ONE_LINE = re.compile(ONE_LINE_PATTERN)


def one_line(value: str, *, what: str, max_length: int, code: str = "invalid_text") -> str:
    """The text with surrounding spaces trimmed, or Invalid saying what is wrong with it."""
    if len(value) > max_length or not _ONE_LINE.match(value):
        raise Invalid(f"{what} must be 1–{max_length} characters on one line", code=code)
    return value.strip()
