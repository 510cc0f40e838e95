// The sale being rung up, and its totals by the same pricing code the appliance checks with.
import { computed, signal } from "@preact/signals";
import type { VariantDoc } from "./db";
import { priceSale } from "./protocol/pricing";
import { store } from "./session";

/** A line: the variant, how many, and its price (the catalog's, or an approved override). */
export type CartLine = { variant: VariantDoc; qty: number; unitPrice: number; priceApproval?: string };

export const cart = signal<CartLine[]>([]);

export function add(variant: VariantDoc): void {
  const lines = cart.value;
  const existing = lines.findIndex((l) => l.variant.id === variant.id);
  if (existing >= 0) {
    cart.value = lines.map((l, i) => (i === existing ? { ...l, qty: l.qty + 1 } : l));
  } else {
    cart.value = [...lines, { variant, qty: 1, unitPrice: variant.price }];
  }
}

export function setQty(index: number, qty: number): void {
  cart.value =
    qty <= 0 ? cart.value.filter((_, i) => i !== index) : cart.value.map((l, i) => (i === index ? { ...l, qty } : l));
}

export function setPrice(index: number, unitPrice: number, approval: string | null): void {
  cart.value = cart.value.map((l, i) => {
    if (i !== index) return l;
    const { priceApproval: _old, ...rest } = l;
    return approval ? { ...rest, unitPrice, priceApproval: approval } : { ...rest, unitPrice };
  });
}

export function clear(): void {
  cart.value = [];
}

function rate(taxClass: string): number {
  const found = store.value?.tax_rates.find((r) => r.tax_class === taxClass);
  return found?.rate_ppm ?? 0;
}

export const totals = computed(() => {
  const settings = store.value;
  if (!settings) return null;
  return priceSale(
    cart.value.map((l) => ({ qty: l.qty, unit_price: l.unitPrice, tax_rate_ppm: rate(l.variant.tax_class) })),
    { orderDiscount: null, mode: settings.tax_mode, rounding: settings.tax_rounding },
  );
});
