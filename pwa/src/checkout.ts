// Taking payment for the cart: the tenders, the change, and the sale event (with its
// exchange's return, sealed together in one push when the cart settles an exchange).
import { type CartLine, type PendingReturn, type RefundTender, cart, discountBody, exchange, orderDiscount, totals } from "./cart";
import type { JsonObject } from "./protocol/canonical";
import type { SaleTotals } from "./protocol/pricing";
import { newId } from "./protocol/ids";
import { store } from "./session";
import { type Draft, nextReceipts, sendTogether } from "./till";

export type TenderKind = "cash" | "card" | "gift_card" | "store_credit";
/** One payment as the cashier took it; for cash, `tendered` is what was handed over. */
export type Payment = { kind: TenderKind; amount: number; tendered?: number; reference?: string };

export type Completed = {
  receipt: string;
  total: number;
  change: number;
  queued: boolean;
  /** A refund still owed to the customer when the exchange credit was more than the sale. */
  refunded: RefundTender[];
  flags: string[];
};

/** What the customer still owes after the exchange credit and the payments so far. */
export function remaining(due: number, payments: readonly Payment[]): number {
  return Math.max(0, due - payments.reduce((sum, p) => sum + p.amount, 0));
}

/** Change to give back: cash handed over beyond what cash pays. */
export function changeDue(payments: readonly Payment[]): number {
  return payments.reduce((sum, p) => sum + (p.kind === "cash" ? (p.tendered ?? p.amount) - p.amount : 0), 0);
}

/** Add a payment, merging cash into one cash tender (the drawer sees one figure). */
export function addPayment(payments: readonly Payment[], payment: Payment): Payment[] {
  if (payment.kind !== "cash") return [...payments, payment];
  const cash = payments.find((p) => p.kind === "cash");
  if (!cash) return [...payments, payment];
  return payments.map((p) =>
    p === cash
      ? { kind: "cash", amount: p.amount + payment.amount, tendered: (p.tendered ?? p.amount) + (payment.tendered ?? payment.amount) }
      : p,
  );
}

/** The exchange credit this sale uses: all of it, or the sale's total when that is less. */
export function creditUsed(total: number, credit: PendingReturn | null): number {
  return credit ? Math.min(credit.total, total) : 0;
}

function tenderBody(p: Payment): JsonObject {
  return {
    kind: p.kind,
    amount: p.amount,
    ...(p.kind === "cash" ? { tendered: p.tendered ?? p.amount } : {}),
    ...(p.reference ? { reference: p.reference } : {}),
  };
}

function lineBody(l: CartLine, i: number): JsonObject {
  return {
    line: i + 1,
    variant: l.variant.id,
    qty: l.qty,
    unit_price: l.unitPrice,
    ...(l.priceApproval ? { price_approval: l.priceApproval } : {}),
    ...(l.discount ? { discount: discountBody(l.discount) } : {}),
  };
}

/** Where the part of an exchange credit the sale does not use goes back (original tenders). */
function refundRest(rest: number, to: readonly RefundTender[], returnReceipt: string): RefundTender[] {
  const out: RefundTender[] = [];
  let left = rest;
  for (const t of to) {
    if (left <= 0) break;
    const amount = Math.min(left, t.amount);
    if (amount > 0) out.push({ ...t, amount });
    left -= amount;
  }
  // What no original tender can take goes on store credit, on an account named by the return.
  if (left > 0) out.push({ kind: "store_credit", amount: left, reference: `SC-${returnReceipt}` });
  return out;
}

/**
 * Seal the sale (and, for an exchange, its return first) and send it. Resolves once it is safe
 * on this tablet; the cart is cleared then. Throws the appliance's refusal (ApiError 422).
 */
export async function completeSale(shift: string, catalogVersion: number, payments: readonly Payment[]): Promise<Completed> {
  const t = totals.value;
  const settings = store.value;
  if (!t || !settings || !cart.value.length) throw new Error("the cart is empty");
  const sums: SaleTotals = t;
  const currency = settings.currency;
  const credit = exchange.value;
  const used = creditUsed(t.total, credit);
  const paid = payments.reduce((sum, p) => sum + p.amount, 0);
  if (paid + used !== t.total) throw new Error("the payments do not add up to the total");
  const tenders = payments.map(tenderBody);
  // An exchange takes two receipt numbers: the return's, then the sale's (sealed in that order).
  const numbers = await nextReceipts(credit ? 2 : 1);
  const saleReceipt = numbers[numbers.length - 1];
  const returnReceipt = credit ? numbers[0] : undefined;
  if (!saleReceipt) throw new Error("no receipt number");
  const saleId = newId();
  const drafts: Draft[] = [];
  let refunded: RefundTender[] = [];
  if (credit && returnReceipt) {
    const returnId = newId();
    refunded = refundRest(credit.total - used, credit.refundTo, returnReceipt);
    drafts.push({
      id: returnId,
      type: "return.completed",
      receipt: true,
      override: credit.override,
      body: {
        receipt: returnReceipt,
        shift,
        ...(credit.original ? { original: credit.original } : {}),
        lines: credit.lines,
        tenders: [
          ...(used > 0 ? [{ kind: "exchange", amount: used }] : []),
          ...refunded.map((r) => ({ kind: r.kind, amount: r.amount, ...(r.reference ? { reference: r.reference } : {}) })),
        ],
        totals: { total: credit.total, tax: credit.tax },
        ...(used > 0 ? { exchange: saleId } : {}),
      },
    });
    if (used > 0) tenders.unshift({ kind: "exchange", amount: used });
    drafts.push(saleDraft(saleId, saleReceipt, used > 0 ? returnId : null));
  } else {
    drafts.push(saleDraft(saleId, saleReceipt, null));
  }
  const sent = await sendTogether(drafts);
  const change = changeDue(payments);
  cart.value = [];
  orderDiscount.value = null;
  exchange.value = null;
  return {
    receipt: saleReceipt,
    total: t.total,
    change,
    queued: sent.some((s) => s.queued),
    refunded,
    flags: sent.flatMap((s) => s.flags.map((f) => f.message)),
  };

  function saleDraft(id: string, receipt: string, exchangeOf: string | null): Draft {
    const order = orderDiscount.value;
    return {
      id,
      type: "sale.completed",
      receipt: true,
      body: {
        receipt,
        shift,
        catalog_version: catalogVersion,
        currency,
        lines: cart.value.map(lineBody),
        ...(order ? { order_discount: discountBody(order) } : {}),
        tenders,
        totals: { subtotal: sums.subtotal, discount: sums.discount, tax: sums.tax, total: sums.total },
        ...(exchangeOf ? { exchange_of: exchangeOf } : {}),
      },
    };
  }
}
