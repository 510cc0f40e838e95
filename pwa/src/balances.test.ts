import { describe, expect, it } from "vitest";
import { ApiError, Unreachable } from "./api";
import { holdBalance, releaseHold } from "./balances";

function failing(error: Error) {
  return async <T>(): Promise<T> => {
    throw error;
  };
}

describe("holdBalance", () => {
  it("asks for the hold with the session and gives back its id", async () => {
    const asked: unknown[] = [];
    const got = await holdBalance("gift_card", "GC-1", 1299, "EUR", "tbs_x", async <T>(method: string, path: string, options: { token?: string | null; body?: unknown }) => {
      asked.push([method, path, options.token, options.body]);
      return { hold: "h1", available: 701 } as T;
    });
    expect(asked).toEqual([["POST", "/balances/holds", "tbs_x", { kind: "gift_card", reference: "GC-1", amount: 1299 }]]);
    expect(got).toEqual({ kind: "held", hold: "h1", available: 701 });
  });
  it("refuses an unknown card and one without enough, saying what is left", async () => {
    expect(await holdBalance("gift_card", "GC-9", 100, "EUR", null, failing(new ApiError(404, "unknown_account", "x")))).toEqual({
      kind: "refused",
      message: "No gift card GC-9.",
    });
    const short = await holdBalance("store_credit", "SC-1", 5000, "EUR", null, failing(new ApiError(409, "insufficient_balance", "x", { available: 1250 })));
    expect(short.kind).toBe("refused");
    expect(short.kind === "refused" && short.message).toContain("12.50");
  });
  it("lets the payment go on trust when the cloud or the appliance cannot be asked", async () => {
    for (const error of [new ApiError(503, "cloud_offline", "x"), new ApiError(503, "cloud_timeout", "x"), new Unreachable("down")]) {
      expect((await holdBalance("gift_card", "GC-1", 100, "EUR", null, failing(error))).kind).toBe("offline");
    }
  });
  it("passes any other refusal on in the appliance's words", async () => {
    expect(await holdBalance("gift_card", "GC-1", 100, "EUR", null, failing(new ApiError(422, "wrong_currency", "GC-1 holds USD")))).toEqual({
      kind: "refused",
      message: "GC-1 holds USD",
    });
  });
});

describe("releaseHold", () => {
  it("deletes the hold and swallows failures", async () => {
    const asked: string[] = [];
    await releaseHold("h 1", "tbs_x", async <T>(method: string, path: string) => {
      asked.push(`${method} ${path}`);
      return undefined as T;
    });
    expect(asked).toEqual(["DELETE /balances/holds/h%201"]);
    await expect(releaseHold("h1", null, failing(new Unreachable("down")))).resolves.toBeUndefined();
  });
});
