"""Barcodes: GS1 GTINs (check digit verified, normalised to 14 digits) and internal codes."""

from __future__ import annotations

import re
from typing import Literal

import msgspec

GTIN_LENGTHS = frozenset({8, 12, 13, 14})
# Internal codes: printable ASCII without spaces or the CSV separator `|`, as Code 128 prints.
_INTERNAL = re.compile(r"^[!-{}~]{1,48}$")


class BarcodeError(ValueError):
    """A barcode that cannot be accepted; the message says why in plain words."""


class Barcode(msgspec.Struct, frozen=True, gc=False):
    """A validated barcode: `key` is what lookups match, `display` what the pack shows."""

    key: str
    display: str
    kind: Literal["gtin", "internal"]


def gs1_check_digit(body: str) -> str:
    """The GS1 mod-10 check digit for the digits before it (GTIN-8/12/13/14 alike).

    The same rule as `stdnum.ean.calc_check_digit`, which the tests hold it to for every
    length; stdnum's generic version cleans and enumerates each code and cost 1.2 s of a
    150,000-barcode import on its own.
    """
    total = 3 * sum(map(int, body[-1::-2])) + sum(map(int, body[-2::-2]))
    return str(-total % 10)


def parse_barcode(text: str) -> Barcode:
    """Validate a barcode and give its lookup key; raise BarcodeError if it is not acceptable."""
    code = text.strip()
    if not code:
        raise BarcodeError("barcode is empty")
    if code.isascii() and code.isdigit() and len(code) in GTIN_LENGTHS:
        if gs1_check_digit(code[:-1]) != code[-1]:
            raise BarcodeError(f"{code} has a wrong GS1 check digit")
        # GS1 stores every GTIN as 14 digits, so a UPC-A and its EAN-13 form are one code.
        return Barcode(code.zfill(14), code, "gtin")
    if not _INTERNAL.fullmatch(code):
        raise BarcodeError(
            f"{code!r} is not a barcode: use a GTIN (8, 12, 13 or 14 digits) or an internal "
            "code of up to 48 printable characters without spaces or '|'"
        )
    # Scanners send letters in either case depending on Caps Lock; match case-insensitively.
    return Barcode(code.upper(), code, "internal")


def lookup_key(text: str) -> str:
    """The key a scanned or typed code is looked up by (raises BarcodeError like parse_barcode)."""
    return parse_barcode(text).key
