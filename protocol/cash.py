"""Cash denominations (notes and coins, in minor units) for counting floats and drawers."""

from __future__ import annotations

from protocol.money import exponent

DENOMINATIONS: dict[str, tuple[int, ...]] = {
    "EUR": (50000, 20000, 10000, 5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5, 2, 1),
    "USD": (10000, 5000, 2000, 1000, 500, 200, 100, 25, 10, 5, 1),
    "GBP": (5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5, 2, 1),
    "CHF": (100000, 20000, 10000, 5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5),
    "SEK": (100000, 50000, 20000, 10000, 5000, 2000, 1000, 500, 200, 100),
    "NOK": (100000, 50000, 20000, 10000, 5000, 2000, 1000, 500, 100),
    "DKK": (100000, 50000, 20000, 10000, 5000, 2000, 1000, 500, 200, 100, 50),
    "PLN": (50000, 20000, 10000, 5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5, 2, 1),
}


def denominations(currency: str) -> tuple[int, ...]:
    """A currency's notes and coins, largest first; a generic decimal series if not listed."""
    known = DENOMINATIONS.get(currency)
    if known is not None:
        return known
    unit = 10 ** exponent(currency)
    return tuple(unit * n for n in (500, 200, 100, 50, 20, 10, 5, 2, 1))
