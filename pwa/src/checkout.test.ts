import "fake-indexeddb/auto";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { add, cart, exchange, orderDiscount, totals } from "./cart";
import { addPayment, changeDue, completeSale, creditUsed, remaining } from "./checkout";
import { db, type VariantDoc } from "./db";
import type { Envelope } from "./protocol/envelope";
import { device, session, store } from "./session";
import { quickCash } from "./screens/Tender";

const tee: VariantDoc = {
  id: "0192f0a0-0000-7000-8000-000000000001",
  sku: "TEE-M-RED",
  product: "Classic Tee",
  title: "Classic Tee — M / Red",
  options: {},
  barcodes: ["4006381333931"],
  category: null,
  price: 1299,
  currency: "EUR",
  tax_class: "standard",
  active: true,
};

/** A fake appliance that keeps whatever it is sent. */
function appliance(): { pushes: Envelope[][] } {
  const pushes: Envelope[][] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (_url: string, init: RequestInit) => {
      const events = (JSON.parse(String(init.body)) as { events: Envelope[] }).events;
      pushes.push(events);
      const last = events[events.length - 1]!.seq;
      return new Response(JSON.stringify({ acked: { "s01-r02": last }, flagged: [] }), { status: 200 });
    }),
  );
  return { pushes };
}

beforeEach(async () => {
  vi.unstubAllGlobals();
  await db.delete();
  await db.open();
  cart.value = [];
  orderDiscount.value = null;
  exchange.value = null;
  device.value = { token: "tbd_device", register: { id: "s01-r02", name: "Till 2" }, store: "s01" };
  session.value = { token: "tbs_session", staff: { id: "s01-staff-1", name: "Maya", role: "cashier", locked: false } };
  store.value = {
    store: "s01",
    name: "Main Street",
    currency: "EUR",
    tax_mode: "inclusive",
    tax_rounding: "line",
    tax_rates: [{ tax_class: "standard", rate_ppm: 200_000 }],
    discount_threshold_bp: 1000,
    no_receipt_refunds: ["store_credit", "cash"],
    override_ttl_seconds: 60,
    denominations: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000],
    catalog_version: 3,
  };
});

describe("payments", () => {
  it("merges cash into one tender and gives change only for cash", () => {
    let payments = addPayment([], { kind: "cash", amount: 500, tendered: 500 });
    payments = addPayment(payments, { kind: "card", amount: 300, reference: "A1" });
    payments = addPayment(payments, { kind: "cash", amount: 499, tendered: 2000 });
    expect(payments).toEqual([
      { kind: "cash", amount: 999, tendered: 2500 },
      { kind: "card", amount: 300, reference: "A1" },
    ]);
    expect(changeDue(payments)).toBe(1501);
    expect(remaining(1299, payments)).toBe(0);
    expect(remaining(1500, payments)).toBe(201);
  });

  it("uses an exchange credit up to the sale's total", () => {
    const credit = { original: null, lines: [], titles: [], total: 1000, tax: 167, refundTo: [], override: null };
    expect(creditUsed(2500, credit)).toBe(1000);
    expect(creditUsed(600, credit)).toBe(600);
    expect(creditUsed(600, null)).toBe(0);
  });

  it("offers the next round notes above what is due", () => {
    expect(quickCash(1302, [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000])).toEqual([1500, 2000, 5000]);
    // A round amount due is paid exact (the Cash button): only a bigger note is offered.
    expect(quickCash(2000, [500, 1000, 2000, 5000])).toEqual([5000]);
  });
});

describe("completing a sale", () => {
  it("seals the sale with its lines, discount, tenders and totals, and empties the cart", async () => {
    const fake = appliance();
    add(tee);
    add(tee);
    orderDiscount.value = { kind: "percent", value: 500, reason: "Loyalty" };
    expect(totals.value?.total).toBe(2468);
    const done = await completeSale("0192f0a0-0000-7000-8000-0000000000aa", 3, [
      { kind: "cash", amount: 2468, tendered: 3000 },
    ]);
    expect(done).toMatchObject({ receipt: "s01-r02-000001", total: 2468, change: 532, queued: false });
    const [event] = fake.pushes[0]!;
    expect(event!.type).toBe("sale.completed");
    expect(event!.body).toEqual({
      receipt: "s01-r02-000001",
      shift: "0192f0a0-0000-7000-8000-0000000000aa",
      catalog_version: 3,
      currency: "EUR",
      lines: [{ line: 1, variant: tee.id, qty: 2, unit_price: 1299 }],
      order_discount: { kind: "percent", value: 500, reason: "Loyalty" },
      tenders: [{ kind: "cash", amount: 2468, tendered: 3000 }],
      totals: { subtotal: 2598, discount: 130, tax: 411, total: 2468 },
    });
    expect([cart.value, orderDiscount.value]).toEqual([[], null]);
  });

  it("sends an exchange's return and sale in one push, linked both ways, the credit as a tender", async () => {
    const fake = appliance();
    add(tee);
    add(tee);
    exchange.value = {
      original: "s01-r01-000007",
      lines: [{ line: 1, original_line: 1, variant: tee.id, qty: 1, refund: 1299, tax: 217, reason: "wrong_size" }],
      titles: ["Classic Tee — L / Red"],
      total: 1299,
      tax: 217,
      refundTo: [{ kind: "card", amount: 1299, reference: "A1" }],
      override: null,
    };
    const done = await completeSale("0192f0a0-0000-7000-8000-0000000000aa", 3, [
      { kind: "card", amount: 1299, reference: "B2" },
    ]);
    expect(fake.pushes).toHaveLength(1);
    const [ret, sale] = fake.pushes[0]!;
    expect([ret!.type, sale!.type]).toEqual(["return.completed", "sale.completed"]);
    expect(ret!.body).toMatchObject({
      receipt: "s01-r02-000001",
      original: "s01-r01-000007",
      tenders: [{ kind: "exchange", amount: 1299 }],
      totals: { total: 1299, tax: 217 },
      exchange: sale!.id,
    });
    expect(sale!.body).toMatchObject({
      receipt: "s01-r02-000002",
      exchange_of: ret!.id,
      tenders: [
        { kind: "exchange", amount: 1299 },
        { kind: "card", amount: 1299, reference: "B2" },
      ],
    });
    expect(done.receipt).toBe("s01-r02-000002");
    expect(exchange.value).toBeNull();
  });

  it("refunds what a cheaper replacement leaves of the credit to the original tender", async () => {
    const fake = appliance();
    add({ ...tee, id: "0192f0a0-0000-7000-8000-000000000002", price: 500 });
    exchange.value = {
      original: "s01-r01-000007",
      lines: [{ line: 1, original_line: 1, variant: tee.id, qty: 1, refund: 1299, tax: 217, reason: "wrong_size" }],
      titles: ["Classic Tee — L / Red"],
      total: 1299,
      tax: 217,
      refundTo: [{ kind: "card", amount: 1299, reference: "A1" }],
      override: null,
    };
    const done = await completeSale("0192f0a0-0000-7000-8000-0000000000aa", 3, []);
    const [ret, sale] = fake.pushes[0]!;
    expect(ret!.body["tenders"]).toEqual([
      { kind: "exchange", amount: 500 },
      { kind: "card", amount: 799, reference: "A1" },
    ]);
    expect(sale!.body["tenders"]).toEqual([{ kind: "exchange", amount: 500 }]);
    expect(done.refunded).toEqual([{ kind: "card", amount: 799, reference: "A1" }]);
  });

  it("refuses payments that do not add up, and seals nothing", async () => {
    const fake = appliance();
    add(tee);
    await expect(completeSale("0192f0a0-0000-7000-8000-0000000000aa", 3, [{ kind: "cash", amount: 100 }])).rejects.toThrow(
      "do not add up",
    );
    expect(fake.pushes).toHaveLength(0);
    expect(await db.outbox.count()).toBe(0);
  });
});
