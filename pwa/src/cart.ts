// The sale being rung up, and its totals by the same pricing code the appliance checks with.
import { computed, signal } from "@preact/signals";
import type { VariantDoc } from "./db";
import type { Override } from "./protocol/envelope";
import type { JsonObject } from "./protocol/canonical";
import { type Discount, discountShareBp, priceSale } from "./protocol/pricing";
import { store } from "./session";

/** A line: the variant, how many, and its price (the catalog's, or an approved override). */
export type CartLine = {
  /** Stable for the life of the line (the list key). */
  key: number;
  variant: VariantDoc;
  qty: number;
  unitPrice: number;
  priceApproval?: string;
  discount?: CartDiscount;
};

export const cart = signal<CartLine[]>([]);

/** One line of a return, as `return.completed` carries it. */
export type ReturnLineBody = {
  line: number;
  original_line: number | null;
  variant: string;
  qty: number;
  /** 1000 for weighed goods (qty in thousandths). */
  qty_scale?: number;
  refund: number;
  tax: number;
  reason: string;
};

/** A refund back to one tender of the original sale. */
export type RefundTender = { kind: string; amount: number; reference: string | null };

/** The return half of an exchange, waiting for the sale it settles against. */
export type PendingReturn = {
  original: string | null;
  lines: ReturnLineBody[];
  titles: string[];
  total: number;
  tax: number;
  /** Where what the new sale does not use goes back, in order (the original tenders). */
  refundTo: RefundTender[];
  /** The approval a return without a receipt needs. */
  override: Override | null;
};

/** Set by the Returns screen for an exchange: its refund is credit on the sale being rung up. */
export const exchange = signal<PendingReturn | null>(null);

/** A discount as the cashier gave it; `approval` when it is above the store's threshold. */
export type CartDiscount = { kind: "percent" | "amount"; value: number; reason: string; approval?: string };

/** A discount on the whole sale. */
export const orderDiscount = signal<CartDiscount | null>(null);

/** Why the cart dropped a discount (it was approved for an amount the cart no longer has). */
export const cartNotice = signal<string | null>(null);

// An approved discount is bound to the amount it takes off: a change that moves that amount
// drops the discount, and the cashier asks again (unapproved ones just follow the cart).
function keepDiscount(line: CartLine): CartLine {
  if (!line.discount?.approval) return line;
  const { discount: _dropped, ...rest } = line;
  cartNotice.value = `The approved discount on ${line.variant.title} was removed: the line changed. Give it again.`;
  return rest;
}

function touchOrder(): void {
  if (orderDiscount.value?.approval) {
    orderDiscount.value = null;
    cartNotice.value = "The approved discount on the sale was removed: the cart changed. Give it again.";
  }
}

let nextKey = 1;

export function add(variant: VariantDoc): void {
  const lines = cart.value;
  const existing = lines.findIndex((l) => l.variant.id === variant.id && l.unitPrice === variant.price && !l.priceApproval);
  touchOrder();
  if (existing >= 0) {
    cart.value = lines.map((l, i) => (i === existing ? { ...keepDiscount(l), qty: l.qty + 1 } : l));
  } else {
    cart.value = [...lines, { key: nextKey++, variant, qty: 1, unitPrice: variant.price }];
  }
}

export function setQty(index: number, qty: number): void {
  touchOrder();
  cart.value =
    qty <= 0
      ? cart.value.filter((_, i) => i !== index)
      : cart.value.map((l, i) => (i === index ? { ...keepDiscount(l), qty } : l));
}

export function setPrice(index: number, unitPrice: number, approval: string | null): void {
  touchOrder();
  cart.value = cart.value.map((l, i) => {
    if (i !== index) return l;
    const { priceApproval: _old, ...rest } = keepDiscount(l);
    return approval ? { ...rest, unitPrice, priceApproval: approval } : { ...rest, unitPrice };
  });
}

/** Give a line a discount (null takes it off). */
export function setLineDiscount(index: number, discount: CartDiscount | null): void {
  touchOrder();
  cart.value = cart.value.map((l, i) => {
    if (i !== index) return l;
    const { discount: _old, ...rest } = l;
    return discount ? { ...rest, discount } : rest;
  });
}

export function clear(): void {
  cart.value = [];
  orderDiscount.value = null;
  exchange.value = null;
  cartNotice.value = null;
}

function rate(taxClass: string): number {
  const found = store.value?.tax_rates.find((r) => r.tax_class === taxClass);
  return found?.rate_ppm ?? 0;
}

/** The discount as the pricing code and the event take it. */
function priced(discount: CartDiscount | null | undefined): Discount | null {
  return discount ? { kind: discount.kind, value: discount.value } : null;
}

export const totals = computed(() => {
  const settings = store.value;
  if (!settings) return null;
  try {
    return priceSale(
      cart.value.map((l) => ({
        qty: l.qty,
        unit_price: l.unitPrice,
        tax_rate_ppm: rate(l.variant.tax_class),
        discount: priced(l.discount),
      })),
      { orderDiscount: priced(orderDiscount.value), mode: settings.tax_mode, rounding: settings.tax_rounding },
    );
  } catch {
    // A discount larger than what it comes off: the dialog refuses it, so this is transient.
    return null;
  }
});

/** How big a discount is against the store's threshold, in basis points (as the appliance measures). */
export function discountShare(discount: CartDiscount, amount: number, base: number): number {
  return discount.kind === "percent" ? discount.value : discountShareBp(amount, base);
}

/** Whether a discount of `amount` off `base` needs a supervisor's approval. */
export function discountNeedsApproval(discount: CartDiscount, amount: number, base: number): boolean {
  return amount > 0 && discountShare(discount, amount, base) > (store.value?.discount_threshold_bp ?? 0);
}

/** A discount as `sale.completed` carries it. */
export function discountBody(discount: CartDiscount): JsonObject {
  return {
    kind: discount.kind,
    value: discount.value,
    reason: discount.reason,
    ...(discount.approval ? { approval: discount.approval } : {}),
  };
}
