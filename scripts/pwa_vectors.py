"""Write pwa/src/protocol/vectors.json: golden vectors from the Python protocol code that the
PWA's TypeScript port must reproduce exactly (tests/protocol/test_pwa_vectors.py keeps it fresh).

.venv/bin/python scripts/pwa_vectors.py
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from protocol.canonical import canonical_json, sha256_hex  # noqa: E402
from protocol.cash import DENOMINATIONS, denominations  # noqa: E402
from protocol.envelope import (  # noqa: E402
    EnvelopeError,
    Override,
    decode_envelope,
    envelope_dict,
    format_at,
    parse_at,
    seal,
)
from protocol.hlc import HLC, MAX_COUNTER, Clock  # noqa: E402
from protocol.money import CURRENCY_EXPONENTS, Money  # noqa: E402
from protocol.pricing import (  # noqa: E402
    BP,
    Discount,
    DiscountKind,
    LineInput,
    LineResult,
    TaxMode,
    TaxRounding,
    discount_amount,
    discount_share_bp,
    price_sale,
    refund_for,
)

TARGET = ROOT / "pwa" / "src" / "protocol" / "vectors.json"
SEED = 20261125
MAX_INT = 2**53 - 1
RATES = {"standard": 200_000, "reduced": 70_000, "zero": 0}
TAX_RATES = (0, 50_000, 70_000, 88_750, 190_000, 200_000, 255_000)
PRICES = (0, 1, 5, 99, 149, 299, 950, 1299, 1999, 4999, 12_345, 99_999)
# ASCII, Latin-1, CJK, an emoji (a surrogate pair in UTF-16), controls and ECMAScript's specials.
TRICKY_STRINGS = (
    "",
    "plain",
    'quote " and backslash \\',
    "slash / stays",
    "tab\tnewline\ncr\rbackspace\bformfeed\f",
    "".join(chr(c) for c in range(0x20)),
    "del \x7f and nbsp \xa0 and soft hyphen \xad",
    "line separator \u2028 paragraph separator \u2029",
    "Grüße, Ærøskøbing, façade, naïve",
    "日本語のレシート",
    "emoji \U0001f600 and flag \U0001f1eb\U0001f1f7",
    "\U0001f9fe receipt \u20ac12,99",
    "bom \ufeff and replacement \ufffd and private \ue000",
    "astral last \U0010ffff",
    "zero width joiner \U0001f468\u200d\U0001f469\u200d\U0001f467",
)
TRICKY_KEYS = (
    "a",
    "b",
    "B",
    "aa",
    "",
    "_",
    "1",
    "10",
    "2",
    "é",
    "z",
    "\U0001f600",
    "\uff61",
    "\ufb01",
    "\u20ac",
    "\x7f",
    "\x00",
)

Vectors = dict[str, Any]


def uuid7(rnd: random.Random, ms: int) -> str:
    """A UUIDv7 from a millisecond timestamp and seeded random bits (reproducible, unlike new_id)."""
    value = (ms << 80) | (0x7 << 76) | (rnd.getrandbits(12) << 64)
    value |= (0b10 << 62) | rnd.getrandbits(62)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _mark(value: Any) -> Any:
    """Write lone surrogates as "<lone:d800>": Vite's JSON loader refuses them even escaped."""
    if isinstance(value, str):
        return "".join(
            f"<lone:{ord(ch):04x}>" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in value
        )
    if isinstance(value, list):
        return [_mark(item) for item in value]
    if isinstance(value, dict):
        return {_mark(key): _mark(item) for key, item in value.items()}
    return value


def _raises(action: Callable[..., object], *args: Any, **kwargs: Any) -> bool:
    """Tell whether action(*args, **kwargs) raises ValueError (what the port must throw for)."""
    try:
        action(*args, **kwargs)
    except ValueError:
        return True
    return False


def canonical_vectors(rnd: random.Random) -> Vectors:
    """Canonical JSON of tricky strings, key orders, integers and nesting."""
    values: list[Any] = [None, True, False, 0, -1, 1, MAX_INT, -MAX_INT, 1_000_000, [], {}]
    values += list(TRICKY_STRINGS)
    values.append({key: index for index, key in enumerate(TRICKY_KEYS)})
    values.append({key: {"v": key} for key in reversed(TRICKY_KEYS)})
    values.append([list(TRICKY_STRINGS), {"nested": {"deeper": [1, [2, [3, {"x": None}]]]}}])
    for _ in range(40):
        values.append(_random_json(rnd, 3))
    cases = []
    for value in values:
        text = canonical_json(value)
        cases.append({"value": value, "json": text.decode(), "sha256": sha256_hex(text)})
    refused = ["\ud800", "a\udfffb", {"k\udc00": 1}, 2**53, -(2**53), [2**60]]
    errors = []
    for value in refused:
        assert _raises(canonical_json, value)
        errors.append({"value": _mark(value)})
    return {"cases": cases, "errors": errors}


def _random_json(rnd: random.Random, depth: int) -> Any:
    choice = rnd.randrange(7 if depth > 0 else 5)
    if choice == 0:
        return None
    if choice == 1:
        return rnd.random() < 0.5
    if choice == 2:
        return rnd.choice((rnd.randint(-1000, 1000), rnd.randint(-MAX_INT, MAX_INT)))
    if choice in (3, 4):
        return rnd.choice(TRICKY_STRINGS) + rnd.choice(("", "x", "\u00e9", "\U0001f600"))
    if choice == 5:
        return [_random_json(rnd, depth - 1) for _ in range(rnd.randrange(4))]
    keys = rnd.sample(TRICKY_KEYS, rnd.randrange(5))
    return {key: _random_json(rnd, depth - 1) for key in keys}


def at_vectors(rnd: random.Random) -> Vectors:
    """format_at and parse_at across the years 1-9999, and the texts and times they refuse."""
    fixed = [0, -1, 1, 999, 1000, 86_399_999, 86_400_000, -86_400_000, 951_782_400_000]
    fixed += [1_764_081_234_567, 4_107_542_400_000, -62_135_596_800_000, 253_402_300_799_999]
    fixed += [rnd.randint(-62_135_596_800_000, 253_402_300_799_999) for _ in range(40)]
    fixed += [rnd.randint(1_700_000_000_000, 1_900_000_000_000) for _ in range(20)]
    cases: list[Vectors] = [{"ms": ms, "text": format_at(ms)} for ms in fixed]
    for case in cases:
        assert parse_at(case["text"]) == case["ms"]
    bad_ms = [-62_135_596_800_001, 253_402_300_800_000, MAX_INT]
    for ms in bad_ms:
        assert _raises(format_at, ms)
    bad_text = [
        "2026-02-29T00:00:00.000Z",
        "2024-02-30T00:00:00.000Z",
        "2026-13-01T00:00:00.000Z",
        "2026-00-10T00:00:00.000Z",
        "2026-04-31T00:00:00.000Z",
        "0000-01-01T00:00:00.000Z",
        "2026-11-25T24:00:00.000Z",
        "2026-11-25T23:60:00.000Z",
        "2026-11-25T23:59:60.000Z",
        "2026-11-25T10:05:03.12Z",
        "2026-11-25T10:05:03.120",
        "2026-11-25 10:05:03.120Z",
        "2026-11-25T10:05:03.120+00:00",
        "2026-11-25T10:05:03.120Z\n",
        "\uff12026-11-25T10:05:03.120Z",
    ]
    for text in bad_text:
        assert _raises(parse_at, text)
    good_text = ["2024-02-29T23:59:59.999Z", "2000-02-29T12:00:00.000Z", "0001-01-01T00:00:00.000Z"]
    parsed = [{"text": text, "ms": parse_at(text)} for text in good_text]
    return {"format": cases, "parse": parsed, "bad_ms": bad_ms, "bad_text": bad_text}


def hlc_vectors(rnd: random.Random) -> Vectors:
    """HLC strings that parse and those that do not, comparisons, and scripted clock traces."""
    good = ["0.0.a", "1.0.s01-r02", "1764081234567.3.s01-r02", f"{MAX_INT}.{MAX_COUNTER}.n"]
    good += ["9.65535." + "x" * 40, "1.2.3", "10.0.-"]
    good += [
        str(HLC(rnd.randint(0, MAX_INT), rnd.randint(0, MAX_COUNTER), "s01-ap")) for _ in range(8)
    ]
    parsed = []
    for text in good:
        stamp = HLC.parse(text)
        parsed.append(
            {"text": text, "wall_ms": stamp.wall_ms, "counter": stamp.counter, "node": stamp.node}
        )
    bad = [
        "",
        "1.0",
        "01.0.a",
        "1.00.a",
        "-1.0.a",
        "1.-1.a",
        "1.65536.a",
        "1.100000.a",
        "9007199254740992.0.a",
        "99999999999999999.0.a",
        "1.0.A",
        "1.0.",
        "1.0.a.b",
        "1.0.a_b",
        "1.0.a\n",
        " 1.0.a",
        "1.0." + "x" * 41,
        "\u0661.0.a",
    ]
    for text in bad:
        assert _raises(HLC.parse, text)
    stamps = [
        HLC(5, 0, "a"),
        HLC(5, 0, "b"),
        HLC(5, 1, "a"),
        HLC(6, 0, "a"),
        HLC(10, 0, "a"),
        HLC(9, 65535, "z"),
        HLC(5, 0, "a-"),
        HLC(5, 0, "a0"),
    ]
    compared = [
        {"a": str(a), "b": str(b), "order": (a > b) - (a < b)} for a in stamps for b in stamps
    ]
    return {
        "parse": parsed,
        "bad": bad,
        "compare": compared,
        "clocks": [_clock_trace(rnd, index) for index in range(12)],
    }


def _clock_trace(rnd: random.Random, index: int) -> Vectors:
    """A clock driven by a scripted wall: each step is now() or observe(remote)."""
    walls: list[int] = []
    node = f"s01-r{index:02d}"
    max_ahead = rnd.choice((0, 1000, 300_000))
    last = None
    if index % 3 == 1:
        last = HLC(1_000_000, rnd.choice((0, 7, MAX_COUNTER)), node)
    clock = Clock(
        node,
        wall=lambda: walls[-1],
        last=last,
        max_ahead_ms=max_ahead,
    )
    steps = []
    wall = 1_000_000 + rnd.randint(-3, 3)
    for _ in range(25):
        wall += rnd.choice((0, 0, 1, -2, 5, 400))
        walls.append(wall)
        if rnd.random() < 0.5:
            steps.append({"op": "now", "wall": wall, "hlc": str(clock.now())})
            continue
        remote_wall = wall + rnd.choice((-10, 0, 0, 1, 999, 1001, 300_000, 300_001, 10**7))
        remote_counter = rnd.choice((0, 1, 5, MAX_COUNTER))
        remote = HLC(max(remote_wall, 0), remote_counter, "s01-r99")
        seen = clock.observe(remote)
        steps.append(
            {
                "op": "observe",
                "wall": wall,
                "remote": str(remote),
                "hlc": str(seen.hlc),
                "clamped": seen.clamped,
            }
        )
    return {
        "node": node,
        "max_ahead_ms": max_ahead,
        "last": None if last is None else str(last),
        "steps": steps,
    }


def _discount(spec: Mapping[str, Any] | None) -> Discount | None:
    if spec is None:
        return None
    return Discount(kind=DiscountKind(spec["kind"]), value=spec["value"])


def _line(spec: Mapping[str, Any]) -> LineInput:
    return LineInput(
        qty=spec["qty"],
        unit_price=spec["unit_price"],
        tax_rate_ppm=spec["tax_rate_ppm"],
        discount=_discount(spec.get("discount")),
        qty_scale=spec.get("qty_scale", 1),
        voided=spec.get("voided", False),
    )


def _line_result(result: LineResult) -> Vectors:
    return {
        "gross": result.gross,
        "line_discount": result.line_discount,
        "order_discount": result.order_discount,
        "net": result.net,
        "tax": result.tax,
        "total": result.total,
    }


def price_case(spec: Mapping[str, Any]) -> Vectors:
    """Price a sale given as JSON, as the TypeScript test will; raise ValueError as Python does."""
    totals = price_sale(
        [_line(line) for line in spec["lines"]],
        order_discount=_discount(spec["order_discount"]),
        mode=TaxMode(spec["mode"]),
        rounding=TaxRounding(spec["rounding"]),
    )
    return {
        "lines": [_line_result(line) for line in totals.lines],
        "subtotal": totals.subtotal,
        "discount": totals.discount,
        "tax": totals.tax,
        "total": totals.total,
        "taxes": [{"rate_ppm": t.rate_ppm, "base": t.base, "tax": t.tax} for t in totals.taxes],
    }


def _random_line(rnd: random.Random) -> Vectors:
    weighed = rnd.random() < 0.2
    line: Vectors = {
        "qty": rnd.randint(1, 2500) if weighed else rnd.choice((1, 1, 1, 2, 3, 7, 12)),
        "unit_price": rnd.choice(PRICES) if rnd.random() < 0.6 else rnd.randint(0, 50_000),
        "tax_rate_ppm": rnd.choice(TAX_RATES),
    }
    if weighed:
        line["qty_scale"] = 1000
    gross = (line["qty"] * line["unit_price"] * 2 + line.get("qty_scale", 1)) // (
        2 * line.get("qty_scale", 1)
    )
    roll = rnd.random()
    if roll < 0.25:
        line["discount"] = {
            "kind": "percent",
            "value": rnd.choice((0, 500, 1000, 1250, 3333, 10_000, rnd.randint(0, 10_000))),
        }
    elif roll < 0.45:
        line["discount"] = {"kind": "amount", "value": rnd.randint(0, gross)}
    if rnd.random() < 0.1:
        line["voided"] = True
    return line


def pricing_vectors(rnd: random.Random) -> Vectors:
    """Sales across tax modes, rounding, line and order discounts, voids and weighed goods."""
    specs: list[Vectors] = []
    # The receipt of the PWA test: 2 × 12.99 + 9.50 + 12.99 at 20 % included, per-line rounding.
    hand = [
        {"qty": 2, "unit_price": 1299, "tax_rate_ppm": 200_000},
        {"qty": 1, "unit_price": 950, "tax_rate_ppm": 200_000},
        {"qty": 1, "unit_price": 1299, "tax_rate_ppm": 200_000},
    ]
    for mode in ("inclusive", "exclusive"):
        for rounding in ("line", "total"):
            specs.append(
                {"lines": hand, "order_discount": None, "mode": mode, "rounding": rounding}
            )
            # Identical lines in two orders: ties in the split go by line content, then position.
            same = [{"qty": 1, "unit_price": 100, "tax_rate_ppm": 70_000}] * 3
            mixed = [
                {"qty": 1, "unit_price": 101, "tax_rate_ppm": 200_000},
                {
                    "qty": 1,
                    "unit_price": 100,
                    "tax_rate_ppm": 200_000,
                    "discount": {"kind": "amount", "value": 0},
                },
                {"qty": 1, "unit_price": 100, "tax_rate_ppm": 200_000},
                {
                    "qty": 1,
                    "unit_price": 100,
                    "tax_rate_ppm": 200_000,
                    "discount": {"kind": "percent", "value": 0},
                },
            ]
            for lines in (same, mixed, list(reversed(mixed))):
                for value in (1, 2, 100):
                    specs.append(
                        {
                            "lines": lines,
                            "order_discount": {"kind": "amount", "value": value},
                            "mode": mode,
                            "rounding": rounding,
                        }
                    )
            specs.append({"lines": [], "order_discount": None, "mode": mode, "rounding": rounding})
            specs.append(
                {
                    "lines": [{"qty": 1, "unit_price": 0, "tax_rate_ppm": 200_000}],
                    "order_discount": {"kind": "percent", "value": 5000},
                    "mode": mode,
                    "rounding": rounding,
                }
            )
            # Large but exact: the products pass 2^53, the results do not.
            specs.append(
                {
                    "lines": [
                        {"qty": 3, "unit_price": 2**50, "tax_rate_ppm": 1, "qty_scale": 1000},
                        {"qty": 999_999, "unit_price": 999_999_999, "tax_rate_ppm": 255_000},
                    ],
                    "order_discount": {"kind": "percent", "value": 3333},
                    "mode": mode,
                    "rounding": rounding,
                }
            )
    for _ in range(220):
        lines = [_random_line(rnd) for _ in range(rnd.randint(1, 7))]
        order: Vectors | None = None
        roll = rnd.random()
        if roll < 0.3:
            order = {
                "kind": "percent",
                "value": rnd.choice((1000, 1500, 2500, 10_000, rnd.randint(0, 10_000))),
            }
        elif roll < 0.55:
            try:
                base = sum(
                    line.net + line.order_discount
                    for line in price_sale(
                        [_line(x) for x in lines],
                        order_discount=None,
                        mode=TaxMode.INCLUSIVE,
                        rounding=TaxRounding.LINE,
                    ).lines
                )
            except ValueError:
                base = 0
            order = {"kind": "amount", "value": rnd.randint(0, base)}
        specs.append(
            {
                "lines": lines,
                "order_discount": order,
                "mode": rnd.choice(("inclusive", "exclusive")),
                "rounding": rnd.choice(("line", "total")),
            }
        )
    cases = [{**spec, "result": price_case(spec)} for spec in specs]

    ok = {"qty": 1, "unit_price": 500, "tax_rate_ppm": 200_000}
    bad_specs: list[Vectors] = [
        {"lines": [{**ok, "qty": 0}]},
        {"lines": [{**ok, "qty": -1}]},
        {"lines": [{**ok, "qty_scale": 0}]},
        {"lines": [{**ok, "unit_price": -1}]},
        {"lines": [{**ok, "tax_rate_ppm": -1}]},
        {"lines": [{**ok, "discount": {"kind": "amount", "value": 501}}]},
        {"lines": [{**ok, "discount": {"kind": "amount", "value": -1}}]},
        {"lines": [{**ok, "discount": {"kind": "percent", "value": 10_001}}]},
        {"lines": [{**ok, "discount": {"kind": "percent", "value": -1}}]},
        {"lines": [{**ok, "discount": {"kind": "fixed", "value": 1}}]},
        {"lines": [{**ok, "voided": True, "discount": {"kind": "amount", "value": 600}}]},
        {"lines": [ok], "order_discount": {"kind": "amount", "value": 501}},
        {"lines": [ok, {**ok, "voided": True}], "order_discount": {"kind": "amount", "value": 501}},
        {"lines": [], "order_discount": {"kind": "amount", "value": 1}},
        {"lines": [ok], "mode": "gross"},
        {"lines": [ok], "rounding": "receipt"},
    ]
    errors = []
    for bad in bad_specs:
        spec: Vectors = {"order_discount": None, "mode": "inclusive", "rounding": "line", **bad}
        assert _raises(price_case, spec), spec
        errors.append(spec)
    return {"cases": cases, "errors": errors}


def refund_vectors(rnd: random.Random, priced: list[Vectors]) -> Vectors:
    """refund_for over priced lines, and discount_amount and discount_share_bp."""
    refunds = []
    for case in rnd.sample(priced, 60):
        line = rnd.choice(case["result"]["lines"])
        sold = rnd.randint(1, 12)
        before = rnd.randint(0, sold - 1)
        returning = rnd.randint(1, sold - before)
        total, tax = refund_for(
            LineResult(**line), sold_qty=sold, returned_before=before, returning=returning
        )
        refunds.append(
            {
                "line": line,
                "sold_qty": sold,
                "returned_before": before,
                "returning": returning,
                "total": total,
                "tax": tax,
            }
        )
    odd = {"gross": -7, "line_discount": 0, "order_discount": 0, "net": -7, "tax": -3, "total": -7}
    for sold, before, returning in ((2, 0, 1), (2, 1, 1), (3, 0, 2)):
        total, tax = refund_for(
            LineResult(**odd), sold_qty=sold, returned_before=before, returning=returning
        )
        refunds.append(
            {
                "line": odd,
                "sold_qty": sold,
                "returned_before": before,
                "returning": returning,
                "total": total,
                "tax": tax,
            }
        )
    refund_errors = [
        {"sold_qty": 0, "returned_before": 0, "returning": 1},
        {"sold_qty": 2, "returned_before": -1, "returning": 1},
        {"sold_qty": 2, "returned_before": 0, "returning": 0},
        {"sold_qty": 2, "returned_before": 1, "returning": 2},
    ]
    line = LineResult(gross=100, line_discount=0, order_discount=0, net=100, tax=17, total=100)
    for counts in refund_errors:
        assert _raises(refund_for, line, **counts)

    shares = []
    pairs = [
        (0, 0),
        (5, 0),
        (0, 100),
        (1, 3),
        (1, 10_000),
        (1, 10_001),
        (250, 1000),
        (MAX_INT // BP, 1),
    ]
    pairs += [(rnd.randint(0, 5000), rnd.randint(1, 100_000)) for _ in range(30)]
    for amount, base in pairs:
        shares.append(
            {"discount_amount": amount, "base": base, "bp": discount_share_bp(amount, base)}
        )
    share_errors = [[-1, 5], [5, -1]]

    amounts = []
    for _ in range(40):
        base = rnd.randint(0, 100_000)
        kind = rnd.choice(("percent", "amount"))
        value = rnd.randint(0, 10_000) if kind == "percent" else rnd.randint(0, base)
        off = discount_amount(base, Discount(kind=DiscountKind(kind), value=value))
        amounts.append({"base": base, "discount": {"kind": kind, "value": value}, "amount": off})
    amount_errors: list[Vectors] = [
        {"base": -1, "discount": {"kind": "percent", "value": 10}},
        {"base": 5, "discount": {"kind": "amount", "value": 6}},
    ]
    for bad in amount_errors:
        bad_discount = _discount(bad["discount"])
        assert _raises(discount_amount, bad["base"], bad_discount)
    return {
        "refunds": refunds,
        "refund_errors": refund_errors,
        "discount_share_bp": shares,
        "discount_share_bp_errors": share_errors,
        "discount_amount": amounts,
        "discount_amount_errors": amount_errors,
    }


def _sale_body(
    rnd: random.Random, receipt: str, shift: str, mode: TaxMode, rounding: TaxRounding
) -> Vectors:
    """A sale.completed body the way tests/appliance/till.py builds one."""
    items = []
    for number in range(1, rnd.randint(1, 5) + 1):
        item: Vectors = {
            "line": number,
            "variant": f"v-{rnd.randint(1, 999):03d}",
            "qty": rnd.choice((1, 1, 2, 3)),
            "unit_price": rnd.choice(PRICES[1:]),
        }
        if rnd.random() < 0.25:
            item["discount"] = {"kind": "percent", "value": rnd.choice((500, 1000, 2500))}
            if rnd.random() < 0.5:
                item["discount"]["approval"] = uuid7(rnd, 1_764_081_000_000)
        if rnd.random() < 0.1:
            item["voided"] = True
        items.append(item)
    taxes = [rnd.choice(list(RATES.values())) for _ in items]
    order = {"kind": "amount", "value": 100} if rnd.random() < 0.2 else None
    totals = price_case(
        {
            "lines": [
                {
                    "qty": item["qty"],
                    "unit_price": item["unit_price"],
                    "tax_rate_ppm": rate,
                    "discount": None
                    if "discount" not in item
                    else {"kind": item["discount"]["kind"], "value": item["discount"]["value"]},
                    "voided": item.get("voided", False),
                }
                for item, rate in zip(items, taxes, strict=True)
            ],
            "order_discount": order,
            "mode": mode.value,
            "rounding": rounding.value,
        }
    )
    body: Vectors = {
        "receipt": receipt,
        "shift": shift,
        "catalog_version": rnd.randint(1, 10**9),
        "currency": "EUR",
        "lines": items,
        "tenders": [{"kind": "card", "amount": totals["total"], "reference": "T-1"}],
        "totals": {key: totals[key] for key in ("subtotal", "discount", "tax", "total")},
    }
    if order is not None:
        body["order_discount"] = order
    if rnd.random() < 0.3:
        body["note"] = rnd.choice(TRICKY_STRINGS)
    if rnd.random() < 0.15:
        # Non-ASCII keys take the general RFC 8785 path in Python (UTF-16 key order).
        body["meta"] = {key: rnd.randint(-5, 5) for key in rnd.sample(TRICKY_KEYS, 5)}
    return body


def _reader(cell: list[int]) -> Callable[[], int]:
    """A wall clock that reads the first item of cell, which the caller moves."""
    return lambda: cell[0]


def envelope_vectors(rnd: random.Random) -> Vectors:
    """Chains of sealed events per register (sales, shifts, cash), and envelopes that break rules."""
    chains: list[list[Vectors]] = []
    for register in range(3):
        origin = f"s01-r{register + 1:02d}"
        wall = [1_764_081_234_567 + register * 7919]
        clock = Clock(origin, wall=_reader(wall))
        mode = (TaxMode.INCLUSIVE, TaxMode.EXCLUSIVE, TaxMode.INCLUSIVE)[register]
        rounding = (TaxRounding.LINE, TaxRounding.TOTAL, TaxRounding.TOTAL)[register]
        prev: str | None = None
        shift = uuid7(rnd, wall[0])
        events: list[Vectors] = []
        for seq in range(1, 16):
            wall[0] += rnd.choice((0, 1, 250, 61_000))
            if seq == 1:
                kind = "shift.opened"
                body: Vectors = {
                    "shift": shift,
                    "float": {
                        "counts": {"2000": 5, "1000": 5, "500": 4, "100": 20},
                        "total": 17_000,
                    },
                }
            elif seq % 5 == 0:
                kind = "cash.moved"
                body = {
                    "shift": shift,
                    "kind": "pay_in",
                    "amount": rnd.randint(1, 5000),
                    "reason": rnd.choice(TRICKY_STRINGS),
                }
            else:
                kind = "sale.completed"
                body = _sale_body(rnd, f"{origin}-{seq:06d}", shift, mode, rounding)
            override: Vectors | None = None
            if rnd.random() < 0.2:
                override = {
                    "id": uuid7(rnd, wall[0]),
                    "action": rnd.choice(
                        ("discount.large", "line.void", "Überschreiben \U0001f511")
                    ),
                    "approver": "staff-2",
                    "offline": rnd.random() < 0.5,
                }
            fields: Vectors = {
                "id": uuid7(rnd, wall[0]),
                "type": kind,
                "store": "s01",
                "origin": origin,
                "seq": seq,
                "hlc": str(clock.now()),
                "at": format_at(wall[0]),
                "actor": rnd.choice(("staff-7", "staff-12", None)),
                "override": override,
                "body": body,
                "prev": prev,
            }
            env = seal(**{**fields, "override": None if override is None else Override(**override)})
            sealed = envelope_dict(env)
            unsealed = {key: value for key, value in sealed.items() if key != "hash"}
            events.append(
                {
                    "fields": fields,
                    "envelope": sealed,
                    "canonical": canonical_json(unsealed).decode(),
                }
            )
            prev = env.hash
        chains.append(events)

    good = chains[0][4]["envelope"]  # a small cash.moved at seq 5
    changes: list[Vectors] = [
        {"v": 2},
        {"v": "1"},
        {"id": "0193a1b2-c3d4-4e5f-8a6b-7c8d9e0f1a2b"},
        {"id": good["id"].upper()},
        {"type": "sale.refunded"},
        {"store": "S01"},
        {"origin": "s02-r01"},
        {"origin": "s01-r1"},
        {"seq": 0},
        {"seq": MAX_INT + 1},
        {"seq": 1},
        {"hlc": "1764081234567.3.s01-r09"},
        {"hlc": "1764081234567.03.s01-r01"},
        {"at": "2026-02-29T10:05:03.120Z"},
        {"at": 1_764_081_234_567},
        {"actor": "Staff 7"},
        {"actor": ""},
        {"override": {"id": good["id"], "action": "x", "approver": "staff-2"}},
        {"override": {"id": good["id"], "action": "x", "approver": "staff-2", "offline": 1}},
        {
            "override": {
                "id": good["id"],
                "action": "x",
                "approver": "staff-2",
                "offline": True,
                "why": "x",
            }
        },
        {
            "override": {
                "id": good["id"],
                "action": "\ud800",
                "approver": "staff-2",
                "offline": True,
            }
        },
        {"override": []},
        {"body": []},
        {"body": {"n": 2**53}},
        {"body": {"s": "lone \udc00"}},
        {"body": {"k\ud800": 1}},
        {"body": {"deep": _nested(32)}},
        {"prev": None},
        {"prev": "ABC"},
        {"hash": "0" * 63},
        {"extra": 1},
        {"zzz": 1, "aaa": 2},
    ]
    errors = []
    for change in changes:
        raw = {**good, **change}
        try:
            decode_envelope(raw)
        except EnvelopeError as exc:
            errors.append({"raw": _mark(raw), "field": _mark(exc.field)})
        else:
            raise AssertionError(f"decode_envelope accepted {change}")
    for missing in ("v", "body", "hash", "actor"):
        raw = {key: value for key, value in good.items() if key != missing}
        try:
            decode_envelope(raw)
        except EnvelopeError as exc:
            errors.append({"raw": raw, "field": exc.field})
    deep_enough = {**good, "body": {"deep": _nested(31)}}
    decode_envelope(deep_enough)
    return {"chains": chains, "errors": errors, "accepted": [deep_enough]}


def _nested(depth: int) -> Any:
    """A value with depth levels of nested lists under its holder."""
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


def money_vectors(rnd: random.Random) -> Vectors:
    """Parsing typed amounts, decimal strings, splitting amounts, and cash denominations."""
    texts = ["12.99", "0.5", "-3", "-0", "0", "007.10", "1.234", "1.2345", "12", "-0.01"]
    texts += ["90071992547409.91", "-90071992547409.91", "90071992547409.92", "9007199254740991"]
    texts += ["0000000000000000000001.5", "99999999999999999", "", " 1", "1 ", "1,5", "1'000"]
    texts += ["1_000", "1\u00a0000", "1e3", "1.5E-2", "nan", "-Infinity", "abc", "+1", ".5", "5."]
    texts += ["--1", "1.2.3", "\u0661", "\uff11", "1\x1c"]
    parsed: list[Vectors] = []
    for currency in ("EUR", "JPY", "BHD", "CLF", "ISK"):
        for text in texts:
            try:
                money = Money.parse(text, currency)
            except ValueError:
                parsed.append({"text": text, "currency": currency, "amount": None})
            else:
                parsed.append({"text": text, "currency": currency, "amount": money.amount})
    amounts = [0, 1, -1, 5, 99, 100, -100, 123_456, MAX_INT, -MAX_INT]
    amounts += [rnd.randint(-(10**9), 10**9) for _ in range(10)]
    decimals: list[Vectors] = [
        {
            "amount": amount,
            "currency": currency,
            "text": Money(amount, currency).to_decimal_string(),
        }
        for currency in ("EUR", "JPY", "BHD", "CLF")
        for amount in amounts
    ]
    for case in decimals:
        assert Money.parse(case["text"], case["currency"]).amount == case["amount"]
    splits = []
    for _ in range(40):
        amount = rnd.randint(-10_000, 10_000)
        weights = [
            rnd.choice((0, 1, 1, 2, 3, rnd.randint(0, 1000))) for _ in range(rnd.randint(1, 5))
        ]
        if sum(weights) == 0:
            weights[0] = 1
        parts = Money(amount, "EUR").allocate(weights)
        splits.append({"amount": amount, "weights": weights, "parts": [p.amount for p in parts]})
    listed = sorted(DENOMINATIONS)
    return {
        "exponents": dict(CURRENCY_EXPONENTS),
        "parse": parsed,
        "decimal": decimals,
        "allocate": splits,
        "denominations": {
            code: list(denominations(code)) for code in [*listed, "JPY", "BHD", "CLF", "CZK"]
        },
    }


def generate() -> Vectors:
    """Build every vector from the Python protocol code; the same seed gives the same vectors."""
    rnd = random.Random(SEED)
    pricing = pricing_vectors(rnd)
    return {
        "canonical": canonical_vectors(rnd),
        "at": at_vectors(rnd),
        "hlc": hlc_vectors(rnd),
        "pricing": pricing,
        "refunds": refund_vectors(rnd, pricing["cases"]),
        "envelopes": envelope_vectors(rnd),
        "money": money_vectors(rnd),
    }


def render(vectors: Vectors) -> str:
    """The file's text: sorted keys, indent 1, ASCII (lone surrogates stay escaped), newline."""
    return json.dumps(vectors, sort_keys=True, indent=1, ensure_ascii=True) + "\n"


def main() -> None:
    """Regenerate the file; tests/protocol/test_pwa_vectors.py fails while it is stale."""
    TARGET.write_text(render(generate()), encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
