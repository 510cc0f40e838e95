"""One-line text typed by people (names, reasons): no line breaks or control characters."""

from __future__ import annotations

import re

from appliance.errors import Invalid

# Shared by the API schemas (as a JSON Schema pattern) and the domain checks, so a request
# the schema accepts is never refused later for its text. C0 and C1 controls and the Unicode
# line and paragraph separators are out; at least one character must be visible.
_PLAIN = r"[^\u0000-\u001f\u007f-\u009f\u2028\u2029]"
_VISIBLE = r"[^\s\u0000-\u001f\u007f-\u009f\u2028\u2029]"
ONE_LINE_PATTERN = rf"^{_PLAIN}*{_VISIBLE}{_PLAIN}*$"
_ONE_LINE = re.compile(ONE_LINE_PATTERN)


def one_line(value: str, *, what: str, max_length: int, code: str = "invalid_text") -> str:
    """The text with surrounding spaces trimmed, or Invalid saying what is wrong with it."""
    if len(value) > max_length or not _ONE_LINE.match(value):
        raise Invalid(f"{what} must be 1–{max_length} characters on one line", code=code)
    return value.strip()
