import { describe, expect, it } from "vitest";
import { printerTrouble, type PrinterState } from "./screens/PrinterStatus";

const fine: PrinterState = {
  name: "Front",
  online: true,
  paper_out: false,
  paper_low: false,
  cover_open: false,
  queued: 0,
  failed_recently: 0,
  last_error: null,
};

describe("printerTrouble", () => {
  it("says nothing when the printer is fine or there is none", () => {
    expect(printerTrouble(fine)).toBeNull();
    expect(printerTrouble(null)).toBeNull();
  });
  it("puts the cover before the paper, and counts what waits", () => {
    expect(printerTrouble({ ...fine, cover_open: true, paper_out: true, queued: 2 })).toBe("Printer cover open · 2 waiting to print");
    expect(printerTrouble({ ...fine, paper_out: true, queued: 1 })).toBe("Printer out of paper · 1 waiting to print");
    expect(printerTrouble({ ...fine, online: false })).toBe("Printer offline");
  });
  it("reports a receipt that gave up, and low paper last", () => {
    expect(printerTrouble({ ...fine, failed_recently: 1, last_error: "the printer is offline" })).toBe(
      "A receipt did not print (the printer is offline)",
    );
    expect(printerTrouble({ ...fine, paper_low: true })).toBe("Printer paper running low");
  });
});
