// Returns worked out on the tablet exactly as the appliance checks them (appliance/returns.py):
// what each returned line gives back (refund_for of what was paid), where the money goes (the
// original tenders, card before cash, never more per tender than is left; or store credit),
// and, without a receipt, at most today's price with the tax that amount contains.
import { ApiError, Unreachable, call } from "./api";
import type { RefundTender, ReturnLineBody } from "./cart";
import type { JsonObject } from "./protocol/canonical";
import { formatMoney } from "./format";
import { PPM, refundFor, type LineResult, type TaxMode } from "./protocol/pricing";
import type { Reason } from "./session";

/** Receipt numbers as protocol/bodies.py RECEIPT_RE: the register's id and a counter. */
export const RECEIPT_RE = /^[a-z][a-z0-9]{1,15}-(ap|ap[2-9]|ap[1-9][0-9]|r[0-9]{2,4})-[0-9]{6,9}$/;

/** One sold line as GET /receipts/{number} gives it, with what is left to return. */
export type ReceiptLine = {
  line: number;
  variant: string;
  sku: string | null;
  title: string | null;
  qty: number;
  qty_scale: number;
  unit_price: number;
  gross: number;
  /** Line and order discount together. */
  discount: number;
  tax: number;
  total: number;
  tax_rate_ppm: number;
  voided: boolean;
  returned: number;
  returnable: number;
  refunded: number;
};

/** How the sale was paid, per tender kind, and what has gone back to it already. */
export type ReceiptTender = { kind: string; paid: number; refunded: number; reference: string | null };

/** A sale by its receipt number (appliance/selling.py `receipt`). */
export type SaleReceipt = {
  id: string;
  receipt: string;
  store: string;
  register: string;
  shift: string;
  actor: string | null;
  at: string;
  currency: string;
  catalog_version: number;
  subtotal: number;
  discount: number;
  tax: number;
  total: number;
  voided: boolean;
  void: { event: string; at: string; reason: string } | null;
  lines: ReceiptLine[];
  tenders: ReceiptTender[];
};

/** A line as return.completed carries it; weighed goods say their unit (milli-units). */
export type ReturnLine = ReturnLineBody & { qty_scale?: number };

/** What one line gives back: the amount and the tax in it. */
export type Refund = { total: number; tax: number };

/** Where a refund goes back first: to the card or voucher it came from, cash last (the
 * drawer pays out only what the customer paid in cash; a card payment never leaves as cash). */
export const REFUND_ORDER = ["card", "gift_card", "store_credit", "cash"] as const;

const DISPOSITIONS: Record<string, string> = {
  restock: "back on the shelf",
  damaged: "damaged",
  rtv: "return to vendor",
};

/** What happens to the goods, in the shop's words. */
export function dispositionText(disposition: Reason["disposition"]): string {
  return disposition === null ? "" : (DISPOSITIONS[disposition] ?? disposition);
}

/** A typed or scanned receipt number, tidied (scanners may send capitals); null if it is not one. */
export function receiptNumber(text: string): string | null {
  const number = text.trim().toLowerCase();
  return RECEIPT_RE.test(number) ? number : null;
}

/** GET /receipts/{number} with the staff session (another store's receipt is asked of the cloud). */
export function fetchReceipt(number: string, token: string): Promise<SaleReceipt> {
  return call<SaleReceipt>("GET", `/receipts/${encodeURIComponent(number)}`, { token });
}

/** What the cashier is told when a receipt cannot be looked up. */
export function receiptProblem(error: unknown, number: string): string {
  if (error instanceof ApiError && error.status === 404) return `No sale has the receipt number ${number}.`;
  if (error instanceof Unreachable) {
    return "The store appliance cannot be reached: returns with a receipt need it. Without it, use No receipt.";
  }
  if (error instanceof ApiError && error.status === 503) {
    return `Receipt ${number} is from another store, and the cloud cannot be asked right now. Use No receipt.`;
  }
  if (error instanceof ApiError && error.status === 502) {
    return `The cloud's answer about receipt ${number} could not be read. Use No receipt, and tell IT if it keeps happening.`;
  }
  return error instanceof ApiError ? error.message : String(error);
}

/** The line as it was paid, for refund_for (which shares out its total and tax only). */
export function paidOf(line: ReceiptLine): LineResult {
  return {
    gross: line.gross,
    line_discount: line.discount,
    order_discount: 0,
    net: line.gross - line.discount,
    tax: line.tax,
    total: line.total,
  };
}

/** What returning `qty` more of a sold line gives back; nothing for 0. */
export function lineRefund(line: ReceiptLine, qty: number): Refund {
  if (qty <= 0) return { total: 0, tax: 0 };
  return refundFor(paidOf(line), { soldQty: line.qty, returnedBefore: line.returned, returning: qty });
}

/** The refund back to the sale's own tenders, in REFUND_ORDER, each at most what it paid and
 * has not had back yet. Whatever they cannot take (a sale paid with exchange credit) is store
 * credit under `creditReference`. */
export function refundToOriginal(tenders: readonly ReceiptTender[], amount: number, creditReference: string): RefundTender[] {
  const out: RefundTender[] = [];
  let left = amount;
  for (const kind of REFUND_ORDER) {
    const paid = tenders.find((t) => t.kind === kind);
    if (!paid || left <= 0) continue;
    const take = Math.min(left, Math.max(0, paid.paid - paid.refunded));
    if (take <= 0) continue;
    const reference = kind === "cash" ? null : (paid.reference ?? (kind === "store_credit" ? creditReference : null));
    out.push({ kind, amount: take, reference });
    left -= take;
  }
  if (left > 0) out.push({ kind: "store_credit", amount: left, reference: creditReference });
  return out;
}

/** The whole refund as one tender of `kind` (store credit needs its account reference). */
export function refundAs(kind: string, amount: number, creditReference: string): RefundTender[] {
  if (amount <= 0) return [];
  return [{ kind, amount, reference: kind === "store_credit" ? creditReference : null }];
}

/** The store-credit account a refund opens: named after the return's receipt number. */
export function creditReference(receipt: string): string {
  return `SC-${receipt}`;
}

/** amount × numerator / denominator rounded half up, in integers only. */
function halfUp(numerator: bigint, denominator: bigint): number {
  let quotient = numerator / denominator;
  if (2n * (numerator % denominator) >= denominator) quotient += 1n;
  return Number(quotient);
}

/** The tax contained in an amount that includes it (appliance/returns.py `tax_in`). */
export function taxIn(amount: number, ratePpm: number): number {
  return halfUp(BigInt(amount) * BigInt(ratePpm), BigInt(PPM + ratePpm));
}

/** Without a receipt: today's price for `qty`, tax added when prices exclude it (the most the
 * appliance allows back, `_check_unreceipted_line`), and the tax that amount contains. */
export function noReceiptRefund(unitPrice: number, qty: number, ratePpm: number, mode: TaxMode): Refund {
  if (qty <= 0) return { total: 0, tax: 0 };
  const gross = BigInt(qty) * BigInt(unitPrice);
  const top = mode === "inclusive" ? Number(gross) : Number(gross) + halfUp(gross * BigInt(ratePpm), BigInt(PPM));
  return { total: top, tax: taxIn(top, ratePpm) };
}

/** "€12.99 to card, €10.00 cash" */
export function describeTenders(tenders: readonly RefundTender[], currency: string): string {
  return tenders
    .map((t) => {
      const money = formatMoney(t.amount, currency);
      switch (t.kind) {
        case "cash":
          return `${money} cash`;
        case "card":
          return `${money} to card`;
        case "store_credit":
          return `${money} store credit`;
        case "gift_card":
          return `${money} to gift card`;
        default:
          return `${money} ${t.kind.replace("_", " ")}`;
      }
    })
    .join(", ");
}

/** What the cashier does once the appliance has the return: "Give back €10.00 cash; €2.99 to card". */
export function payOutText(tenders: readonly RefundTender[], currency: string): string {
  return tenders
    .map((t) => {
      const money = formatMoney(t.amount, currency);
      if (t.kind === "cash") return `Give back ${money} cash`;
      if (t.kind === "store_credit") return `${money} store credit on ${t.reference ?? "the account"}`;
      return describeTenders([t], currency);
    })
    .join("; ");
}

/** The return.completed body: lines numbered 1..n, totals that are the sum of the lines. */
export function returnBody(fields: {
  receipt: string;
  shift: string;
  original: string | null;
  lines: readonly ReturnLine[];
  tenders: readonly RefundTender[];
}): JsonObject {
  const lines = fields.lines.map((l, i) => ({ ...l, line: i + 1 }));
  return {
    receipt: fields.receipt,
    shift: fields.shift,
    original: fields.original,
    lines,
    tenders: fields.tenders.map((t) => (t.reference === null ? { kind: t.kind, amount: t.amount } : { ...t })),
    totals: {
      total: lines.reduce((sum, l) => sum + l.refund, 0),
      tax: lines.reduce((sum, l) => sum + l.tax, 0),
    },
  };
}
