"""Sale totals, discounts, tax and refunds in integer minor units, with exact half-up rounding."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

BP = 10_000  # basis points in a whole: 1250 bp = 12.5 % (discounts)
PPM = 1_000_000  # tax rates are parts per million, so 8.875 % (a US rate) is exact: 88_750

# What a line is, as a tuple of ints and strings that a TypeScript mirror compares the same way.
_LineKey: TypeAlias = tuple[int, int, int, int, str, int]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half away from zero, in integers only.

    The same result as round_fraction(Fraction(n, d), HALF_UP), without building a Fraction:
    pricing a sale does this a few dozen times and it is on the appliance's hot path.
    """
    quotient, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return -quotient if numerator < 0 else quotient


class DiscountKind(StrEnum):
    """Whether a discount is a percentage (in basis points) or a fixed amount (minor units)."""

    PERCENT = "percent"
    AMOUNT = "amount"


@dataclass(frozen=True, slots=True, kw_only=True)
class Discount:
    """A discount: PERCENT value in basis points 0..10000, or AMOUNT value in minor units ≥ 0."""

    kind: DiscountKind
    value: int

    def __post_init__(self) -> None:
        """Reject unknown kinds, non-int values and percentages outside 0..100 %."""
        kind = DiscountKind(self.kind)
        # A kind given as its JSON string ("percent") is stored as the enum member, so `is` works.
        object.__setattr__(self, "kind", kind)
        value: object = self.value
        if not _is_int(value):
            raise ValueError(f"discount value must be an int, got {value!r}")
        if kind is DiscountKind.PERCENT and not 0 <= self.value <= BP:
            raise ValueError(f"a percent discount is 0..{BP} basis points, got {self.value}")
        if kind is DiscountKind.AMOUNT and self.value < 0:
            raise ValueError(f"an amount discount must not be negative, got {self.value}")


class TaxMode(StrEnum):
    """Whether shelf prices include tax (EU style) or tax is added at the till (US style)."""

    INCLUSIVE = "inclusive"
    EXCLUSIVE = "exclusive"


class TaxRounding(StrEnum):
    """Whether tax is rounded on each line or once per rate over the whole receipt."""

    LINE = "line"
    TOTAL = "total"


def _gross(qty: int, unit_price: int, qty_scale: int) -> int:
    return _half_up(qty * unit_price, qty_scale)


@dataclass(frozen=True, slots=True, kw_only=True)
class LineInput:
    """One rung-up line: qty (milli-units when qty_scale=1000) at unit_price per whole unit."""

    qty: int
    unit_price: int
    tax_rate_ppm: int
    discount: Discount | None = None
    qty_scale: int = 1
    voided: bool = False

    def __post_init__(self) -> None:
        """Reject non-positive quantities, negative prices or rates, and oversized discounts."""
        fields: dict[str, object] = {
            "qty": self.qty,
            "unit_price": self.unit_price,
            "tax_rate_ppm": self.tax_rate_ppm,
            "qty_scale": self.qty_scale,
        }
        for name, value in fields.items():
            if not _is_int(value):
                raise ValueError(f"line {name} must be an int, got {value!r}")
        if self.qty <= 0:
            raise ValueError(f"line qty must be positive, got {self.qty}")
        if self.qty_scale <= 0:
            raise ValueError(f"line qty_scale must be positive, got {self.qty_scale}")
        if self.unit_price < 0:
            raise ValueError(f"line unit_price must not be negative, got {self.unit_price}")
        if self.tax_rate_ppm < 0:
            raise ValueError(f"line tax_rate_ppm must not be negative, got {self.tax_rate_ppm}")
        if self.discount is not None and not isinstance(self.discount, Discount):
            raise ValueError(f"line discount must be a Discount or None, got {self.discount!r}")
        if not isinstance(self.voided, bool):
            raise ValueError(f"line voided must be a bool, got {self.voided!r}")
        if self.discount is not None:
            # Checked here, not only when pricing, so the cashier hears it as the line is rung up.
            discount_amount(self.gross, self.discount)

    @property
    def gross(self) -> int:
        """The line before any discount: qty × unit_price / qty_scale, rounded half-up."""
        return _gross(self.qty, self.unit_price, self.qty_scale)

    def _key(self) -> _LineKey:
        discount = self.discount
        kind, value = ("", 0) if discount is None else (str(discount.kind), discount.value)
        return (self.qty_scale, self.qty, self.unit_price, self.tax_rate_ppm, kind, value)


@dataclass(frozen=True, slots=True, kw_only=True)
class LineResult:
    """A priced line: net = gross − line_discount − order_discount; total is what the customer pays."""

    gross: int
    line_discount: int
    order_discount: int
    net: int
    tax: int
    total: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TaxLine:
    """Tax at one rate: base is the sum of line nets at that rate (tax included when INCLUSIVE)."""

    rate_ppm: int
    base: int
    tax: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SaleTotals:
    """A priced sale: its lines in input order, the receipt totals and one TaxLine per rate."""

    lines: tuple[LineResult, ...]
    subtotal: int
    discount: int
    tax: int
    total: int
    taxes: tuple[TaxLine, ...]


_VOIDED = LineResult(gross=0, line_discount=0, order_discount=0, net=0, tax=0, total=0)


def discount_amount(base: int, discount: Discount) -> int:
    """Return the minor units a discount takes off base; an amount larger than base is an error."""
    if not _is_int(base) or base < 0:
        raise ValueError(f"a discount base must be a non-negative int, got {base!r}")
    if discount.kind is DiscountKind.PERCENT:
        return _half_up(base * discount.value, BP)
    if discount.value > base:
        raise ValueError(f"discount of {discount.value} is more than the {base} it applies to")
    return discount.value


def _allocate(amount: int, weights: Sequence[int], keys: Sequence[_LineKey]) -> list[int]:
    """Split a non-negative amount by weights, largest remainder first, ties by line content."""
    total = sum(weights)
    if total == 0:
        if amount:
            raise ValueError(f"cannot allocate {amount} over weights that are all zero")
        return [0] * len(weights)
    shares = [divmod(amount * w, total) for w in weights]
    leftover = amount - sum(q for q, _ in shares)
    # The same algorithm as Money.allocate, except that ties go by what the line is, then by its
    # position: a line's share then depends on the basket, not on the order it was rung up in.
    order = sorted(range(len(shares)), key=lambda i: (-shares[i][1], keys[i], i))
    bumped = set(order[:leftover])
    return [q + (1 if i in bumped else 0) for i, (q, _) in enumerate(shares)]


def _own_discount(line: LineInput, gross: int) -> int:
    return 0 if line.discount is None else discount_amount(gross, line.discount)


def _tax_denominator(rate_ppm: int, mode: TaxMode) -> int:
    """Tax is amount × rate / this: the tax inside a price, or the tax added to it."""
    return PPM + rate_ppm if mode is TaxMode.INCLUSIVE else PPM


def price_sale(
    lines: Sequence[LineInput],
    *,
    order_discount: Discount | None,
    mode: TaxMode,
    rounding: TaxRounding,
) -> SaleTotals:
    """Price a basket: line and order discounts, tax per line and per rate, and the totals."""
    mode = TaxMode(mode)
    rounding = TaxRounding(rounding)
    live = [i for i, line in enumerate(lines) if not line.voided]
    keys = {i: lines[i]._key() for i in live}
    gross = {i: lines[i].gross for i in live}
    own = {i: _own_discount(lines[i], gross[i]) for i in live}
    after_own = {i: gross[i] - own[i] for i in live}

    shares = dict.fromkeys(live, 0)
    if order_discount is not None:
        taken = discount_amount(sum(after_own.values()), order_discount)
        split = _allocate(taken, [after_own[i] for i in live], [keys[i] for i in live])
        shares = dict(zip(live, split, strict=True))
    net = {i: after_own[i] - shares[i] for i in live}

    tax: dict[int, int] = {}
    rates = sorted({lines[i].tax_rate_ppm for i in live})
    taxes: list[TaxLine] = []
    for rate in rates:
        members = [i for i in live if lines[i].tax_rate_ppm == rate]
        denominator = _tax_denominator(rate, mode)
        base = sum(net[i] for i in members)
        if rounding is TaxRounding.LINE:
            for i in members:
                tax[i] = _half_up(net[i] * rate, denominator)
        else:
            # One rounding per rate, then spread back so each line still carries its tax for returns.
            rate_tax = _half_up(base * rate, denominator)
            split = _allocate(rate_tax, [net[i] for i in members], [keys[i] for i in members])
            tax.update(zip(members, split, strict=True))
        taxes.append(TaxLine(rate_ppm=rate, base=base, tax=sum(tax[i] for i in members)))

    results: list[LineResult] = []
    for i in range(len(lines)):
        if i not in net:
            results.append(_VOIDED)
            continue
        total = net[i] if mode is TaxMode.INCLUSIVE else net[i] + tax[i]
        results.append(
            LineResult(
                gross=gross[i],
                line_discount=own[i],
                order_discount=shares[i],
                net=net[i],
                tax=tax[i],
                total=total,
            )
        )
    return SaleTotals(
        lines=tuple(results),
        subtotal=sum(r.gross for r in results),
        discount=sum(r.line_discount + r.order_discount for r in results),
        tax=sum(r.tax for r in results),
        total=sum(r.total for r in results),
        taxes=tuple(taxes),
    )


def refund_for(
    line: LineResult, *, sold_qty: int, returned_before: int, returning: int
) -> tuple[int, int]:
    """Return (total, tax) to refund for returning units so that all returns add up to the line."""
    counts: dict[str, object] = {
        "sold_qty": sold_qty,
        "returned_before": returned_before,
        "returning": returning,
    }
    for name, value in counts.items():
        if not _is_int(value):
            raise ValueError(f"{name} must be an int, got {value!r}")
    if sold_qty <= 0:
        raise ValueError(f"sold_qty must be positive, got {sold_qty}")
    if returned_before < 0:
        raise ValueError(f"returned_before must not be negative, got {returned_before}")
    if returning <= 0:
        raise ValueError(f"returning must be positive, got {returning}")
    if returned_before + returning > sold_qty:
        raise ValueError(
            f"cannot return {returning} when {returned_before} of {sold_qty} are already returned"
        )

    def share(amount: int, qty: int) -> int:
        return _half_up(amount * qty, sold_qty)

    after = returned_before + returning
    # Telescoping: refunding up to m units always totals share(m), so the last return evens out.
    total = share(line.total, after) - share(line.total, returned_before)
    tax = share(line.tax, after) - share(line.tax, returned_before)
    return total, tax


def discount_share_bp(discount_amount: int, base: int) -> int:
    """Return a discount as basis points of its base, rounded up; 0 when the base is 0."""
    if not _is_int(discount_amount) or discount_amount < 0:
        raise ValueError(f"discount_amount must be a non-negative int, got {discount_amount!r}")
    if not _is_int(base) or base < 0:
        raise ValueError(f"base must be a non-negative int, got {base!r}")
    if base == 0:
        return 0
    return -(-discount_amount * BP // base)
