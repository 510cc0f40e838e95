"""Money as integer minor units of an ISO 4217 currency; never floats."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from types import MappingProxyType
from typing import Any

# Active ISO 4217 codes (list one, including fund codes) with a defined minor unit. Codes whose
# minor unit is "N.A." (XAU, XDR, XTS, XXX …) cannot price anything and are left out, as are
# withdrawn codes (ANG, CUC, HRK, SLL, ZWL).
CURRENCY_EXPONENTS: Mapping[str, int] = MappingProxyType(
    {
        "AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "AOA": 2, "ARS": 2, "AUD": 2, "AWG": 2,
        "AZN": 2, "BAM": 2, "BBD": 2, "BDT": 2, "BGN": 2, "BHD": 3, "BIF": 0, "BMD": 2,
        "BND": 2, "BOB": 2, "BOV": 2, "BRL": 2, "BSD": 2, "BTN": 2, "BWP": 2, "BYN": 2,
        "BZD": 2, "CAD": 2, "CDF": 2, "CHE": 2, "CHF": 2, "CHW": 2, "CLF": 4, "CLP": 0,
        "CNY": 2, "COP": 2, "COU": 2, "CRC": 2, "CUP": 2, "CVE": 2, "CZK": 2, "DJF": 0,
        "DKK": 2, "DOP": 2, "DZD": 2, "EGP": 2, "ERN": 2, "ETB": 2, "EUR": 2, "FJD": 2,
        "FKP": 2, "GBP": 2, "GEL": 2, "GHS": 2, "GIP": 2, "GMD": 2, "GNF": 0, "GTQ": 2,
        "GYD": 2, "HKD": 2, "HNL": 2, "HTG": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2,
        "IQD": 3, "IRR": 2, "ISK": 0, "JMD": 2, "JOD": 3, "JPY": 0, "KES": 2, "KGS": 2,
        "KHR": 2, "KMF": 0, "KPW": 2, "KRW": 0, "KWD": 3, "KYD": 2, "KZT": 2, "LAK": 2,
        "LBP": 2, "LKR": 2, "LRD": 2, "LSL": 2, "LYD": 3, "MAD": 2, "MDL": 2, "MGA": 2,
        "MKD": 2, "MMK": 2, "MNT": 2, "MOP": 2, "MRU": 2, "MUR": 2, "MVR": 2, "MWK": 2,
        "MXN": 2, "MXV": 2, "MYR": 2, "MZN": 2, "NAD": 2, "NGN": 2, "NIO": 2, "NOK": 2,
        "NPR": 2, "NZD": 2, "OMR": 3, "PAB": 2, "PEN": 2, "PGK": 2, "PHP": 2, "PKR": 2,
        "PLN": 2, "PYG": 0, "QAR": 2, "RON": 2, "RSD": 2, "RUB": 2, "RWF": 0, "SAR": 2,
        "SBD": 2, "SCR": 2, "SDG": 2, "SEK": 2, "SGD": 2, "SHP": 2, "SLE": 2, "SOS": 2,
        "SRD": 2, "SSP": 2, "STN": 2, "SVC": 2, "SYP": 2, "SZL": 2, "THB": 2, "TJS": 2,
        "TMT": 2, "TND": 3, "TOP": 2, "TRY": 2, "TTD": 2, "TWD": 2, "TZS": 2, "UAH": 2,
        "UGX": 0, "USD": 2, "USN": 2, "UYI": 0, "UYU": 2, "UYW": 4, "UZS": 2, "VED": 2,
        "VES": 2, "VND": 0, "VUV": 0, "WST": 2, "XAD": 2, "XAF": 0, "XCD": 2, "XCG": 2,
        "XOF": 0, "XPF": 0, "YER": 2, "ZAR": 2, "ZMW": 2, "ZWG": 2,
    }
)  # fmt: skip

# Amounts stay within the integers JSON (RFC 8785) and JavaScript represent exactly.
MAX_AMOUNT = 2**53 - 1

_DECIMAL = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?")
_EXPONENT = re.compile(r"[+-]?[0-9]*\.?[0-9]+[eE][+-]?[0-9]+")
_SEPARATORS = frozenset(",'_\u00a0\u202f")


def exponent(currency: str) -> int:
    """Return the number of minor-unit digits of an ISO 4217 currency, e.g. EUR 2, JPY 0."""
    raw: object = currency
    if not isinstance(raw, str) or raw not in CURRENCY_EXPONENTS:
        raise ValueError(f"unknown currency {raw!r}: expected an ISO 4217 code such as 'EUR'")
    return CURRENCY_EXPONENTS[raw]


class CurrencyMismatch(ValueError):
    """Two amounts in different currencies were combined or compared."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _explain_bad_amount(raw: str) -> None:
    """Raise a ValueError that says what is wrong with an amount that is not a plain decimal."""
    if raw == "":
        raise ValueError("an amount is empty")
    if any(ch.isspace() for ch in raw):
        raise ValueError(f"amount {raw!r} contains whitespace")
    if any(ch in _SEPARATORS for ch in raw):
        raise ValueError(
            f"amount {raw!r} contains a separator: use '.' as the decimal point "
            "and no thousands separators"
        )
    if raw.lower() in {"nan", "-nan", "inf", "-inf", "infinity", "-infinity"}:
        raise ValueError(f"amount {raw!r} is not a number")
    if _EXPONENT.fullmatch(raw):
        raise ValueError(f"amount {raw!r} uses an exponent: write it out, e.g. 1200.00")


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount: integer minor units of one ISO 4217 currency."""

    amount: int
    currency: str

    def __post_init__(self) -> None:
        """Reject non-integer amounts, unknown currencies and amounts JSON cannot carry."""
        amount: object = self.amount
        if not _is_int(amount):
            raise ValueError(f"amount must be an int of minor units, got {amount!r}")
        exponent(self.currency)
        if abs(self.amount) > MAX_AMOUNT:
            raise ValueError(f"amount {self.amount} is beyond ±{MAX_AMOUNT} minor units")

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Return zero in currency."""
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str, currency: str) -> Money:
        """Parse a plain decimal string such as "12.99", "0.5" or "-3" in currency."""
        places = exponent(currency)
        raw: object = text
        if not isinstance(raw, str):
            raise ValueError(f"an amount must be a string, got {type(raw).__name__}")
        # Fast path first: a CSV import parses hundreds of thousands of well-formed amounts;
        # the checks below only exist to explain what is wrong with a bad one.
        match = _DECIMAL.fullmatch(raw)
        if match is None:
            _explain_bad_amount(raw)
            raise ValueError(f"amount {raw!r} is not a plain decimal such as 12.99 or -3")
        sign, whole, fraction = match[1], match[2], match[3] or ""
        if len(fraction) > places:
            allowed = "no decimals" if places == 0 else f"at most {places} decimals"
            raise ValueError(
                f"amount {raw!r} has {len(fraction)} decimals but {currency} allows {allowed}"
            )
        if len(whole.lstrip("0")) > len(str(MAX_AMOUNT)):
            raise ValueError(f"amount {raw!r} is too large")
        minor = int(whole) * 10**places + int(fraction.ljust(places, "0") or "0")
        amount = -minor if sign else minor
        if abs(amount) > MAX_AMOUNT:
            raise ValueError(f"amount {raw!r} is too large")
        return cls(amount, currency)

    def to_decimal_string(self) -> str:
        """Render with exactly the currency's number of decimals: "12.50", JPY "1200"."""
        places = exponent(self.currency)
        sign = "-" if self.amount < 0 else ""
        whole, fraction = divmod(abs(self.amount), 10**places)
        if places == 0:
            return f"{sign}{whole}"
        return f"{sign}{whole}.{fraction:0{places}d}"

    def to_json(self) -> dict[str, Any]:
        """Return {"amount": int, "currency": str}."""
        return {"amount": self.amount, "currency": self.currency}

    @classmethod
    def from_json(cls, obj: object) -> Money:
        """Build from {"amount": int, "currency": str}, raising ValueError on any other shape."""
        if not isinstance(obj, Mapping) or set(obj) != {"amount", "currency"}:
            raise ValueError(f"money must be an object with amount and currency, got {obj!r}")
        return cls(obj["amount"], obj["currency"])

    def _same_currency(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}")
        return other

    def __add__(self, other: Money) -> Money:
        """Add two amounts of the same currency."""
        return Money(self.amount + self._same_currency(other).amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        """Subtract an amount of the same currency."""
        return Money(self.amount - self._same_currency(other).amount, self.currency)

    def __neg__(self) -> Money:
        """Return the amount with its sign flipped."""
        return Money(-self.amount, self.currency)

    def __abs__(self) -> Money:
        """Return the amount without its sign."""
        return Money(abs(self.amount), self.currency)

    def __mul__(self, factor: int) -> Money:
        """Multiply by an integer quantity."""
        raw: object = factor
        if not _is_int(raw):
            raise TypeError(f"Money can only be multiplied by an int, got {type(raw).__name__}")
        return Money(self.amount * factor, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        """Compare amounts of the same currency."""
        return self.amount < self._same_currency(other).amount

    def __le__(self, other: Money) -> bool:
        """Compare amounts of the same currency."""
        return self.amount <= self._same_currency(other).amount

    def __gt__(self, other: Money) -> bool:
        """Compare amounts of the same currency."""
        return self.amount > self._same_currency(other).amount

    def __ge__(self, other: Money) -> bool:
        """Compare amounts of the same currency."""
        return self.amount >= self._same_currency(other).amount

    def allocate(self, weights: Sequence[int]) -> list[Money]:
        """Split by non-negative integer weights (largest remainder); the parts sum exactly."""
        weights = list(weights)
        if not weights:
            raise ValueError("allocate needs at least one weight")
        if not all(_is_int(w) and w >= 0 for w in weights):
            raise ValueError(f"weights must be non-negative ints, got {weights!r}")
        total = sum(weights)
        if total == 0:
            raise ValueError("weights must not all be zero")
        # Split the magnitude and give back the sign, so -1.00 splits as the mirror of 1.00.
        magnitude = abs(self.amount)
        shares = [divmod(magnitude * w, total) for w in weights]
        leftover = magnitude - sum(q for q, _ in shares)
        # Ties go to the earlier weight, so the same split always gives the same parts.
        order = sorted(range(len(shares)), key=lambda i: (-shares[i][1], i))
        bumped = set(order[:leftover])
        sign = -1 if self.amount < 0 else 1
        return [
            Money(sign * (q + (1 if i in bumped else 0)), self.currency)
            for i, (q, _) in enumerate(shares)
        ]


def zero(currency: str) -> Money:
    """Return zero in currency (same as Money.zero)."""
    return Money.zero(currency)


class Rounding(StrEnum):
    """How a fraction of a minor unit is rounded."""

    HALF_UP = "half_up"
    HALF_EVEN = "half_even"


def round_fraction(value: Fraction, mode: Rounding) -> int:
    """Round an exact number of minor units to an int; half_up goes away from zero on .5."""
    raw: object = value
    if isinstance(raw, bool) or not isinstance(raw, Fraction | int):
        raise TypeError(f"round_fraction needs a Fraction, got {type(raw).__name__}")
    exact = Fraction(raw)
    rule = Rounding(mode)
    if rule is Rounding.HALF_EVEN:
        return round(exact)
    magnitude = math.floor(abs(exact) + Fraction(1, 2))
    return magnitude if exact >= 0 else -magnitude
