import { describe, expect, it } from "vitest";
import { WedgeDetector, gs1CheckDigitOk, upcEToA, type Key } from "./scanner";

/** Keys typed `gap` ms apart, starting at `start`. */
function keys(text: string, gap: number, start = 1000, end = "Enter"): Key[] {
  return [...text.split(""), end].map((key, i) => ({ key, timeStamp: start + i * gap }));
}

function feed(detector: WedgeDetector, presses: Key[]): (string | null)[] {
  return presses.map((k) => detector.key(k)).filter((c) => c !== null);
}

describe("the keyboard-wedge detector", () => {
  it("takes a fast burst ending in Enter as a scan", () => {
    expect(feed(new WedgeDetector(), keys("4006381333931", 4))).toEqual(["4006381333931"]);
  });

  it("leaves typing alone, however it ends", () => {
    expect(feed(new WedgeDetector(), keys("4006381333931", 120))).toEqual([]);
  });

  it("does not take the end of slow typing followed by a fast Enter", () => {
    const presses = keys("12345", 150);
    presses[presses.length - 1]!.timeStamp = presses[presses.length - 2]!.timeStamp + 5;
    expect(feed(new WedgeDetector(), presses)).toEqual([]);
  });

  it("starts a scan afresh after a pause, so a stray key before it does not stick", () => {
    const stray: Key = { key: "x", timeStamp: 0 };
    expect(feed(new WedgeDetector(), [stray, ...keys("96385074", 5, 5000)])).toEqual(["96385074"]);
  });

  it("ignores codes shorter than the minimum", () => {
    expect(feed(new WedgeDetector({ minLength: 8 }), keys("12345", 3))).toEqual([]);
  });

  it("strips a configured prefix and honours a configured suffix", () => {
    const detector = new WedgeDetector({ prefix: "]E0", suffix: "Tab" });
    expect(feed(detector, keys("]E04006381333931", 3, 1000, "Tab"))).toEqual(["4006381333931"]);
    expect(feed(detector, keys("4006381333931", 3, 9000, "Tab"))).toEqual([]);
  });

  it("keeps Shift inside a scan of letters", () => {
    const presses: Key[] = [
      { key: "Shift", timeStamp: 0 },
      { key: "T", timeStamp: 3 },
      { key: "B", timeStamp: 6 },
      { key: "-", timeStamp: 9 },
      { key: "0", timeStamp: 12 },
      { key: "0", timeStamp: 15 },
      { key: "0", timeStamp: 18 },
      { key: "1", timeStamp: 21 },
      { key: "Enter", timeStamp: 24 },
    ];
    expect(feed(new WedgeDetector(), presses)).toEqual(["TB-0001"]);
  });
});

describe("GS1 check digits", () => {
  it("accepts good GTINs and non-GS1 codes, refuses a wrong check digit", () => {
    for (const good of ["4006381333931", "96385074", "036000291452", "00012345600012", "TB-0001", "12345678901"]) {
      expect(gs1CheckDigitOk(good)).toBe(true);
    }
    for (const bad of ["4006381333932", "96385075", "036000291453"]) expect(gs1CheckDigitOk(bad)).toBe(false);
  });

  it("checks an 8-digit UPC-E as the UPC-A it stands for", () => {
    expect(upcEToA("04252614")).toBe("042100005264");
    expect(gs1CheckDigitOk("04252614")).toBe(true);
    expect(gs1CheckDigitOk("04252615")).toBe(false);
  });
});
