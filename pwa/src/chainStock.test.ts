import { describe, expect, it } from "vitest";
import { ApiError, Unreachable } from "./api";
import { otherStores, type ChainStock } from "./chainStock";

const answer: ChainStock = {
  variant: "0193a6f0-0000-7000-8000-000000000001",
  sku: "TEE-M-RED",
  store: "s01",
  asked_at: "2026-12-07T10:00:00.000Z",
  stores: [{ store: "s02", name: "Harbour Street", on_hand: 7, synced_at: "2026-12-07T09:59:00.000Z" }],
};

function failing(error: Error) {
  return async <T>(): Promise<T> => {
    throw error;
  };
}

describe("otherStores", () => {
  it("asks for the variant, escaped, with the token, and lists the stores", async () => {
    const asked: string[] = [];
    const got = await otherStores("TEE/M RED", "tbd_x", async <T>(method: string, path: string, options: { token?: string | null }) => {
      asked.push(`${method} ${path} ${options.token}`);
      return answer as T;
    });
    expect(asked).toEqual(["GET /stock/chain?variant=TEE%2FM%20RED tbd_x"]);
    expect(got).toEqual({ kind: "stores", asked_at: answer.asked_at, stores: answer.stores });
  });
  it("says the cloud cannot be asked on a 503, whatever its code", async () => {
    for (const code of ["cloud_offline", "cloud_timeout"]) {
      const got = await otherStores("v", null, failing(new ApiError(503, code, "x")));
      expect(got).toEqual({ kind: "unavailable", message: expect.stringContaining("offline from the cloud") });
    }
  });
  it("tells an unreadable answer and an unreachable appliance apart", async () => {
    expect(await otherStores("v", null, failing(new ApiError(502, "bad_cloud_reply", "x")))).toEqual({
      kind: "unavailable",
      message: expect.stringContaining("could not be read"),
    });
    expect(await otherStores("v", null, failing(new Unreachable("down")))).toEqual({
      kind: "unavailable",
      message: expect.stringContaining("appliance cannot be reached"),
    });
    expect(await otherStores("v", null, failing(new ApiError(404, "not_found", "no variant v")))).toEqual({
      kind: "unavailable",
      message: "no variant v",
    });
  });
});
