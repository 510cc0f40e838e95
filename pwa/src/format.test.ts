import { afterEach, describe, expect, it } from "vitest";
import { formatMoney } from "./format";
import { store, type StoreSettings } from "./session";

const settings = (locale?: string): StoreSettings => ({
  store: "s01",
  name: "Main Street",
  currency: "EUR",
  ...(locale ? { locale } : {}),
  tax_mode: "inclusive",
  tax_rounding: "line",
  tax_rates: [],
  discount_threshold_bp: 1000,
  no_receipt_refunds: ["store_credit"],
  override_ttl_seconds: 60,
  denominations: [],
  catalog_version: 0,
});

afterEach(() => {
  store.value = null;
});

describe("money in the store's locale", () => {
  it("follows the store's locale", () => {
    store.value = settings("de-DE");
    expect(formatMoney(123456, "EUR")).toMatch(/^1\.234,56\s€$/);
    store.value = settings("en-IE");
    expect(formatMoney(123456, "EUR")).toBe("€1,234.56");
  });

  it("shows negative amounts and yen without decimals", () => {
    store.value = settings("en-IE");
    expect(formatMoney(-1299, "EUR")).toBe("-€12.99");
    expect(formatMoney(1299, "JPY")).toBe("JP¥1,299");
  });
});
