"""CSV cells that a spreadsheet shows as written (no formula injection)."""

from __future__ import annotations

from typing import Any

# A text cell a spreadsheet would take for a formula (OWASP's list, with tab and CR).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str | int:
    """A CSV cell that a spreadsheet shows as written: text starting like a formula gets a
    leading apostrophe. Whole numbers are written as numbers, never as text, so a negative
    one stays a number."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text
