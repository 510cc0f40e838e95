// Hand-worked cases for the protocol port, beside the golden vectors of protocol.test.ts.
import { describe, expect, it } from "vitest";

import { denominations } from "./cash";
import { canonicalJson, type JsonValue } from "./canonical";
import { contentHash, EnvelopeError, formatAt, seal, verifyHash, verifyLink } from "./envelope";
import { Clock, compareHlc, Hlc } from "./hlc";
import { newId, UUID7_RE } from "./ids";
import { formatMoney, parseAmount, parseMoney, toDecimalString } from "./money";
import { discountShareBp, type LineInput, priceSale, refundFor } from "./pricing";

describe("a hand-computed receipt", () => {
  // 2 × 12.99 + 9.50 + 12.99 at 20 % included, tax per line: 2598 / 6 = 433, 950 / 6 = 158.33
  // → 158, 1299 / 6 = 216.5 → 217 (half up); 433 + 158 + 217 = 808.
  const lines: LineInput[] = [
    { qty: 2, unit_price: 1299, tax_rate_ppm: 200_000 },
    { qty: 1, unit_price: 950, tax_rate_ppm: 200_000 },
    { qty: 1, unit_price: 1299, tax_rate_ppm: 200_000 },
  ];

  it("prices it", () => {
    const totals = priceSale(lines, { orderDiscount: null, mode: "inclusive", rounding: "line" });
    expect(totals.subtotal).toBe(4847);
    expect(totals.discount).toBe(0);
    expect(totals.tax).toBe(808);
    expect(totals.total).toBe(4847);
    expect(totals.lines.map((l) => l.tax)).toEqual([433, 158, 217]);
    expect(totals.taxes).toEqual([{ rate_ppm: 200_000, base: 4847, tax: 808 }]);
  });

  it("rounds once per rate with total rounding: 4847 / 6 = 807.83 → 808", () => {
    const totals = priceSale(lines, { orderDiscount: null, mode: "inclusive", rounding: "total" });
    expect(totals.tax).toBe(808);
    expect(totals.lines.reduce((sum, l) => sum + l.tax, 0)).toBe(808);
  });

  it("refunds a line in parts that add up to it", () => {
    const totals = priceSale(lines, { orderDiscount: null, mode: "inclusive", rounding: "line" });
    const line = totals.lines[0];
    if (line === undefined) throw new Error("no line");
    const first = refundFor(line, { soldQty: 2, returnedBefore: 0, returning: 1 });
    const second = refundFor(line, { soldQty: 2, returnedBefore: 1, returning: 1 });
    expect(first).toEqual({ total: 1299, tax: 217 }); // 433 / 2 = 216.5 → 217
    expect(second).toEqual({ total: 1299, tax: 216 });
    expect(() => refundFor(line, { soldQty: 2, returnedBefore: 1, returning: 2 })).toThrow();
  });

  it("weighs goods in milli-units: 1.234 kg at 3.99 = 4.92366 → 4.92", () => {
    const weighed = { qty: 1234, qty_scale: 1000, unit_price: 399, tax_rate_ppm: 70_000 };
    const totals = priceSale([weighed], {
      orderDiscount: { kind: "percent", value: 1000 },
      mode: "exclusive",
      rounding: "line",
    });
    expect(totals.lines[0]).toEqual({
      gross: 492,
      line_discount: 0,
      order_discount: 49,
      net: 443,
      tax: 31,
      total: 474,
    });
  });

  it("refuses a result a JavaScript number cannot hold (Python would return a big int)", () => {
    expect(() => discountShareBp(Number.MAX_SAFE_INTEGER, 1)).toThrow(RangeError);
    expect(discountShareBp(1, 3)).toBe(3334);
  });
});

describe("canonical JSON", () => {
  it("follows RFC 8785", () => {
    expect(canonicalJson({ b: 1, a: [1, "x", null, true] })).toBe('{"a":[1,"x",null,true],"b":1}');
    expect(canonicalJson({ "é": 1, z: 2, "\u{1F600}": 3, "\uFF61": 4 })).toBe(
      '{"z":2,"é":1,"\u{1F600}":3,"\uFF61":4}',
    );
    expect(canonicalJson("line\nbreak\u001f\u2028")).toBe('"line\\nbreak\\u001f\u2028"');
    expect(canonicalJson(-0)).toBe("0");
  });

  it("refuses what it cannot hash exactly", () => {
    for (const bad of [1.5, Number.NaN, Infinity, 2 ** 53, "\uD800", { "\uDC00": 1 }]) {
      expect(() => canonicalJson(bad as JsonValue), String(bad)).toThrow();
    }
    expect(() => canonicalJson({ a: undefined } as unknown as JsonValue)).toThrow();
    expect(() => canonicalJson(new Date(0) as unknown as JsonValue)).toThrow();
  });
});

describe("envelopes", () => {
  const fields = {
    id: "0193a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b",
    type: "shift.opened",
    store: "s01",
    origin: "s01-r02",
    seq: 1,
    hlc: new Hlc(1_764_081_234_567, 3, "s01-r02"),
    at: "2026-11-25T10:05:03.120Z",
    actor: "staff-7",
    override: null,
    body: { shift: "0193a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2c" },
    prev: null,
  } as const;

  it("seals a chain that verifies", () => {
    const first = seal(fields);
    expect(first.v).toBe(1);
    expect(first.hlc).toBe("1764081234567.3.s01-r02");
    expect(first.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(contentHash({ ...first, hash: "ignored" })).toBe(first.hash);
    const second = seal({ ...fields, seq: 2, prev: first.hash, hlc: "1764081234568.0.s01-r02" });
    expect(verifyHash(second)).toBe(true);
    expect(verifyLink(first.hash, second)).toBe(true);
    expect(verifyLink(null, second)).toBe(false);
    expect(verifyHash({ ...second, seq: 3 })).toBe(false);
    expect(verifyHash({ ...second, store_seq: 41 } as typeof second)).toBe(true);
  });

  it("keeps a __proto__ key from JSON as a key", () => {
    const body = JSON.parse('{"__proto__": {"x": 1}, "a": 2}') as Record<string, unknown>;
    const sealed = seal({ ...fields, body });
    expect(Object.keys(sealed.body)).toEqual(["__proto__", "a"]);
    expect(canonicalJson(sealed.body)).toBe('{"__proto__":{"x":1},"a":2}');
  });

  it("names the field that breaks a rule", () => {
    expect(() => seal({ ...fields, hlc: "1.0.s01-r03" })).toThrow(EnvelopeError);
    const failure = ((): unknown => {
      try {
        seal({ ...fields, seq: 2 });
      } catch (error) {
        return error;
      }
      return null;
    })();
    expect(failure).toBeInstanceOf(EnvelopeError);
    expect((failure as EnvelopeError).field).toBe("prev");
  });

  it("formats at like toISOString within years 1970-9999", () => {
    for (const ms of [0, 1_764_081_234_567, 253_402_300_799_999, 951_782_400_000]) {
      expect(formatAt(ms)).toBe(new Date(ms).toISOString());
    }
  });
});

describe("HLC and clock", () => {
  it("never goes backwards and compares as tuples, not strings", () => {
    let wall = 2000;
    const clock = new Clock("s01-r02", { wall: () => wall });
    const a = clock.now();
    wall = 1000;
    const b = clock.now();
    expect(String(b)).toBe("2000.1.s01-r02");
    expect(compareHlc(a, b)).toBeLessThan(0);
    expect(compareHlc(Hlc.parse("9.0.a"), Hlc.parse("10.0.a"))).toBeLessThan(0);
    expect(`${b}`).toBe("2000.1.s01-r02");
  });

  it("clamps a remote stamp too far ahead", () => {
    const clock = new Clock("s01-r02", { wall: () => 1000, maxAheadMs: 300_000 });
    const seen = clock.observe(new Hlc(10_000_000, 4, "s01-r03"));
    expect(seen.clamped).toBe(true);
    expect(String(seen.hlc)).toBe("301000.1.s01-r02");
  });
});

describe("ids", () => {
  it("makes lowercase UUIDv7s that increase within a millisecond", () => {
    const ids = Array.from({ length: 5000 }, () => newId(1_764_081_234_567));
    for (const id of ids) expect(id).toMatch(UUID7_RE);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    const stamp = newId(1_900_000_000_000).replace(/-/g, "").slice(0, 12);
    expect(parseInt(stamp, 16)).toBe(1_900_000_000_000);
  });
});

describe("money", () => {
  it("formats minor units for a locale with the currency's decimals", () => {
    expect(formatMoney(1299, "EUR", "de-DE")).toBe("12,99\u00A0€");
    expect(formatMoney(-50, "EUR", "en-US")).toBe("-€0.50");
    expect(formatMoney(1200, "JPY", "en-US")).toBe("¥1,200");
    expect(formatMoney(1234, "BHD", "en-US")).toBe("BHD\u00A01.234");
    expect(formatMoney(Number.MAX_SAFE_INTEGER, "EUR", "en-US")).toBe("€90,071,992,547,409.91");
  });

  it("parses typed amounts", () => {
    expect(parseAmount("12.99", "EUR")).toBe(1299);
    expect(parseAmount("0.5", "EUR")).toBe(50);
    expect(parseAmount("-3", "JPY")).toBe(-3);
    expect(() => parseAmount("1.234", "EUR")).toThrow(/at most 2 decimals/);
    expect(() => parseAmount("1,50", "EUR")).toThrow(/separator/);
    expect(parseMoney("12.", "EUR")).toBeNull();
    expect(() => parseMoney("1", "XXX")).toThrow(/unknown currency/);
    expect(toDecimalString(-5, "EUR")).toBe("-0.05");
  });

  it("lists cash denominations", () => {
    expect(denominations("USD")).toContain(25);
    expect(denominations("JPY")).toEqual([500, 200, 100, 50, 20, 10, 5, 2, 1]);
  });
});
