// Every golden vector from scripts/pwa_vectors.py (the Python protocol code) against the port.
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";
import { describe, expect, it } from "vitest";

import { denominations } from "./cash";
import { canonicalJson, type JsonObject, type JsonValue } from "./canonical";
import {
  contentHash,
  decodeEnvelope,
  type Envelope,
  EnvelopeError,
  type EnvelopeFields,
  formatAt,
  parseAt,
  seal,
  verifyHash,
  verifyLink,
} from "./envelope";
import { Clock, compareHlc, Hlc } from "./hlc";
import { allocate, CURRENCY_EXPONENTS, parseAmount, parseMoney, toDecimalString } from "./money";
import {
  type Discount,
  discountAmount,
  discountShareBp,
  type LineInput,
  type LineResult,
  priceSale,
  type RefundCounts,
  refundFor,
  type SaleTotals,
  type TaxMode,
  type TaxRounding,
} from "./pricing";
import rawVectors from "./vectors.json";

interface PriceSpec {
  lines: LineInput[];
  order_discount: Discount | null;
  mode: TaxMode;
  rounding: TaxRounding;
}
interface Counts {
  sold_qty: number;
  returned_before: number;
  returning: number;
}
interface Vectors {
  canonical: {
    cases: { value: JsonValue; json: string; sha256: string }[];
    errors: { value: JsonValue }[];
  };
  at: {
    format: { ms: number; text: string }[];
    parse: { ms: number; text: string }[];
    bad_ms: number[];
    bad_text: string[];
  };
  hlc: {
    parse: { text: string; wall_ms: number; counter: number; node: string }[];
    bad: string[];
    compare: { a: string; b: string; order: number }[];
    clocks: {
      node: string;
      max_ahead_ms: number;
      last: string | null;
      steps: {
        op: "now" | "observe";
        wall: number;
        hlc: string;
        remote?: string;
        clamped?: boolean;
      }[];
    }[];
  };
  pricing: { cases: (PriceSpec & { result: SaleTotals })[]; errors: PriceSpec[] };
  refunds: {
    refunds: (Counts & { line: LineResult; total: number; tax: number })[];
    refund_errors: Counts[];
    discount_share_bp: { discount_amount: number; base: number; bp: number }[];
    discount_share_bp_errors: [number, number][];
    discount_amount: { base: number; discount: Discount; amount: number }[];
    discount_amount_errors: { base: number; discount: Discount }[];
  };
  envelopes: {
    chains: { fields: EnvelopeFields; envelope: Envelope; canonical: string }[][];
    errors: { raw: Record<string, unknown>; field: string }[];
    accepted: Record<string, unknown>[];
  };
  money: {
    exponents: Record<string, number>;
    parse: { text: string; currency: string; amount: number | null }[];
    decimal: { amount: number; currency: string; text: string }[];
    allocate: { amount: number; weights: number[]; parts: number[] }[];
    denominations: Record<string, number[]>;
  };
}

const vectors = rawVectors as unknown as Vectors;

/** Undo the script's "<lone:d800>" marks: Vite's JSON loader refuses lone surrogates. */
function unmark<T>(value: T): T {
  const text = (s: string): string =>
    s.replace(/<lone:([0-9a-f]{4})>/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  if (typeof value === "string") return text(value) as T;
  if (Array.isArray(value)) return value.map(unmark) as T;
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [text(k), unmark(v)])) as T;
  }
  return value;
}

/** The same value with every object's keys in reverse order, so sorting is the port's job. */
function reversedKeys(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(reversedKeys);
  if (value !== null && typeof value === "object") {
    const out: JsonObject = {};
    for (const key of Object.keys(value).reverse()) out[key] = reversedKeys(value[key] ?? null);
    return out;
  }
  return value;
}

function price(spec: PriceSpec): SaleTotals {
  return priceSale(spec.lines, {
    orderDiscount: spec.order_discount,
    mode: spec.mode,
    rounding: spec.rounding,
  });
}

function counts(c: Counts): RefundCounts {
  return { soldQty: c.sold_qty, returnedBefore: c.returned_before, returning: c.returning };
}

describe("canonical JSON vectors", () => {
  it.each(vectors.canonical.cases)("case %#", ({ value, json, sha256: digest }) => {
    expect(canonicalJson(value)).toBe(json);
    expect(canonicalJson(reversedKeys(value))).toBe(json);
    expect(bytesToHex(sha256(utf8ToBytes(json)))).toBe(digest);
  });

  it.each(vectors.canonical.errors)("refuses error %#", ({ value }) => {
    expect(() => canonicalJson(unmark(value))).toThrow();
  });
});

describe("at vectors", () => {
  it("formats and parses every instant", () => {
    for (const { ms, text } of vectors.at.format) {
      expect(formatAt(ms)).toBe(text);
      expect(parseAt(text)).toBe(ms);
    }
    for (const { ms, text } of vectors.at.parse) expect(parseAt(text)).toBe(ms);
  });

  it("refuses what Python refuses", () => {
    for (const ms of vectors.at.bad_ms) expect(() => formatAt(ms), String(ms)).toThrow();
    for (const text of vectors.at.bad_text) expect(() => parseAt(text), text).toThrow();
  });
});

describe("HLC vectors", () => {
  it("parses and formats", () => {
    for (const { text, wall_ms, counter, node } of vectors.hlc.parse) {
      const hlc = Hlc.parse(text);
      expect([hlc.wall_ms, hlc.counter, hlc.node]).toEqual([wall_ms, counter, node]);
      expect(String(hlc)).toBe(text);
    }
    for (const text of vectors.hlc.bad) {
      expect(() => Hlc.parse(text), JSON.stringify(text)).toThrow();
    }
  });

  it("compares as (wall_ms, counter, node)", () => {
    for (const { a, b, order } of vectors.hlc.compare) {
      expect(Math.sign(compareHlc(Hlc.parse(a), Hlc.parse(b))), `${a} vs ${b}`).toBe(order);
    }
  });

  it.each(vectors.hlc.clocks)("clock trace $node", ({ node, max_ahead_ms, last, steps }) => {
    let wall = 0;
    const clock = new Clock(node, {
      wall: () => wall,
      last: last === null ? null : Hlc.parse(last),
      maxAheadMs: max_ahead_ms,
    });
    for (const step of steps) {
      wall = step.wall;
      if (step.op === "now") {
        expect(String(clock.now())).toBe(step.hlc);
      } else {
        const seen = clock.observe(Hlc.parse(step.remote ?? ""));
        expect(String(seen.hlc)).toBe(step.hlc);
        expect(seen.clamped).toBe(step.clamped);
      }
      expect(String(clock.last)).toBe(step.hlc);
    }
  });
});

describe("pricing vectors", () => {
  it.each(vectors.pricing.cases)("sale %#", (spec) => {
    expect(price(spec)).toEqual(spec.result);
  });

  it.each(vectors.pricing.errors)("refuses bad sale %#", (spec) => {
    expect(() => price(spec)).toThrow();
  });

  it("refunds", () => {
    for (const { line, total, tax, ...c } of vectors.refunds.refunds) {
      expect(refundFor(line, counts(c))).toEqual({ total, tax });
    }
    const line = { gross: 100, line_discount: 0, order_discount: 0, net: 100, tax: 17, total: 100 };
    for (const c of vectors.refunds.refund_errors) {
      expect(() => refundFor(line, counts(c))).toThrow();
    }
  });

  it("discount_share_bp and discount_amount", () => {
    for (const { discount_amount, base, bp } of vectors.refunds.discount_share_bp) {
      expect(discountShareBp(discount_amount, base)).toBe(bp);
    }
    for (const [amount, base] of vectors.refunds.discount_share_bp_errors) {
      expect(() => discountShareBp(amount, base)).toThrow();
    }
    for (const { base, discount, amount } of vectors.refunds.discount_amount) {
      expect(discountAmount(base, discount)).toBe(amount);
    }
    for (const { base, discount } of vectors.refunds.discount_amount_errors) {
      expect(() => discountAmount(base, discount)).toThrow();
    }
  });
});

describe("envelope vectors", () => {
  it.each(vectors.envelopes.chains.map((chain, i) => ({ chain, i })))("chain $i", ({ chain }) => {
    let prev: string | null = null;
    for (const { fields, envelope, canonical } of chain) {
      const sealed = seal(fields);
      expect(sealed).toEqual(envelope);
      const { hash: _, ...unsealed } = sealed;
      expect(canonicalJson(unsealed as unknown as JsonObject)).toBe(canonical);
      expect(contentHash(envelope)).toBe(envelope.hash);
      expect(verifyHash(sealed)).toBe(true);
      expect(verifyLink(prev, sealed)).toBe(true);
      expect(decodeEnvelope(envelope)).toEqual(envelope);
      expect(verifyHash({ ...sealed, body: { ...sealed.body, tampered: true } })).toBe(false);
      prev = sealed.hash;
    }
  });

  it.each(vectors.envelopes.errors)("refuses at $field (%#)", ({ raw, field }) => {
    let caught: unknown = null;
    try {
      decodeEnvelope(unmark(raw));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(EnvelopeError);
    expect((caught as EnvelopeError).field).toBe(unmark(field));
  });

  it("accepts bodies nested up to the limit", () => {
    for (const raw of vectors.envelopes.accepted) expect(() => decodeEnvelope(raw)).not.toThrow();
  });
});

describe("money vectors", () => {
  it("has the same currency exponents", () => {
    expect({ ...CURRENCY_EXPONENTS }).toEqual(vectors.money.exponents);
  });

  it("parses typed amounts as Money.parse", () => {
    for (const { text, currency, amount } of vectors.money.parse) {
      const label = `${JSON.stringify(text)} ${currency}`;
      if (amount === null) {
        expect(() => parseAmount(text, currency), label).toThrow();
        expect(parseMoney(text, currency), label).toBeNull();
      } else {
        expect(parseAmount(text, currency), label).toBe(amount);
        expect(parseMoney(text, currency), label).toBe(amount);
      }
    }
  });

  it("renders decimal strings and splits amounts", () => {
    for (const { amount, currency, text } of vectors.money.decimal) {
      expect(toDecimalString(amount, currency)).toBe(text);
    }
    for (const { amount, weights, parts } of vectors.money.allocate) {
      expect(allocate(amount, weights)).toEqual(parts);
    }
  });

  it("has the same cash denominations", () => {
    for (const [currency, notes] of Object.entries(vectors.money.denominations)) {
      expect(denominations(currency)).toEqual(notes);
    }
  });
});
