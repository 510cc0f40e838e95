"""Barcodes: GS1 check digits, 14-digit lookup keys, internal codes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import ean

from appliance.catalog.barcodes import (
    Barcode,
    BarcodeError,
    gs1_check_digit,
    lookup_key,
    parse_barcode,
)


@pytest.mark.parametrize(
    ("code", "key"),
    [
        ("4006381333931", "04006381333931"),  # EAN-13
        ("96385074", "00000096385074"),  # EAN-8
        ("036000291452", "00036000291452"),  # UPC-A
        ("10036000291459", "10036000291459"),  # GTIN-14 (case of 12 cans)
        ("9780776480251", "09780776480251"),  # ISBN-13 is an EAN-13
    ],
)
def test_valid_gtins_are_accepted_and_keyed_as_14_digits(code: str, key: str) -> None:
    parsed = parse_barcode(code)
    assert parsed == Barcode(key=key, display=code, kind="gtin")
    assert lookup_key(code) == key


@pytest.mark.parametrize(
    "code",
    [
        "4006381333932",  # EAN-13, check digit should be 1
        "96385075",  # EAN-8, should be 4
        "036000291453",  # UPC-A, should be 2
        "10036000291452",  # GTIN-14, should be 9
    ],
)
def test_wrong_check_digit_is_refused_with_a_clear_message(code: str) -> None:
    with pytest.raises(BarcodeError, match="wrong GS1 check digit") as caught:
        parse_barcode(code)
    assert code in str(caught.value)
    with pytest.raises(BarcodeError):
        lookup_key(code)


def test_barcode_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="check digit"):
        parse_barcode("4006381333932")


def test_upc_a_ean_13_and_gtin_14_forms_of_one_number_share_a_key() -> None:
    upc, ean13, gtin14 = (
        parse_barcode(c) for c in ("036000291452", "0036000291452", "00036000291452")
    )
    assert upc.key == ean13.key == gtin14.key == "00036000291452"
    # What the pack shows is kept as written.
    assert (upc.display, ean13.display, gtin14.display) == (
        "036000291452",
        "0036000291452",
        "00036000291452",
    )


def test_surrounding_whitespace_is_trimmed() -> None:
    assert parse_barcode("  4006381333931\t").display == "4006381333931"
    assert parse_barcode(" TB-0001 ").key == "TB-0001"


@pytest.mark.parametrize(
    "code", ["TB-0001", "ABC", "x", "SKU/12+3.4_5", "a!#$%&'()*,;<=>?@[]^`{}~"]
)
def test_internal_codes_are_accepted(code: str) -> None:
    parsed = parse_barcode(code)
    assert parsed.kind == "internal"
    assert parsed.display == code
    assert parsed.key == code.upper()


def test_internal_codes_match_case_insensitively() -> None:
    assert lookup_key("tb-0001") == lookup_key("TB-0001") == lookup_key("Tb-0001") == "TB-0001"
    assert parse_barcode("tb-0001").display == "tb-0001"


@pytest.mark.parametrize(
    "code", ["123456", "1", "1234567", "123456789", "12345678901", "123456789012345"]
)
def test_digit_strings_of_non_gtin_length_are_internal_codes(code: str) -> None:
    parsed = parse_barcode(code)
    assert parsed.kind == "internal"
    assert parsed.key == code  # not zero-padded: no GTIN can collide with it


def test_48_characters_is_the_longest_internal_code() -> None:
    assert parse_barcode("A" * 48).key == "A" * 48
    with pytest.raises(BarcodeError, match="up to 48"):
        parse_barcode("A" * 49)
    with pytest.raises(BarcodeError, match="up to 48"):
        parse_barcode("1" * 49)


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("TB 0001", "without spaces"),
        ("TB-0001|TB-0002", "'|'"),
        ("|", "'|'"),
        ("TB\t01", "not a barcode"),
        ("TB\n01", "not a barcode"),
        ("CAFÉ-1", "printable"),  # not ASCII: Code 128 cannot print it
        ("４００６３８１３３３９３１", "not a barcode"),  # full-width digits are not a GTIN
    ],
)
def test_unacceptable_codes_are_refused(code: str, fragment: str) -> None:
    with pytest.raises(BarcodeError) as caught:
        parse_barcode(code)
    assert fragment in str(caught.value)


@given(st.text(alphabet="0123456789", min_size=12, max_size=12))
def test_any_12_digit_body_with_its_check_digit_parses(body: str) -> None:
    code = body + ean.calc_check_digit(body)
    parsed = parse_barcode(code)
    assert parsed.kind == "gtin"
    assert parsed.key == code.zfill(14)
    # The UPC-A reading of a body starting with 0 is the same item.
    if code.startswith("0"):
        assert lookup_key(code[1:]) == parsed.key


@given(st.text(alphabet="0123456789", min_size=12, max_size=12), st.integers(1, 9))
def test_any_other_check_digit_is_refused(body: str, shift: int) -> None:
    right = int(ean.calc_check_digit(body))
    wrong = body + str((right + shift) % 10)
    with pytest.raises(BarcodeError, match="check digit"):
        parse_barcode(wrong)


@given(st.text(min_size=0, max_size=60))
def test_any_text_either_parses_or_raises_barcode_error(text: str) -> None:
    try:
        parsed = parse_barcode(text)
    except BarcodeError as exc:
        message = str(exc)
        assert message
    else:
        assert parsed.key
        assert " " not in parsed.key
        assert "|" not in parsed.key
        assert len(parsed.key) <= 48


@given(st.integers(min_value=0, max_value=10**13 - 1), st.sampled_from([7, 11, 12, 13]))
def test_check_digit_is_stdnums(number: int, length: int) -> None:
    """The fast check digit agrees with python-stdnum for every GTIN body length."""
    body = str(number % 10**length).zfill(length)
    assert gs1_check_digit(body) == ean.calc_check_digit(body)
