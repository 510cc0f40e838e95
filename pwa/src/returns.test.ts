import { describe, expect, it } from "vitest";
import { ApiError, Unreachable } from "./api";
import {
  creditReference,
  dispositionText,
  lineRefund,
  noReceiptRefund,
  payOutText,
  receiptNumber,
  receiptProblem,
  refundAs,
  refundToOriginal,
  returnBody,
  taxIn,
  type ReceiptLine,
} from "./returns";

function sold(fields: Partial<ReceiptLine>): ReceiptLine {
  return {
    line: 1,
    variant: "0193a000-0000-7000-8000-000000000001",
    sku: "TEE-M-RED",
    title: "Classic Tee — M / Red",
    qty: 2,
    qty_scale: 1,
    unit_price: 1299,
    gross: 2598,
    discount: 0,
    tax: 433,
    total: 2598,
    tax_rate_ppm: 200_000,
    voided: false,
    returned: 0,
    returnable: 2,
    refunded: 0,
    ...fields,
  };
}

describe("receipt numbers", () => {
  it("takes a register's receipt number, tidied, and nothing else", () => {
    expect(receiptNumber(" S01-R02-000017\n")).toBe("s01-r02-000017");
    expect(receiptNumber("s01-ap-000003")).toBe("s01-ap-000003");
    expect(receiptNumber("4006381333931")).toBeNull();
    expect(receiptNumber("s01-r02-17")).toBeNull();
  });
});

describe("a line's refund (refund_for of what was paid)", () => {
  it("gives back a unit's share of the total and its tax", () => {
    expect(lineRefund(sold({}), 1)).toEqual({ total: 1299, tax: 217 });
    // The second unit takes what is left, so both returns add up to the line.
    expect(lineRefund(sold({ returned: 1, returnable: 1 }), 1)).toEqual({ total: 1299, tax: 216 });
    expect(lineRefund(sold({}), 0)).toEqual({ total: 0, tax: 0 });
  });

  it("shares out a discounted line exactly as the appliance does", () => {
    // Values from protocol/pricing.py refund_for for a line of 3 paying 10.00 with 1.67 tax.
    const line = sold({ qty: 3, gross: 1100, discount: 100, total: 1000, tax: 167 });
    expect([0, 1, 2].map((before) => lineRefund({ ...line, returned: before }, 1))).toEqual([
      { total: 333, tax: 56 },
      { total: 334, tax: 55 },
      { total: 333, tax: 56 },
    ]);
    expect(lineRefund({ ...line, returned: 1 }, 2)).toEqual({ total: 667, tax: 111 });
  });

  it("refuses to return more than was sold", () => {
    expect(() => lineRefund(sold({ returned: 2, returnable: 0 }), 1)).toThrow();
  });
});

describe("where the refund goes", () => {
  const split = [
    { kind: "cash", paid: 1000, refunded: 0, reference: null },
    { kind: "card", paid: 1598, refunded: 0, reference: "T-1" },
  ];

  it("goes to the card first, with its reference", () => {
    expect(refundToOriginal(split, 1299, "SC-x")).toEqual([{ kind: "card", amount: 1299, reference: "T-1" }]);
  });

  it("never gives a tender more than it paid and has not had back, cash last", () => {
    const after = split.map((t) => (t.kind === "card" ? { ...t, refunded: 1299 } : t));
    expect(refundToOriginal(after, 1299, "SC-x")).toEqual([
      { kind: "card", amount: 299, reference: "T-1" },
      { kind: "cash", amount: 1000, reference: null },
    ]);
  });

  it("makes store credit of what no tender can take (a sale paid with exchange credit)", () => {
    const tenders = [
      { kind: "exchange", paid: 1299, refunded: 0, reference: null },
      { kind: "card", paid: 950, refunded: 0, reference: "AUTH" },
    ];
    expect(refundToOriginal(tenders, 2249, "SC-s01-r02-000004")).toEqual([
      { kind: "card", amount: 950, reference: "AUTH" },
      { kind: "store_credit", amount: 1299, reference: "SC-s01-r02-000004" },
    ]);
  });

  it("pays store credit or cash as one tender when asked", () => {
    const reference = creditReference("s01-r02-000005");
    expect(refundAs("store_credit", 950, reference)).toEqual([{ kind: "store_credit", amount: 950, reference: "SC-s01-r02-000005" }]);
    expect(refundAs("cash", 950, reference)).toEqual([{ kind: "cash", amount: 950, reference: null }]);
    expect(refundAs("cash", 0, reference)).toEqual([]);
  });

  it("tells the cashier what to hand over", () => {
    expect(
      payOutText(
        [
          { kind: "card", amount: 299, reference: "T-1" },
          { kind: "cash", amount: 1000, reference: null },
        ],
        "EUR",
      ),
    ).toBe("€2.99 to card; Give back €10.00 cash");
    expect(payOutText([{ kind: "store_credit", amount: 950, reference: "SC-1" }], "EUR")).toBe("€9.50 store credit on SC-1");
  });
});

describe("without a receipt", () => {
  it("contains tax as appliance/returns.py tax_in does", () => {
    // Values from tax_in in Python.
    expect(taxIn(950, 200_000)).toBe(158);
    expect(taxIn(1140, 200_000)).toBe(190);
    expect(taxIn(3, 200_000)).toBe(1);
    expect(taxIn(1299, 70_000)).toBe(85);
    expect(taxIn(0, 200_000)).toBe(0);
    expect(taxIn(10 ** 15, 88_750)).toBe(81_515_499_425_947);
  });

  it("gives back at most today's price, with tax added when prices exclude it", () => {
    expect(noReceiptRefund(950, 1, 200_000, "inclusive")).toEqual({ total: 950, tax: 158 });
    expect(noReceiptRefund(950, 2, 200_000, "inclusive")).toEqual({ total: 1900, tax: 317 });
    expect(noReceiptRefund(950, 1, 200_000, "exclusive")).toEqual({ total: 1140, tax: 190 });
  });
});

describe("the return.completed body", () => {
  it("numbers the lines and totals them", () => {
    const line = { original_line: 2, variant: "v", qty: 1, refund: 1299, tax: 217, reason: "changed_mind" };
    const body = returnBody({
      receipt: "s01-r02-000005",
      shift: "shift",
      original: "s01-r01-000001",
      lines: [
        { ...line, line: 7 },
        { ...line, line: 9, original_line: 3, refund: 950, tax: 158 },
      ],
      tenders: [
        { kind: "card", amount: 1249, reference: "T-1" },
        { kind: "cash", amount: 1000, reference: null },
      ],
    });
    expect(body).toEqual({
      receipt: "s01-r02-000005",
      shift: "shift",
      original: "s01-r01-000001",
      lines: [
        { ...line, line: 1 },
        { ...line, line: 2, original_line: 3, refund: 950, tax: 158 },
      ],
      tenders: [
        { kind: "card", amount: 1249, reference: "T-1" },
        { kind: "cash", amount: 1000 },
      ],
      totals: { total: 2249, tax: 375 },
    });
  });

  it("says what happens to the goods", () => {
    expect(dispositionText("restock")).toBe("back on the shelf");
    expect(dispositionText("damaged")).toBe("damaged");
    expect(dispositionText("rtv")).toBe("return to vendor");
  });
});

describe("receiptProblem", () => {
  const n = "s02-r01-000017";
  it("says what to do for each way a lookup fails", () => {
    expect(receiptProblem(new ApiError(404, "unknown_receipt", "x"), n)).toBe(`No sale has the receipt number ${n}.`);
    expect(receiptProblem(new Unreachable("down"), n)).toContain("appliance cannot be reached");
    for (const code of ["cloud_offline", "cloud_timeout"]) {
      const text = receiptProblem(new ApiError(503, code, "x"), n);
      expect(text).toContain("another store");
      expect(text).toContain("Use No receipt");
    }
    expect(receiptProblem(new ApiError(502, "bad_cloud_reply", "x"), n)).toContain("could not be read");
  });
  it("passes the appliance's own words on for a refusal", () => {
    const refusal = new ApiError(422, "foreign_receipt_mismatch", "tax rules differ: return the items without the receipt");
    expect(receiptProblem(refusal, n)).toBe("tax rules differ: return the items without the receipt");
  });
});
