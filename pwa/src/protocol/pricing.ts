/**
 * Sale totals, discounts, tax and refunds in integer minor units with exact half-up rounding:
 * a port of protocol/pricing.py that must give the same result for every input. Inputs and
 * results are safe integers; products are taken in BigInt, so nothing rounds on the way.
 */

export const BP = 10_000; // basis points in a whole: 1250 bp = 12.5 % (discounts)
export const PPM = 1_000_000; // tax rates in parts per million: 8.875 % is exactly 88_750

export type DiscountKind = "percent" | "amount";
export type TaxMode = "inclusive" | "exclusive";
export type TaxRounding = "line" | "total";

/** A discount: "percent" value in basis points 0..10000, or "amount" value in minor units ≥ 0. */
export interface Discount {
  readonly kind: DiscountKind;
  readonly value: number;
}

/** One rung-up line: qty (milli-units when qty_scale=1000) at unit_price per whole unit. */
export interface LineInput {
  readonly qty: number;
  readonly unit_price: number;
  readonly tax_rate_ppm: number;
  readonly discount?: Discount | null;
  /** 1 by default. */
  readonly qty_scale?: number;
  readonly voided?: boolean;
}

/** A priced line: net = gross − line_discount − order_discount; total is what the customer pays. */
export interface LineResult {
  readonly gross: number;
  readonly line_discount: number;
  readonly order_discount: number;
  readonly net: number;
  readonly tax: number;
  readonly total: number;
}

/** Tax at one rate: base is the sum of line nets at that rate (tax included when inclusive). */
export interface TaxLine {
  readonly rate_ppm: number;
  readonly base: number;
  readonly tax: number;
}

/** A priced sale: its lines in input order, the receipt totals and one TaxLine per rate. */
export interface SaleTotals {
  readonly lines: readonly LineResult[];
  readonly subtotal: number;
  readonly discount: number;
  readonly tax: number;
  readonly total: number;
  readonly taxes: readonly TaxLine[];
}

export interface PriceOptions {
  readonly orderDiscount: Discount | null;
  readonly mode: TaxMode;
  readonly rounding: TaxRounding;
}

// What a line is, compared the same way as the tuple in pricing.py: ties in an allocation go
// by line content, so a line's share does not depend on the order it was rung up in.
type LineKey = readonly [number, number, number, number, string, number];

const BIG_BP = BigInt(BP);
const BIG_PPM = BigInt(PPM);

function isInt(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value);
}

function big(value: number): bigint {
  return BigInt(value);
}

/** A BigInt result back to a number; it must be exact, as JSON and the envelope need. */
function exact(value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`${value} is beyond the integers a JavaScript number holds exactly`);
  }
  return Number(value);
}

/** numerator / denominator (> 0) rounded half away from zero, in integers only. */
function halfUp(numerator: bigint, denominator: bigint): bigint {
  const magnitude = numerator < 0n ? -numerator : numerator;
  let quotient = magnitude / denominator;
  if (2n * (magnitude % denominator) >= denominator) quotient += 1n;
  return numerator < 0n ? -quotient : quotient;
}

function sum(values: readonly bigint[]): bigint {
  return values.reduce((a, b) => a + b, 0n);
}

/** Return discount as given, throwing for an unknown kind or a value out of range. */
export function checkDiscount(discount: Discount): Discount {
  const { kind, value } = discount;
  if (kind !== "percent" && kind !== "amount") {
    throw new Error(`${JSON.stringify(kind)} is not a valid DiscountKind`);
  }
  if (!isInt(value)) throw new Error(`discount value must be an int, got ${String(value)}`);
  if (kind === "percent" && (value < 0 || value > BP)) {
    throw new Error(`a percent discount is 0..${BP} basis points, got ${value}`);
  }
  if (kind === "amount" && value < 0) {
    throw new Error(`an amount discount must not be negative, got ${value}`);
  }
  return discount;
}

function grossOf(line: LineInput): bigint {
  return halfUp(big(line.qty) * big(line.unit_price), big(line.qty_scale ?? 1));
}

function discountOff(base: bigint, discount: Discount): bigint {
  if (discount.kind === "percent") return halfUp(base * big(discount.value), BIG_BP);
  if (big(discount.value) > base) {
    throw new Error(`discount of ${discount.value} is more than the ${base} it applies to`);
  }
  return big(discount.value);
}

/**
 * Throw if a line is not one pricing.py's LineInput accepts: non-positive quantities,
 * negative prices or rates, or a discount larger than the line. Call it as a line is rung up.
 */
export function checkLine(line: LineInput): void {
  const ints: Record<string, unknown> = {
    qty: line.qty,
    unit_price: line.unit_price,
    tax_rate_ppm: line.tax_rate_ppm,
    qty_scale: line.qty_scale ?? 1,
  };
  for (const [name, value] of Object.entries(ints)) {
    if (!isInt(value)) throw new Error(`line ${name} must be an int, got ${String(value)}`);
  }
  if (line.qty <= 0) throw new Error(`line qty must be positive, got ${line.qty}`);
  if ((line.qty_scale ?? 1) <= 0) {
    throw new Error(`line qty_scale must be positive, got ${String(line.qty_scale)}`);
  }
  if (line.unit_price < 0) {
    throw new Error(`line unit_price must not be negative, got ${line.unit_price}`);
  }
  if (line.tax_rate_ppm < 0) {
    throw new Error(`line tax_rate_ppm must not be negative, got ${line.tax_rate_ppm}`);
  }
  const voided: unknown = line.voided ?? false;
  if (typeof voided !== "boolean") {
    throw new Error(`line voided must be a bool, got ${String(voided)}`);
  }
  if (line.discount !== undefined && line.discount !== null) {
    discountOff(grossOf(line), checkDiscount(line.discount));
  }
}

/** The line before any discount: qty × unit_price / qty_scale, rounded half-up. */
export function lineGross(line: LineInput): number {
  checkLine(line);
  return exact(grossOf(line));
}

/** Return the minor units a discount takes off base; an amount larger than base is an error. */
export function discountAmount(base: number, discount: Discount): number {
  if (!isInt(base) || base < 0) {
    throw new Error(`a discount base must be a non-negative int, got ${String(base)}`);
  }
  return exact(discountOff(big(base), checkDiscount(discount)));
}

function cmp<T extends number | string>(x: T, y: T): number {
  return x < y ? -1 : x > y ? 1 : 0;
}

function compareKeys(a: LineKey, b: LineKey): number {
  return (
    cmp(a[0], b[0]) ||
    cmp(a[1], b[1]) ||
    cmp(a[2], b[2]) ||
    cmp(a[3], b[3]) ||
    cmp(a[4], b[4]) ||
    cmp(a[5], b[5])
  );
}

const EMPTY_KEY: LineKey = [0, 0, 0, 0, "", 0];

/** Split a non-negative amount by weights, largest remainder first, ties by line content. */
function allocate(amount: bigint, weights: readonly bigint[], keys: readonly LineKey[]): bigint[] {
  const total = sum(weights);
  if (total === 0n) {
    if (amount !== 0n) throw new Error(`cannot allocate ${amount} over weights that are all zero`);
    return weights.map(() => 0n);
  }
  const quotients = weights.map((w) => (amount * w) / total);
  const remainders = weights.map((w) => (amount * w) % total);
  const leftover = Number(amount - sum(quotients)); // fewer than the number of lines
  const order = weights
    .map((_, i) => i)
    .sort((i, j) => {
      const ri = remainders[i] ?? 0n;
      const rj = remainders[j] ?? 0n;
      if (ri !== rj) return ri > rj ? -1 : 1;
      const byKey = compareKeys(keys[i] ?? EMPTY_KEY, keys[j] ?? EMPTY_KEY);
      return byKey !== 0 ? byKey : i - j;
    });
  const bumped = new Set(order.slice(0, leftover));
  return quotients.map((q, i) => (bumped.has(i) ? q + 1n : q));
}

function keyOf(line: LineInput): LineKey {
  const d = line.discount ?? null;
  return [
    line.qty_scale ?? 1,
    line.qty,
    line.unit_price,
    line.tax_rate_ppm,
    d === null ? "" : d.kind,
    d === null ? 0 : d.value,
  ];
}

interface Live {
  readonly index: number;
  readonly line: LineInput;
  readonly key: LineKey;
  readonly gross: bigint;
  readonly own: bigint;
  share: bigint;
  tax: bigint;
}

function net(live: Live): bigint {
  return live.gross - live.own - live.share;
}

/** Price a basket: line and order discounts, tax per line and per rate, and the totals. */
export function priceSale(lines: readonly LineInput[], options: PriceOptions): SaleTotals {
  const { orderDiscount, mode, rounding } = options;
  if (mode !== "inclusive" && mode !== "exclusive") {
    throw new Error(`${JSON.stringify(mode)} is not a valid TaxMode`);
  }
  if (rounding !== "line" && rounding !== "total") {
    throw new Error(`${JSON.stringify(rounding)} is not a valid TaxRounding`);
  }
  lines.forEach(checkLine);
  const live: Live[] = [];
  lines.forEach((line, index) => {
    if (line.voided === true) return;
    const gross = grossOf(line);
    const own = line.discount ? discountOff(gross, line.discount) : 0n;
    live.push({ index, line, key: keyOf(line), gross, own, share: 0n, tax: 0n });
  });

  if (orderDiscount !== null) {
    const afterOwn = live.map((l) => l.gross - l.own);
    const taken = discountOff(sum(afterOwn), checkDiscount(orderDiscount));
    const split = allocate(taken, afterOwn, live.map((l) => l.key));
    live.forEach((l, i) => {
      l.share = split[i] ?? 0n;
    });
  }

  const rates = [...new Set(live.map((l) => l.line.tax_rate_ppm))].sort((a, b) => a - b);
  const taxes: TaxLine[] = [];
  for (const rate of rates) {
    const members = live.filter((l) => l.line.tax_rate_ppm === rate);
    // Tax is amount × rate / this: the tax inside a price, or the tax added to it.
    const denominator = mode === "inclusive" ? BIG_PPM + big(rate) : BIG_PPM;
    const base = sum(members.map(net));
    if (rounding === "line") {
      for (const l of members) l.tax = halfUp(net(l) * big(rate), denominator);
    } else {
      // One rounding per rate, then spread back so each line still carries its tax for returns.
      const rateTax = halfUp(base * big(rate), denominator);
      const split = allocate(rateTax, members.map(net), members.map((l) => l.key));
      members.forEach((l, i) => {
        l.tax = split[i] ?? 0n;
      });
    }
    taxes.push({ rate_ppm: rate, base: exact(base), tax: exact(sum(members.map((l) => l.tax))) });
  }

  const byIndex = new Map(live.map((l) => [l.index, l]));
  const results: LineResult[] = lines.map((_, i) => {
    const l = byIndex.get(i);
    if (l === undefined) {
      return { gross: 0, line_discount: 0, order_discount: 0, net: 0, tax: 0, total: 0 };
    }
    const lineNet = net(l);
    return {
      gross: exact(l.gross),
      line_discount: exact(l.own),
      order_discount: exact(l.share),
      net: exact(lineNet),
      tax: exact(l.tax),
      total: exact(mode === "inclusive" ? lineNet : lineNet + l.tax),
    };
  });
  const total = (pick: (r: LineResult) => number): number =>
    exact(sum(results.map((r) => big(pick(r)))));
  return {
    lines: results,
    subtotal: total((r) => r.gross),
    discount: total((r) => r.line_discount + r.order_discount),
    tax: total((r) => r.tax),
    total: total((r) => r.total),
    taxes,
  };
}

export interface RefundCounts {
  readonly soldQty: number;
  readonly returnedBefore: number;
  readonly returning: number;
}

/** Return the total and tax to refund for returning units, so all returns add up to the line. */
export function refundFor(line: LineResult, counts: RefundCounts): { total: number; tax: number } {
  const { soldQty, returnedBefore, returning } = counts;
  const named: Record<string, unknown> = {
    sold_qty: soldQty,
    returned_before: returnedBefore,
    returning,
  };
  for (const [name, value] of Object.entries(named)) {
    if (!isInt(value)) throw new Error(`${name} must be an int, got ${String(value)}`);
  }
  if (soldQty <= 0) throw new Error(`sold_qty must be positive, got ${soldQty}`);
  if (returnedBefore < 0) {
    throw new Error(`returned_before must not be negative, got ${returnedBefore}`);
  }
  if (returning <= 0) throw new Error(`returning must be positive, got ${returning}`);
  if (returnedBefore + returning > soldQty) {
    throw new Error(
      `cannot return ${returning} when ${returnedBefore} of ${soldQty} are already returned`,
    );
  }
  const share = (amount: number, qty: number): bigint =>
    halfUp(big(amount) * big(qty), big(soldQty));
  const after = returnedBefore + returning;
  // Telescoping: refunding up to m units always totals share(m), so the last return evens out.
  return {
    total: exact(share(line.total, after) - share(line.total, returnedBefore)),
    tax: exact(share(line.tax, after) - share(line.tax, returnedBefore)),
  };
}

/** Return a discount as basis points of its base, rounded up; 0 when the base is 0. */
export function discountShareBp(discount: number, base: number): number {
  if (!isInt(discount) || discount < 0) {
    throw new Error(`discount_amount must be a non-negative int, got ${String(discount)}`);
  }
  if (!isInt(base) || base < 0) {
    throw new Error(`base must be a non-negative int, got ${String(base)}`);
  }
  if (base === 0) return 0;
  return exact((big(discount) * BIG_BP + big(base) - 1n) / big(base));
}
