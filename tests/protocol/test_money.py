"""Tests for protocol.money: integer minor units, parsing, allocation and rounding."""

from __future__ import annotations

import operator
import re
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.money import (
    CURRENCY_EXPONENTS,
    MAX_AMOUNT,
    CurrencyMismatch,
    Money,
    Rounding,
    exponent,
    round_fraction,
    zero,
)

currencies = st.sampled_from(sorted(CURRENCY_EXPONENTS))
# Small enough that sums and products of a few of them stay within MAX_AMOUNT.
amounts = st.integers(-(2**40), 2**40)


@st.composite
def same_currency(draw: st.DrawFn, count: int) -> list[Money]:
    currency = draw(currencies)
    return [Money(draw(amounts), currency) for _ in range(count)]


@pytest.mark.parametrize(
    ("currency", "places"),
    [
        ("EUR", 2),
        ("USD", 2),
        ("GBP", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("BHD", 3),
        ("KWD", 3),
        ("JOD", 3),
        ("TND", 3),
        ("CLP", 0),
        ("ISK", 0),
        ("UGX", 0),
        ("XOF", 0),
        ("CLF", 4),
        ("UYW", 4),
        ("XCG", 2),
        ("ZWG", 2),
    ],
)
def test_exponents(currency: str, places: int) -> None:
    assert exponent(currency) == places
    assert CURRENCY_EXPONENTS[currency] == places


def test_table_holds_the_active_codes_only() -> None:
    assert len(CURRENCY_EXPONENTS) >= 150
    assert all(re.fullmatch(r"[A-Z]{3}", code) for code in CURRENCY_EXPONENTS)
    assert set(CURRENCY_EXPONENTS.values()) == {0, 2, 3, 4}
    for withdrawn in ("HRK", "ZWL", "CUC", "ANG", "SLL", "DEM"):
        assert withdrawn not in CURRENCY_EXPONENTS
    for no_minor_unit in ("XAU", "XDR", "XXX", "XTS"):
        assert no_minor_unit not in CURRENCY_EXPONENTS


@pytest.mark.parametrize("code", ["eur", "EURO", "", "XXX", "HRK", None, 978])
def test_unknown_currency_raises_value_error(code: object) -> None:
    with pytest.raises(ValueError, match="unknown currency"):
        exponent(code)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown currency"):
        Money(100, code)  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", [True, False, 1.0, "100", None, MAX_AMOUNT + 1, -MAX_AMOUNT - 1])
def test_amount_must_be_an_int_within_json_range(amount: object) -> None:
    with pytest.raises(ValueError, match="amount"):
        Money(amount, "EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "currency", "amount"),
    [
        ("12.99", "EUR", 1299),
        ("0.5", "EUR", 50),
        ("-3", "EUR", -300),
        ("12", "EUR", 1200),
        ("-0.05", "EUR", -5),
        ("0", "EUR", 0),
        ("-0", "EUR", 0),
        ("007.50", "EUR", 750),
        ("1200", "JPY", 1200),
        ("1.234", "BHD", 1234),
        ("1.2", "KWD", 1200),
        ("0.0001", "CLF", 1),
        ("90071992547409.91", "EUR", MAX_AMOUNT),
    ],
)
def test_parse(text: str, currency: str, amount: int) -> None:
    assert Money.parse(text, currency) == Money(amount, currency)


@pytest.mark.parametrize(
    ("text", "currency", "message"),
    [
        ("12.999", "EUR", "3 decimals but EUR allows at most 2"),
        ("1.5", "JPY", "JPY allows no decimals"),
        ("1.0", "JPY", "no decimals"),
        ("1.2345", "BHD", "at most 3"),
        ("1,299.00", "EUR", "separator"),
        ("12,99", "EUR", "separator"),
        ("1'299", "CHF", "separator"),
        ("1_299", "EUR", "separator"),
        ("1 299", "EUR", "whitespace"),
        ("12.99 ", "EUR", "whitespace"),
        (" 12.99", "EUR", "whitespace"),
        ("12.99\n", "EUR", "whitespace"),
        ("1\u00a0299", "EUR", "whitespace"),
        ("1e3", "EUR", "exponent"),
        ("1.5E+2", "EUR", "exponent"),
        ("", "EUR", "empty"),
        ("NaN", "EUR", "not a number"),
        ("nan", "EUR", "not a number"),
        ("Infinity", "EUR", "not a number"),
        ("-inf", "EUR", "not a number"),
        ("+5", "EUR", "plain decimal"),
        (".5", "EUR", "plain decimal"),
        ("5.", "EUR", "plain decimal"),
        ("-", "EUR", "plain decimal"),
        ("--5", "EUR", "plain decimal"),
        ("0x10", "EUR", "plain decimal"),
        ("€5", "EUR", "plain decimal"),
        ("\u0661\u0662", "EUR", "plain decimal"),  # Arabic-Indic digits
        ("one", "EUR", "plain decimal"),
        ("9" * 30, "EUR", "too large"),
        ("90071992547409.92", "EUR", "too large"),
        ("12.99", "EURO", "unknown currency"),
    ],
)
def test_parse_rejects_with_a_clear_message(text: str, currency: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Money.parse(text, currency)


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(ValueError, match="must be a string"):
        Money.parse(12.99, "EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (Money(1250, "EUR"), "12.50"),
        (Money(5, "EUR"), "0.05"),
        (Money(-5, "EUR"), "-0.05"),
        (Money(0, "EUR"), "0.00"),
        (Money(1200, "JPY"), "1200"),
        (Money(-7, "JPY"), "-7"),
        (Money(5, "BHD"), "0.005"),
        (Money(12345, "CLF"), "1.2345"),
    ],
)
def test_to_decimal_string(money: Money, text: str) -> None:
    assert money.to_decimal_string() == text


@given(currencies, st.integers(-MAX_AMOUNT, MAX_AMOUNT))
def test_format_and_parse_round_trip_for_every_exponent(currency: str, amount: int) -> None:
    money = Money(amount, currency)
    text = money.to_decimal_string()
    places = exponent(currency)
    pattern = r"-?[0-9]+" + (rf"\.[0-9]{{{places}}}" if places else "")
    assert re.fullmatch(pattern, text)
    assert Money.parse(text, currency) == money


@given(same_currency(3))
def test_addition_laws(values: list[Money]) -> None:
    a, b, c = values
    nothing = Money.zero(a.currency)
    assert a + b == b + a
    assert (a + b) + c == a + (b + c)
    assert a + nothing == a
    assert a - b == a + (-b)
    assert a - a == nothing
    assert a.__neg__().__neg__() == a
    assert abs(a) >= nothing
    assert abs(a) == abs(-a)
    assert (a + b).amount == a.amount + b.amount


@given(same_currency(2), st.integers(-1000, 1000), st.integers(-1000, 1000))
def test_multiplication_laws(values: list[Money], n: int, m: int) -> None:
    a, b = values
    assert a * n == n * a
    assert (a * n).amount == a.amount * n
    assert (a + b) * n == a * n + b * n
    assert a * (n + m) == a * n + a * m
    assert a * 0 == zero(a.currency)


@given(same_currency(2))
def test_comparisons_follow_amounts(values: list[Money]) -> None:
    a, b = values
    assert (a < b) == (a.amount < b.amount)
    assert (a <= b) == (a.amount <= b.amount)
    assert (a > b) == (a.amount > b.amount)
    assert (a >= b) == (a.amount >= b.amount)
    assert (a == b) == (a.amount == b.amount)


def test_mixing_currencies_raises_currency_mismatch() -> None:
    eur, usd = Money(100, "EUR"), Money(100, "USD")
    assert issubclass(CurrencyMismatch, ValueError)
    with pytest.raises(CurrencyMismatch):
        eur + usd
    with pytest.raises(CurrencyMismatch):
        eur - usd
    for compare in (operator.lt, operator.le, operator.gt, operator.ge):
        with pytest.raises(CurrencyMismatch):
            compare(eur, usd)
    assert eur != usd  # equality is defined: different money is simply not equal


@pytest.mark.parametrize("other", [1, 1.5, None, "1.00"])
def test_money_does_not_combine_with_plain_numbers(other: object) -> None:
    money = Money(100, "EUR")
    with pytest.raises(TypeError):
        money + other  # type: ignore[operator]
    with pytest.raises(TypeError):
        operator.lt(money, other)  # type: ignore[arg-type]


@pytest.mark.parametrize("factor", [1.5, True, Fraction(1, 2), Money(1, "EUR")])
def test_money_multiplies_by_int_only(factor: object) -> None:
    with pytest.raises(TypeError):
        Money(100, "EUR") * factor  # type: ignore[operator]


def test_overflow_beyond_json_range_is_refused() -> None:
    with pytest.raises(ValueError, match="beyond"):
        Money(MAX_AMOUNT, "EUR") + Money(1, "EUR")


@pytest.mark.parametrize(
    ("amount", "weights", "parts"),
    [
        (100, [1, 1, 1], [34, 33, 33]),
        (-100, [1, 1, 1], [-34, -33, -33]),
        (5, [0, 1], [0, 5]),
        (10, [3, 7], [3, 7]),
        (1, [1, 1, 1], [1, 0, 0]),
        (2, [1, 2, 2], [0, 1, 1]),
        (1000, [5], [1000]),
        (0, [1, 2], [0, 0]),
        (7, [1, 0, 1], [4, 0, 3]),
    ],
)
def test_allocate_examples(amount: int, weights: list[int], parts: list[int]) -> None:
    assert Money(amount, "EUR").allocate(weights) == [Money(p, "EUR") for p in parts]


@given(
    currencies,
    st.integers(-MAX_AMOUNT, MAX_AMOUNT),
    st.lists(st.integers(0, 10_000), min_size=1, max_size=12).filter(any),
)
def test_allocate_preserves_the_sum_and_stays_within_one_unit(
    currency: str, amount: int, weights: list[int]
) -> None:
    money = Money(amount, currency)
    parts = money.allocate(weights)
    total = sum(weights)
    assert len(parts) == len(weights)
    assert sum(part.amount for part in parts) == amount
    assert all(part.currency == currency for part in parts)
    for part, weight in zip(parts, weights, strict=True):
        exact = Fraction(amount * weight, total)
        assert abs(part.amount - exact) < 1
        if weight == 0:
            assert part.amount == 0
    assert money.allocate(weights) == parts
    assert (-money).allocate(weights) == [-part for part in parts]


@pytest.mark.parametrize("weights", [[], [0, 0], [-1, 2], [1.5, 1], [True, 1]])
def test_allocate_rejects_bad_weights(weights: list[object]) -> None:
    with pytest.raises(ValueError, match="weight"):
        Money(100, "EUR").allocate(weights)  # type: ignore[arg-type]


@given(currencies, st.integers(-MAX_AMOUNT, MAX_AMOUNT))
def test_json_round_trip(currency: str, amount: int) -> None:
    money = Money(amount, currency)
    assert money.to_json() == {"amount": amount, "currency": currency}
    assert Money.from_json(money.to_json()) == money


@pytest.mark.parametrize(
    "obj",
    [
        {"amount": 1},
        {"amount": 1, "currency": "EUR", "extra": 1},
        {"amount": True, "currency": "EUR"},
        {"amount": "1.00", "currency": "EUR"},
        {"amount": 1, "currency": "eur"},
        [1, "EUR"],
        None,
    ],
)
def test_from_json_rejects_other_shapes(obj: object) -> None:
    with pytest.raises(ValueError, match=r"money must be|amount must be|unknown currency"):
        Money.from_json(obj)


@pytest.mark.parametrize(
    ("value", "half_up", "half_even"),
    [
        (Fraction(5, 2), 3, 2),
        (Fraction(-5, 2), -3, -2),
        (Fraction(7, 2), 4, 4),
        (Fraction(1, 2), 1, 0),
        (Fraction(-1, 2), -1, 0),
        (Fraction(1, 3), 0, 0),
        (Fraction(2, 3), 1, 1),
        (Fraction(-2, 3), -1, -1),
        (Fraction(12345, 100), 123, 123),
        (Fraction(12350, 100), 124, 124),
        (Fraction(12250, 100), 123, 122),
        (Fraction(7), 7, 7),
    ],
)
def test_round_fraction_examples(value: Fraction, half_up: int, half_even: int) -> None:
    assert round_fraction(value, Rounding.HALF_UP) == half_up
    assert round_fraction(value, Rounding.HALF_EVEN) == half_even


@given(st.fractions(max_denominator=10_000), st.sampled_from(list(Rounding)))
def test_round_fraction_properties(value: Fraction, mode: Rounding) -> None:
    rounded = round_fraction(value, mode)
    assert isinstance(rounded, int)
    assert abs(rounded - value) <= Fraction(1, 2)
    # Both modes round symmetrically about zero (no bias towards +infinity).
    assert round_fraction(-value, mode) == -rounded
    if (value - Fraction(1, 2)).denominator != 1:  # not exactly halfway
        assert rounded == round_fraction(value, Rounding.HALF_UP)
        assert rounded == round_fraction(value, Rounding.HALF_EVEN)
    else:
        assert (rounded % 2 == 0) if mode is Rounding.HALF_EVEN else abs(rounded) > abs(value)


def test_round_fraction_accepts_mode_values_and_refuses_floats() -> None:
    assert round_fraction(Fraction(5, 2), "half_up") == 3  # type: ignore[arg-type]
    assert Rounding("half_even") is Rounding.HALF_EVEN
    with pytest.raises(ValueError, match="not a valid Rounding"):
        round_fraction(Fraction(1, 2), "up")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        round_fraction(2.5, Rounding.HALF_UP)  # type: ignore[arg-type]
