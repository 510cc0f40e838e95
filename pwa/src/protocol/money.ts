/** Money as integer minor units of an ISO 4217 currency, as protocol/money.py: never floats. */

// Active ISO 4217 codes with a defined minor unit, exactly as protocol/money.py lists them.
export const CURRENCY_EXPONENTS: Readonly<Record<string, number>> = Object.freeze({
  AED: 2, AFN: 2, ALL: 2, AMD: 2, AOA: 2, ARS: 2, AUD: 2, AWG: 2, AZN: 2, BAM: 2, BBD: 2, BDT: 2,
  BGN: 2, BHD: 3, BIF: 0, BMD: 2, BND: 2, BOB: 2, BOV: 2, BRL: 2, BSD: 2, BTN: 2, BWP: 2, BYN: 2,
  BZD: 2, CAD: 2, CDF: 2, CHE: 2, CHF: 2, CHW: 2, CLF: 4, CLP: 0, CNY: 2, COP: 2, COU: 2, CRC: 2,
  CUP: 2, CVE: 2, CZK: 2, DJF: 0, DKK: 2, DOP: 2, DZD: 2, EGP: 2, ERN: 2, ETB: 2, EUR: 2, FJD: 2,
  FKP: 2, GBP: 2, GEL: 2, GHS: 2, GIP: 2, GMD: 2, GNF: 0, GTQ: 2, GYD: 2, HKD: 2, HNL: 2, HTG: 2,
  HUF: 2, IDR: 2, ILS: 2, INR: 2, IQD: 3, IRR: 2, ISK: 0, JMD: 2, JOD: 3, JPY: 0, KES: 2, KGS: 2,
  KHR: 2, KMF: 0, KPW: 2, KRW: 0, KWD: 3, KYD: 2, KZT: 2, LAK: 2, LBP: 2, LKR: 2, LRD: 2, LSL: 2,
  LYD: 3, MAD: 2, MDL: 2, MGA: 2, MKD: 2, MMK: 2, MNT: 2, MOP: 2, MRU: 2, MUR: 2, MVR: 2, MWK: 2,
  MXN: 2, MXV: 2, MYR: 2, MZN: 2, NAD: 2, NGN: 2, NIO: 2, NOK: 2, NPR: 2, NZD: 2, OMR: 3, PAB: 2,
  PEN: 2, PGK: 2, PHP: 2, PKR: 2, PLN: 2, PYG: 0, QAR: 2, RON: 2, RSD: 2, RUB: 2, RWF: 0, SAR: 2,
  SBD: 2, SCR: 2, SDG: 2, SEK: 2, SGD: 2, SHP: 2, SLE: 2, SOS: 2, SRD: 2, SSP: 2, STN: 2, SVC: 2,
  SYP: 2, SZL: 2, THB: 2, TJS: 2, TMT: 2, TND: 3, TOP: 2, TRY: 2, TTD: 2, TWD: 2, TZS: 2, UAH: 2,
  UGX: 0, USD: 2, USN: 2, UYI: 0, UYU: 2, UYW: 4, UZS: 2, VED: 2, VES: 2, VND: 0, VUV: 0, WST: 2,
  XAD: 2, XAF: 0, XCD: 2, XCG: 2, XOF: 0, XPF: 0, YER: 2, ZAR: 2, ZMW: 2, ZWG: 2,
});

// Amounts stay within the integers JSON (RFC 8785) and JavaScript represent exactly.
export const MAX_AMOUNT = Number.MAX_SAFE_INTEGER;

const DECIMAL = /^(-?)([0-9]+)(?:\.([0-9]+))?$/;
const EXPONENT = /^[+-]?[0-9]*\.?[0-9]+[eE][+-]?[0-9]+$/;
const SEPARATORS = new Set([",", "'", "_", "\u00a0", "\u202f"]);
// Python's str.isspace(): JavaScript's \s plus the information separators U+001C..U+001F.
const WHITESPACE = /[\s\u001c-\u001f\u0085]/;

/** Return the number of minor-unit digits of an ISO 4217 currency, e.g. EUR 2, JPY 0. */
export function exponent(currency: string): number {
  const places = Object.hasOwn(CURRENCY_EXPONENTS, currency)
    ? CURRENCY_EXPONENTS[currency]
    : undefined;
  if (places === undefined) {
    throw new Error(
      `unknown currency ${JSON.stringify(currency)}: expected an ISO 4217 code such as 'EUR'`,
    );
  }
  return places;
}

function explainBadAmount(raw: string): void {
  if (raw === "") throw new Error("an amount is empty");
  if (WHITESPACE.test(raw)) throw new Error(`amount ${JSON.stringify(raw)} contains whitespace`);
  if ([...raw].some((ch) => SEPARATORS.has(ch))) {
    throw new Error(
      `amount ${JSON.stringify(raw)} contains a separator: use '.' as the decimal point ` +
        "and no thousands separators",
    );
  }
  if (["nan", "-nan", "inf", "-inf", "infinity", "-infinity"].includes(raw.toLowerCase())) {
    throw new Error(`amount ${JSON.stringify(raw)} is not a number`);
  }
  if (EXPONENT.test(raw)) {
    throw new Error(`amount ${JSON.stringify(raw)} uses an exponent: write it out, e.g. 1200.00`);
  }
}

/** Parse a typed plain decimal such as "12.99", "0.5" or "-3" into minor units of currency. */
export function parseAmount(text: string, currency: string): number {
  const places = exponent(currency);
  if (typeof text !== "string") throw new Error(`an amount must be a string, got ${typeof text}`);
  const match = DECIMAL.exec(text);
  if (match === null) {
    explainBadAmount(text);
    throw new Error(`amount ${JSON.stringify(text)} is not a plain decimal such as 12.99 or -3`);
  }
  const sign = match[1] ?? "";
  const whole = match[2] ?? "0";
  const fraction = match[3] ?? "";
  if (fraction.length > places) {
    const allowed = places === 0 ? "no decimals" : `at most ${places} decimals`;
    throw new Error(
      `amount ${JSON.stringify(text)} has ${fraction.length} decimals ` +
        `but ${currency} allows ${allowed}`,
    );
  }
  if (whole.replace(/^0+/, "").length > String(MAX_AMOUNT).length) {
    throw new Error(`amount ${JSON.stringify(text)} is too large`);
  }
  const minor = BigInt(whole) * 10n ** BigInt(places) + BigInt(fraction.padEnd(places, "0") || "0");
  if (minor > BigInt(MAX_AMOUNT)) throw new Error(`amount ${JSON.stringify(text)} is too large`);
  // "-0" parses as 0, not -0, as Python's int does.
  return sign && minor !== 0n ? -Number(minor) : Number(minor);
}

/** Like parseAmount, but null for text that is not (yet) an amount, e.g. while it is typed. */
export function parseMoney(text: string, currency: string): number | null {
  exponent(currency);
  try {
    return parseAmount(text, currency);
  } catch {
    return null;
  }
}

function checkAmount(amount: number): void {
  if (!Number.isSafeInteger(amount)) {
    throw new Error(
      `amount must be an integer of minor units within ±${MAX_AMOUNT}, got ${amount}`,
    );
  }
}

/** Render with exactly the currency's number of decimals: "12.50", JPY "1200". */
export function toDecimalString(amount: number, currency: string): string {
  const places = exponent(currency);
  checkAmount(amount);
  const sign = amount < 0 ? "-" : "";
  const digits = String(Math.abs(amount)).padStart(places + 1, "0");
  if (places === 0) return `${sign}${digits}`;
  return `${sign}${digits.slice(0, -places)}.${digits.slice(-places)}`;
}

/**
 * Format minor units for display in a locale, e.g. (1299, "EUR", "de-DE") → "12,99 €", always
 * with the currency's ISO 4217 decimals (CLDR sometimes shows fewer, e.g. for ISK or HUF).
 */
export function formatMoney(
  amount: number,
  currency: string,
  locale?: string | readonly string[],
): string {
  const key = `${currency} ${locale === undefined ? "" : String(locale)}`;
  let format = formats.get(key);
  if (!format) {
    const places = exponent(currency);
    const formatter = new Intl.NumberFormat(locale as string | string[] | undefined, {
      style: "currency",
      currency,
      minimumFractionDigits: places,
      maximumFractionDigits: places,
    });
    format = formatter.format.bind(formatter) as unknown as (value: string) => string;
    formats.set(key, format);
  }
  // A decimal string is formatted exactly (Intl.NumberFormat v3); amount / 10 ** places would be
  // a float, which misprints the last cent of amounts above about 2^46.
  return format(toDecimalString(amount, currency));
}

// Making a NumberFormat costs far more than using one (a list of 30 prices took ~10 ms of a slow
// tablet's CPU): one per currency and locale, made on first use.
const formats = new Map<string, (value: string) => string>();

/** Split minor units by non-negative integer weights (largest remainder, ties to the earlier). */
export function allocate(amount: number, weights: readonly number[]): number[] {
  checkAmount(amount);
  if (weights.length === 0) throw new Error("allocate needs at least one weight");
  if (!weights.every((w) => Number.isSafeInteger(w) && w >= 0)) {
    throw new Error(`weights must be non-negative ints, got ${JSON.stringify(weights)}`);
  }
  const big = weights.map(BigInt);
  const total = big.reduce((a, b) => a + b, 0n);
  if (total === 0n) throw new Error("weights must not all be zero");
  // Split the magnitude and give back the sign, so -1.00 splits as the mirror of 1.00.
  const magnitude = BigInt(Math.abs(amount));
  const quotients = big.map((w) => (magnitude * w) / total);
  const remainders = big.map((w) => (magnitude * w) % total);
  const leftover = Number(magnitude - quotients.reduce((a, b) => a + b, 0n));
  const order = big
    .map((_, i) => i)
    .sort((i, j) => {
      const ri = remainders[i] ?? 0n;
      const rj = remainders[j] ?? 0n;
      return ri !== rj ? (ri > rj ? -1 : 1) : i - j;
    });
  const bumped = new Set(order.slice(0, leftover));
  const sign = amount < 0 ? -1 : 1;
  return quotients.map((q, i) => sign * Number(bumped.has(i) ? q + 1n : q) || 0);
}
