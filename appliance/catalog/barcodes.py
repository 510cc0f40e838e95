"""Barcodes: GS1 GTINs (check digit verified, normalised to 14 digits) and internal codes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from stdnum import ean

GTIN_LENGTHS = frozenset({8, 12, 13, 14})
# Internal codes: printable ASCII without spaces or the CSV separator `|`, as Code 128 prints.
_INTERNAL = re.compile(r"^[!-{}~]{1,48}$")


class BarcodeError(ValueError):
    """A barcode that cannot be accepted; the message says why in plain words."""


@dataclass(frozen=True, slots=True)
class Barcode:
    """A validated barcode: `key` is what lookups match, `display` what the pack shows."""

    key: str
    display: str
    kind: Literal["gtin", "internal"]


def parse_barcode(text: str) -> Barcode:
    """Validate a barcode and give its lookup key; raise BarcodeError if it is not acceptable."""
    code = text.strip()
    if not code:
        raise BarcodeError("barcode is empty")
    if code.isascii() and code.isdigit() and len(code) in GTIN_LENGTHS:
        if not ean.is_valid(code):
            raise BarcodeError(f"{code} has a wrong GS1 check digit")
        # GS1 stores every GTIN as 14 digits, so a UPC-A and its EAN-13 form are one code.
        return Barcode(key=code.zfill(14), display=code, kind="gtin")
    if not _INTERNAL.fullmatch(code):
        raise BarcodeError(
            f"{code!r} is not a barcode: use a GTIN (8, 12, 13 or 14 digits) or an internal "
            "code of up to 48 printable characters without spaces or '|'"
        )
    # Scanners send letters in either case depending on Caps Lock; match case-insensitively.
    return Barcode(key=code.upper(), display=code, kind="internal")


def lookup_key(text: str) -> str:
    """The key a scanned or typed code is looked up by (raises BarcodeError like parse_barcode)."""
    return parse_barcode(text).key
