// Money as the store shows it: the store's currency in the store's locale (GET /store).
import { formatMoney as format } from "./protocol/money";
import { store } from "./session";

/** Minor units for display, e.g. 1299 → "€12.99" (en-IE) or "12,99 €" (de-DE). */
export function formatMoney(amount: number, currency: string, locale: string | undefined = store.value?.locale): string {
  return format(amount, currency, locale);
}
