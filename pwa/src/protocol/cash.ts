/** Cash denominations (notes and coins, in minor units), as protocol/cash.py. */

import { exponent } from "./money";

export const DENOMINATIONS: Readonly<Record<string, readonly number[]>> = Object.freeze({
  EUR: [50000, 20000, 10000, 5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5, 2, 1],
  USD: [10000, 5000, 2000, 1000, 500, 200, 100, 25, 10, 5, 1],
  GBP: [5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5, 2, 1],
  CHF: [100000, 20000, 10000, 5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5],
  SEK: [100000, 50000, 20000, 10000, 5000, 2000, 1000, 500, 200, 100],
  NOK: [100000, 50000, 20000, 10000, 5000, 2000, 1000, 500, 100],
  DKK: [100000, 50000, 20000, 10000, 5000, 2000, 1000, 500, 200, 100, 50],
  PLN: [50000, 20000, 10000, 5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5, 2, 1],
});

/** A currency's notes and coins, largest first; a generic decimal series if not listed. */
export function denominations(currency: string): readonly number[] {
  const known = Object.hasOwn(DENOMINATIONS, currency) ? DENOMINATIONS[currency] : undefined;
  if (known !== undefined) return known;
  const unit = 10 ** exponent(currency);
  return [500, 200, 100, 50, 20, 10, 5, 2, 1].map((n) => unit * n);
}
