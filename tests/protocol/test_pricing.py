"""Tests for protocol.pricing: hand-worked receipts, refunds, and properties of random baskets."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import astuple, replace
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.money import Rounding, round_fraction
from protocol.pricing import (
    Discount,
    DiscountKind,
    LineInput,
    LineResult,
    SaleTotals,
    TaxLine,
    TaxMode,
    TaxRounding,
    discount_amount,
    discount_share_bp,
    price_sale,
    refund_for,
)

PERCENT, AMOUNT = DiscountKind.PERCENT, DiscountKind.AMOUNT
INCLUSIVE, EXCLUSIVE = TaxMode.INCLUSIVE, TaxMode.EXCLUSIVE
LINE, TOTAL = TaxRounding.LINE, TaxRounding.TOTAL


def line(
    gross: int, line_discount: int, order_discount: int, net: int, tax: int, total: int
) -> LineResult:
    return LineResult(
        gross=gross,
        line_discount=line_discount,
        order_discount=order_discount,
        net=net,
        tax=tax,
        total=total,
    )


def eu_basket(jacket_price: int) -> list[LineInput]:
    """3 × 2.99 at 20 %, 1 jacket at 20 % with 10 % off, 1 × 1.49 at 7 %."""
    return [
        LineInput(qty=3, unit_price=299, tax_rate_ppm=200000),
        LineInput(
            qty=1,
            unit_price=jacket_price,
            tax_rate_ppm=200000,
            discount=Discount(kind=PERCENT, value=1000),
        ),
        LineInput(qty=1, unit_price=149, tax_rate_ppm=70000),
    ]


FIVE_OFF = Discount(kind=AMOUNT, value=500)


# Receipt 1 — INCLUSIVE (EU), tax rounded per line.
#   L1  3 × 2.99 @ 20 %      gross  8.97
#   L2  1 × 12.50 @ 20 %     gross 12.50, 10 % off = 1.25 → 11.25
#   L3  1 × 1.49 @ 7 %       gross  1.49
#   order discount 5.00 over 8.97 + 11.25 + 1.49 = 21.71 (2171):
#     L1 500 × 897 / 2171 = 448500 / 2171 = 206 r 1274
#     L2 500 × 1125 / 2171 = 562500 / 2171 = 259 r 211
#     L3 500 × 149 / 2171 = 74500 / 2171  =  34 r 686
#     floors 499, 1 cent left → largest remainder L1: 207, 259, 34 (= 500)
#   nets: 897 − 207 = 690; 1125 − 259 = 866; 149 − 34 = 115      (Σ 1671)
#   tax inside a 20 % price is net × 2000/12000 = net / 6; at 7 % net × 700/10700:
#     L1 690 / 6 = 115.000 → 115
#     L2 866 / 6 = 144.333 → 144
#     L3 115 × 7 / 107 = 7.523 → 8
#   20 %: base 690 + 866 = 1556, tax 259;  7 %: base 115, tax 8
#   subtotal 8.97 + 12.50 + 1.49 = 22.96; discount 1.25 + 5.00 = 6.25;
#   total 22.96 − 6.25 = 16.71; tax 2.67.
#   Per rate, TOTAL rounding agrees here: 1556 / 6 = 259.333 → 259.
RECEIPT_1 = SaleTotals(
    lines=(
        line(897, 0, 207, 690, 115, 690),
        line(1250, 125, 259, 866, 144, 866),
        line(149, 0, 34, 115, 8, 115),
    ),
    subtotal=2296,
    discount=625,
    tax=267,
    total=1671,
    taxes=(TaxLine(rate_ppm=70000, base=115, tax=8), TaxLine(rate_ppm=200000, base=1556, tax=259)),
)


def test_receipt_inclusive_line_rounding() -> None:
    totals = price_sale(eu_basket(1250), order_discount=FIVE_OFF, mode=INCLUSIVE, rounding=LINE)
    assert totals == RECEIPT_1


def test_receipt_inclusive_total_rounding_agrees_when_no_cent_is_lost() -> None:
    totals = price_sale(eu_basket(1250), order_discount=FIVE_OFF, mode=INCLUSIVE, rounding=TOTAL)
    assert totals == RECEIPT_1


# Receipt 2 — the same basket with the jacket at 13.50, where the two roundings part by a cent.
#   L1  3 × 2.99 @ 20 %      gross  8.97
#   L2  1 × 13.50 @ 20 %     gross 13.50, 10 % off = 1.35 → 12.15
#   L3  1 × 1.49 @ 7 %       gross  1.49
#   order discount 5.00 over 8.97 + 12.15 + 1.49 = 22.61 (2261):
#     L1 448500 / 2261 = 198 r 822
#     L2 607500 / 2261 = 268 r 1552
#     L3  74500 / 2261 =  32 r 2148
#     floors 498, 2 cents left → L3 (2148) then L2 (1552): 198, 269, 33 (= 500)
#   nets: 897 − 198 = 699; 1215 − 269 = 946; 149 − 33 = 116        (Σ 1761)
#   LINE rounding:
#     L1 699 / 6 = 116.5   → 117 (half-up)
#     L2 946 / 6 = 157.667 → 158
#     L3 116 × 7 / 107 = 7.589 → 8
#     20 %: base 1645, tax 275; 7 %: base 116, tax 8; receipt tax 2.83
#   TOTAL rounding:
#     20 %: 1645 / 6 = 274.167 → 274, spread over nets 699 : 946
#       274 × 699 / 1645 = 116 r 706; 274 × 946 / 1645 = 157 r 939 → 1 cent to L2: 116, 158
#     7 %: 8, all on L3; receipt tax 2.82
#   subtotal 8.97 + 13.50 + 1.49 = 23.96; discount 1.35 + 5.00 = 6.35; total 17.61 either way.
def test_receipt_inclusive_line_and_total_rounding_differ_by_a_cent() -> None:
    by_line = price_sale(eu_basket(1350), order_discount=FIVE_OFF, mode=INCLUSIVE, rounding=LINE)
    by_total = price_sale(eu_basket(1350), order_discount=FIVE_OFF, mode=INCLUSIVE, rounding=TOTAL)
    assert by_line == SaleTotals(
        lines=(
            line(897, 0, 198, 699, 117, 699),
            line(1350, 135, 269, 946, 158, 946),
            line(149, 0, 33, 116, 8, 116),
        ),
        subtotal=2396,
        discount=635,
        tax=283,
        total=1761,
        taxes=(
            TaxLine(rate_ppm=70000, base=116, tax=8),
            TaxLine(rate_ppm=200000, base=1645, tax=275),
        ),
    )
    assert by_total == SaleTotals(
        lines=(
            line(897, 0, 198, 699, 116, 699),
            line(1350, 135, 269, 946, 158, 946),
            line(149, 0, 33, 116, 8, 116),
        ),
        subtotal=2396,
        discount=635,
        tax=282,
        total=1761,
        taxes=(
            TaxLine(rate_ppm=70000, base=116, tax=8),
            TaxLine(rate_ppm=200000, base=1645, tax=274),
        ),
    )


# Receipt 3 — EXCLUSIVE (US), 8.25 % (825 bp; 8.875 % is 887.5 bp and has no integer basis points).
#   L1  1 × 5.99   tax 599 × 0.0825 = 49.4175
#   L2  1 × 9.99   tax 999 × 0.0825 = 82.4175
#   LINE:  49 + 82 = 1.31 tax; totals 6.48 + 10.81 = 17.29
#   TOTAL: 1598 × 0.0825 = 131.835 → 1.32, spread over 599 : 999
#     132 × 599 / 1598 = 49 r 766; 132 × 999 / 1598 = 82 r 832 → 1 cent to L2: 49, 83
#     totals 6.48 + 10.82 = 17.30
def test_receipt_exclusive_line_and_total_rounding_differ_by_a_cent() -> None:
    basket = [
        LineInput(qty=1, unit_price=599, tax_rate_ppm=82500),
        LineInput(qty=1, unit_price=999, tax_rate_ppm=82500),
    ]
    by_line = price_sale(basket, order_discount=None, mode=EXCLUSIVE, rounding=LINE)
    by_total = price_sale(basket, order_discount=None, mode=EXCLUSIVE, rounding=TOTAL)
    assert by_line == SaleTotals(
        lines=(line(599, 0, 0, 599, 49, 648), line(999, 0, 0, 999, 82, 1081)),
        subtotal=1598,
        discount=0,
        tax=131,
        total=1729,
        taxes=(TaxLine(rate_ppm=82500, base=1598, tax=131),),
    )
    assert by_total == SaleTotals(
        lines=(line(599, 0, 0, 599, 49, 648), line(999, 0, 0, 999, 83, 1082)),
        subtotal=1598,
        discount=0,
        tax=132,
        total=1730,
        taxes=(TaxLine(rate_ppm=82500, base=1598, tax=132),),
    )


def test_a_three_decimal_us_rate_is_exact() -> None:
    """8.875 % (New York City) is 88,750 ppm: 9.99 adds 0.886 → 0.89 tax, 10.88 in all."""
    totals = price_sale(
        [LineInput(qty=1, unit_price=999, tax_rate_ppm=88_750)],
        order_discount=None,
        mode=TaxMode.EXCLUSIVE,
        rounding=TaxRounding.LINE,
    )
    assert (totals.tax, totals.total) == (89, 1088)


def test_a_rate_in_fractions_of_a_ppm_is_refused() -> None:
    with pytest.raises(ValueError, match="tax_rate_ppm must be an int"):
        LineInput(qty=1, unit_price=100, tax_rate_ppm=88750.5)  # type: ignore[arg-type]


# Receipt 4 — weighed goods, INCLUSIVE 7 %.
#   1.234 kg × 3.99/kg = 1234 × 399 / 1000 = 492.366 → 4.92
#   tax 492 × 7 / 107 = 32.187 → 0.32
def test_receipt_weighed_goods() -> None:
    apples = LineInput(qty=1234, unit_price=399, tax_rate_ppm=70000, qty_scale=1000)
    totals = price_sale([apples], order_discount=None, mode=INCLUSIVE, rounding=LINE)
    assert totals == SaleTotals(
        lines=(line(492, 0, 0, 492, 32, 492),),
        subtotal=492,
        discount=0,
        tax=32,
        total=492,
        taxes=(TaxLine(rate_ppm=70000, base=492, tax=32),),
    )


def test_weighed_goods_round_half_up_not_half_even() -> None:
    # 0.500 kg × 3.97/kg = 198.5: half-up gives 199 where banker's rounding would give 198.
    half = LineInput(qty=500, unit_price=397, tax_rate_ppm=0, qty_scale=1000)
    assert half.gross == 199
    totals = price_sale([half], order_discount=None, mode=EXCLUSIVE, rounding=LINE)
    assert totals.lines[0].total == 199


# Receipt 5 — INCLUSIVE 20 %, with a voided line, a free line, a zero-rated line.
#   L1  1 × 10.00 @ 20 %                   gross 10.00
#   L2  1 × 50.00 @ 7 %, voided            all zeros, takes no discount, no 7 % tax line
#   L3  1 × 4.00 @ 20 %, 100 % off         gross 4.00, line discount 4.00 → 0.00
#   L4  2 × 3.00 @ 0 % (zero-rated)        gross 6.00
#   order discount 10 % of 10.00 + 0.00 + 6.00 = 16.00 → 1.60, spread 1000 : 0 : 600
#     160 × 1000 / 1600 = 100; 160 × 0 = 0; 160 × 600 / 1600 = 60 (exact)
#   nets 9.00, 0.00, 5.40; tax 900 / 6 = 150, 0, 0
#   subtotal 10 + 4 + 6 = 20.00; discount 4.00 + 1.60 = 5.60; total 14.40
def test_receipt_voided_free_and_zero_rated_lines() -> None:
    basket = [
        LineInput(qty=1, unit_price=1000, tax_rate_ppm=200000),
        LineInput(qty=1, unit_price=5000, tax_rate_ppm=70000, voided=True),
        LineInput(
            qty=1, unit_price=400, tax_rate_ppm=200000, discount=Discount(kind=PERCENT, value=10000)
        ),
        LineInput(qty=2, unit_price=300, tax_rate_ppm=0),
    ]
    for rounding in TaxRounding:
        totals = price_sale(
            basket,
            order_discount=Discount(kind=PERCENT, value=1000),
            mode=INCLUSIVE,
            rounding=rounding,
        )
        assert totals == SaleTotals(
            lines=(
                line(1000, 0, 100, 900, 150, 900),
                line(0, 0, 0, 0, 0, 0),
                line(400, 400, 0, 0, 0, 0),
                line(600, 0, 60, 540, 0, 540),
            ),
            subtotal=2000,
            discount=560,
            tax=150,
            total=1440,
            taxes=(
                TaxLine(rate_ppm=0, base=540, tax=0),
                TaxLine(rate_ppm=200000, base=900, tax=150),
            ),
        )


def test_an_amount_discount_larger_than_its_line_is_refused() -> None:
    with pytest.raises(ValueError, match="more than"):
        LineInput(qty=2, unit_price=150, tax_rate_ppm=0, discount=Discount(kind=AMOUNT, value=301))
    exact = LineInput(
        qty=2, unit_price=150, tax_rate_ppm=0, discount=Discount(kind=AMOUNT, value=300)
    )
    totals = price_sale([exact], order_discount=None, mode=INCLUSIVE, rounding=LINE)
    assert totals.lines[0] == line(300, 300, 0, 0, 0, 0)


def test_an_order_discount_larger_than_the_basket_is_refused() -> None:
    basket = [LineInput(qty=1, unit_price=999, tax_rate_ppm=200000)]
    with pytest.raises(ValueError, match="more than"):
        price_sale(
            basket, order_discount=Discount(kind=AMOUNT, value=1000), mode=INCLUSIVE, rounding=LINE
        )
    voided = [LineInput(qty=1, unit_price=999, tax_rate_ppm=200000, voided=True)]
    with pytest.raises(ValueError, match="more than"):
        price_sale(
            voided, order_discount=Discount(kind=AMOUNT, value=1), mode=INCLUSIVE, rounding=LINE
        )


def test_an_all_voided_sale_is_empty() -> None:
    basket = [LineInput(qty=1, unit_price=999, tax_rate_ppm=200000, voided=True)]
    totals = price_sale(
        basket, order_discount=Discount(kind=PERCENT, value=5000), mode=EXCLUSIVE, rounding=TOTAL
    )
    assert totals == SaleTotals(
        lines=(line(0, 0, 0, 0, 0, 0),), subtotal=0, discount=0, tax=0, total=0, taxes=()
    )


def test_order_discount_ties_go_by_line_content_not_position() -> None:
    # Three 1.00 lines share a 1-cent discount: every remainder is equal, so the cent goes to
    # the line that sorts first by content (the zero-rated one), wherever it was rung up.
    lines = [
        LineInput(qty=1, unit_price=100, tax_rate_ppm=200000),
        LineInput(qty=1, unit_price=100, tax_rate_ppm=0),
        LineInput(qty=1, unit_price=100, tax_rate_ppm=70000),
    ]
    cent = Discount(kind=AMOUNT, value=1)
    for order in ([0, 1, 2], [2, 0, 1], [1, 2, 0]):
        basket = [lines[i] for i in order]
        totals = price_sale(basket, order_discount=cent, mode=INCLUSIVE, rounding=LINE)
        shares = {basket[j].tax_rate_ppm: r.order_discount for j, r in enumerate(totals.lines)}
        assert shares == {0: 1, 70_000: 0, 200_000: 0}


# Refund — 3 × 3.50 less 0.50 = 10.00 INCLUSIVE 20 %, tax 1000 / 6 = 166.67 → 1.67.
#   refunded after m units: total 1000·m/3 → 333, 667, 1000; tax 167·m/3 → 56, 111, 167
#   one at a time: 3.33 (tax 0.56), 3.34 (0.55), 3.33 (0.56) = 10.00 (1.67)
def test_refund_one_at_a_time_adds_up_to_the_line() -> None:
    sold = LineInput(
        qty=3, unit_price=350, tax_rate_ppm=200000, discount=Discount(kind=AMOUNT, value=50)
    )
    (priced,) = price_sale([sold], order_discount=None, mode=INCLUSIVE, rounding=LINE).lines
    assert priced == line(1050, 50, 0, 1000, 167, 1000)
    steps = [refund_for(priced, sold_qty=3, returned_before=k, returning=1) for k in range(3)]
    assert steps == [(333, 56), (334, 55), (333, 56)]
    assert sum(t for t, _ in steps) == 1000
    assert sum(x for _, x in steps) == 167
    assert refund_for(priced, sold_qty=3, returned_before=0, returning=2) == (667, 111)
    assert refund_for(priced, sold_qty=3, returned_before=2, returning=1) == (333, 56)
    assert refund_for(priced, sold_qty=3, returned_before=0, returning=3) == (1000, 167)


@pytest.mark.parametrize(
    ("returned_before", "returning"), [(0, 4), (2, 2), (3, 1), (-1, 1), (0, 0), (0, -1)]
)
def test_refund_beyond_what_was_sold_is_refused(returned_before: int, returning: int) -> None:
    priced = line(1050, 50, 0, 1000, 167, 1000)
    with pytest.raises(ValueError, match="return"):
        refund_for(priced, sold_qty=3, returned_before=returned_before, returning=returning)


def test_refund_of_nothing_sold_is_refused() -> None:
    with pytest.raises(ValueError, match="sold_qty"):
        refund_for(line(0, 0, 0, 0, 0, 0), sold_qty=0, returned_before=0, returning=1)


def test_discount_amount_rounds_half_up() -> None:
    assert discount_amount(1250, Discount(kind=PERCENT, value=1000)) == 125
    assert discount_amount(1, Discount(kind=PERCENT, value=5000)) == 1  # 0.5 → 1
    assert discount_amount(1, Discount(kind=PERCENT, value=4999)) == 0
    assert discount_amount(999, Discount(kind=PERCENT, value=1250)) == 125  # 124.875
    assert discount_amount(999, Discount(kind=AMOUNT, value=999)) == 999
    with pytest.raises(ValueError, match="more than"):
        discount_amount(999, Discount(kind=AMOUNT, value=1000))
    with pytest.raises(ValueError, match="base"):
        discount_amount(-1, Discount(kind=AMOUNT, value=0))


def test_discount_share_bp_rounds_up() -> None:
    assert discount_share_bp(125, 1250) == 1000  # exactly 10 %
    assert discount_share_bp(126, 1250) == 1008  # 10.08 %
    assert discount_share_bp(1, 3) == 3334  # 33.33… % rounds up, so it trips a 3334 bp threshold
    assert discount_share_bp(1, 1_000_000) == 1  # any discount at all is at least 1 bp
    assert discount_share_bp(0, 1250) == 0
    assert discount_share_bp(0, 0) == 0
    assert discount_share_bp(5, 0) == 0
    with pytest.raises(ValueError, match="discount_amount"):
        discount_share_bp(-1, 100)


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        (PERCENT, -1, "percent discount is 0..10000"),
        (PERCENT, 10001, "percent discount is 0..10000"),
        (AMOUNT, -1, "amount discount must not be negative"),
        ("fixed", 1, "not a valid DiscountKind"),
        (PERCENT, True, "must be an int"),
        (AMOUNT, 1.5, "must be an int"),
    ],
)
def test_bad_discounts_are_refused(kind: DiscountKind, value: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Discount(kind=kind, value=value)


def test_discount_kind_from_json_string_is_the_enum() -> None:
    discount = Discount(kind="percent", value=1000)  # type: ignore[arg-type]
    assert discount.kind is PERCENT


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("qty", 0),
        ("qty", -1),
        ("qty", 1.5),
        ("unit_price", -1),
        ("tax_rate_ppm", -1),
        ("qty_scale", 0),
        ("voided", 1),
        ("discount", 10),
    ],
)
def test_bad_lines_are_refused(field: str, value: object) -> None:
    fields: dict[str, object] = {"qty": 1, "unit_price": 100, "tax_rate_ppm": 2000}
    fields[field] = value
    with pytest.raises(ValueError, match=field):
        LineInput(**fields)  # type: ignore[arg-type]


# --- properties of random baskets -------------------------------------------------------

RATES = [0, 50_000, 70_000, 82_500, 88_750, 200_000, 210_000]


@st.composite
def line_inputs(draw: st.DrawFn) -> LineInput:
    weighed = draw(st.booleans())
    qty = draw(st.integers(1, 5000) if weighed else st.integers(1, 12))
    qty_scale = 1000 if weighed else 1
    # Shelf prices repeat, so lines of equal weight (equal remainders: ties) come up often.
    unit_price = draw(st.sampled_from([0, 99, 100, 199, 250, 999]) | st.integers(0, 50_000))
    rate = draw(st.sampled_from(RATES))
    gross = LineInput(qty=qty, unit_price=unit_price, tax_rate_ppm=rate, qty_scale=qty_scale).gross
    discount = draw(
        st.one_of(
            st.none(),
            st.builds(Discount, kind=st.just(PERCENT), value=st.integers(0, 10_000)),
            st.builds(Discount, kind=st.just(AMOUNT), value=st.integers(0, gross)),
        )
    )
    return LineInput(
        qty=qty,
        unit_price=unit_price,
        tax_rate_ppm=rate,
        discount=discount,
        qty_scale=qty_scale,
        voided=draw(st.integers(0, 6)) == 0,
    )


def discountable(lines: list[LineInput]) -> int:
    """Σ (gross − line discount) over the lines not voided: what an order discount applies to."""
    return sum(
        ln.gross - (0 if ln.discount is None else discount_amount(ln.gross, ln.discount))
        for ln in lines
        if not ln.voided
    )


@st.composite
def baskets(draw: st.DrawFn) -> tuple[list[LineInput], Discount | None]:
    lines = draw(st.lists(line_inputs(), min_size=1, max_size=6))
    # Twins: copies of a line, some at another rate. Equal weights give equal remainders, so the
    # largest-remainder tie-break is exercised, and some twins are identical lines.
    twins = draw(
        st.lists(st.tuples(st.integers(0, len(lines) - 1), st.sampled_from(RATES)), max_size=2)
    )
    lines += [replace(lines[i], tax_rate_ppm=rate) for i, rate in twins]
    base = discountable(lines)
    order_discount = draw(
        st.one_of(
            st.none(),
            st.builds(Discount, kind=st.just(PERCENT), value=st.integers(0, 10_000)),
            st.builds(Discount, kind=st.just(AMOUNT), value=st.integers(0, base)),
        )
    )
    return lines, order_discount


modes = st.sampled_from(list(TaxMode))
roundings = st.sampled_from(list(TaxRounding))


def factor(rate_ppm: int, mode: TaxMode) -> Fraction:
    return Fraction(rate_ppm, 1_000_000 + rate_ppm if mode is INCLUSIVE else 1_000_000)


def half_up(value: Fraction) -> int:
    return round_fraction(value, Rounding.HALF_UP)


@given(baskets(), modes, roundings)
def test_totals_add_up(
    basket: tuple[list[LineInput], Discount | None], mode: TaxMode, rounding: TaxRounding
) -> None:
    lines, order_discount = basket
    totals = price_sale(lines, order_discount=order_discount, mode=mode, rounding=rounding)
    results = totals.lines
    assert len(results) == len(lines)
    assert sum(r.total for r in results) == totals.total
    assert sum(r.tax for r in results) == sum(t.tax for t in totals.taxes) == totals.tax
    assert sum(r.gross for r in results) == totals.subtotal
    if mode is INCLUSIVE:
        assert totals.total == totals.subtotal - totals.discount
    else:
        assert totals.total == totals.subtotal - totals.discount + totals.tax
    expected_order = (
        0 if order_discount is None else discount_amount(discountable(lines), order_discount)
    )
    assert sum(r.order_discount for r in results) == expected_order
    by_rate: dict[int, list[LineResult]] = defaultdict(list)
    for given_line, r in zip(lines, results, strict=True):
        assert r.net == r.gross - r.line_discount - r.order_discount
        assert r.net >= 0 and r.tax >= 0 and r.order_discount >= 0
        assert r.total == (r.net if mode is INCLUSIVE else r.net + r.tax)
        if given_line.voided:
            assert astuple(r) == (0, 0, 0, 0, 0, 0)
        else:
            by_rate[given_line.tax_rate_ppm].append(r)
            if rounding is LINE:
                assert r.tax == half_up(r.net * factor(given_line.tax_rate_ppm, mode))
    assert [t.rate_ppm for t in totals.taxes] == sorted(by_rate)
    for tax_line in totals.taxes:
        members = by_rate[tax_line.rate_ppm]
        assert tax_line.base == sum(r.net for r in members)
        assert tax_line.tax == sum(r.tax for r in members)
        if rounding is TOTAL:
            assert tax_line.tax == half_up(tax_line.base * factor(tax_line.rate_ppm, mode))


@given(st.data(), baskets(), modes, roundings)
def test_line_order_does_not_change_any_line(
    data: st.DataObject,
    basket: tuple[list[LineInput], Discount | None],
    mode: TaxMode,
    rounding: TaxRounding,
) -> None:
    lines, order_discount = basket
    perm = data.draw(st.permutations(range(len(lines))))
    shuffled = [lines[i] for i in perm]
    before = price_sale(lines, order_discount=order_discount, mode=mode, rounding=rounding)
    after = price_sale(shuffled, order_discount=order_discount, mode=mode, rounding=rounding)
    assert (after.subtotal, after.discount, after.tax, after.total, after.taxes) == (
        before.subtotal,
        before.discount,
        before.tax,
        before.total,
        before.taxes,
    )
    # Each line keeps its own result. Identical lines are interchangeable: between two equal
    # lines one cent may change hands, so they are compared as a group.
    expected: dict[LineInput, list[tuple[int, ...]]] = defaultdict(list)
    actual: dict[LineInput, list[tuple[int, ...]]] = defaultdict(list)
    for j, i in enumerate(perm):
        expected[lines[i]].append(astuple(before.lines[i]))
        actual[shuffled[j]].append(astuple(after.lines[j]))
    assert {k: sorted(v) for k, v in actual.items()} == {k: sorted(v) for k, v in expected.items()}
    for j, i in enumerate(perm):
        if lines.count(lines[i]) == 1:
            assert after.lines[j] == before.lines[i]


@st.composite
def partitions(draw: st.DrawFn, total: int) -> list[int]:
    """Split total into successive positive parts."""
    cuts = draw(st.sets(st.integers(1, total - 1), max_size=6)) if total > 1 else set()
    edges = [0, *sorted(cuts), total]
    return [b - a for a, b in itertools.pairwise(edges)]


@given(st.data(), baskets(), modes, roundings)
def test_any_sequence_of_returns_refunds_exactly_the_line(
    data: st.DataObject,
    basket: tuple[list[LineInput], Discount | None],
    mode: TaxMode,
    rounding: TaxRounding,
) -> None:
    lines, order_discount = basket
    totals = price_sale(lines, order_discount=order_discount, mode=mode, rounding=rounding)
    for sold, priced in zip(lines, totals.lines, strict=True):
        parts = data.draw(partitions(sold.qty))
        returned = 0
        refunded_total = refunded_tax = 0
        for part in parts:
            total, tax = refund_for(
                priced, sold_qty=sold.qty, returned_before=returned, returning=part
            )
            assert 0 <= total <= priced.total and 0 <= tax <= priced.tax
            refunded_total += total
            refunded_tax += tax
            returned += part
        assert (refunded_total, refunded_tax) == (priced.total, priced.tax)
        with pytest.raises(ValueError, match="returned"):
            refund_for(priced, sold_qty=sold.qty, returned_before=returned, returning=1)
