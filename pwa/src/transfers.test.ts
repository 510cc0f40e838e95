import { describe, expect, it } from "vitest";
import { ApiError, Unreachable } from "./api";
import { checkReceipt, loadInbound, markReceived, type Inbound, type InboundList, type Keep } from "./transfers";

const shipment: Inbound = {
  id: "0193a6f0-0000-7000-8000-0000000000aa",
  from_store: "s02",
  to_store: "s01",
  note: null,
  lines: [
    { sku: "MUG-1", title: "Mug", variant: "0193a6f0-0000-7000-8000-000000000001", shipped: 4 },
    { sku: "TEE-M", title: "Tee", variant: "0193a6f0-0000-7000-8000-000000000002", shipped: 1 },
  ],
};
const list: InboundList = { store: "s01", checked_at: "2026-12-08T10:00:00.000Z", transfers: [shipment] };

function memory(): Keep & { data: Map<string, unknown> } {
  const data = new Map<string, unknown>();
  return {
    data,
    async get<T>(key: string) {
      return data.get(key) as T | undefined;
    },
    async put(key: string, value: unknown) {
      data.set(key, structuredClone(value));
    },
  };
}

describe("loadInbound", () => {
  it("asks the appliance with the token and keeps the answer", async () => {
    const keep = memory();
    const asked: string[] = [];
    const got = await loadInbound(keep, "tbd_x", async <T>(method: string, path: string, options: { token?: string | null }) => {
      asked.push(`${method} ${path} ${options.token}`);
      return list as T;
    });
    expect(asked).toEqual(["GET /transfers/inbound tbd_x"]);
    expect(got).toEqual({ list, live: true, message: null });
    expect(keep.data.get("transfers_inbound")).toEqual(list);
  });
  it("shows the kept list when the appliance is away, without what this tablet received", async () => {
    const keep = memory();
    await loadInbound(keep, null, async <T>() => list as T);
    const down = async <T>(): Promise<T> => {
      throw new Unreachable("down");
    };
    const offline = await loadInbound(keep, null, down);
    expect(offline.live).toBe(false);
    expect(offline.list?.transfers).toEqual([shipment]);
    expect(offline.message).toContain("cannot be reached");
    await markReceived(keep, shipment.id);
    expect((await loadInbound(keep, null, down)).list?.transfers).toEqual([]);
    // Once the appliance has booked it in, it no longer lists it and the tablet forgets it.
    await loadInbound(keep, null, async <T>() => ({ ...list, transfers: [] }) as T);
    expect(keep.data.get("transfers_received")).toEqual([]);
  });
  it("says why on a refusal, with nothing kept yet", async () => {
    const got = await loadInbound(memory(), null, async <T>(): Promise<T> => {
      throw new ApiError(401, "unauthorized", "pair this tablet again");
    });
    expect(got).toEqual({ list: null, live: false, message: "pair this tablet again" });
  });
});

describe("checkReceipt", () => {
  it("takes what was shipped when nothing is typed", () => {
    const got = checkReceipt(shipment, {}, "");
    expect(got).toEqual({
      ok: true,
      differs: false,
      body: {
        transfer: shipment.id,
        from_store: "s02",
        lines: [
          { variant: shipment.lines[0]!.variant, qty: 4 },
          { variant: shipment.lines[1]!.variant, qty: 1 },
        ],
      },
    });
  });
  it("needs a reason when a count differs, and leaves out what did not come", () => {
    expect(checkReceipt(shipment, { "MUG-1": "3", "TEE-M": "0" }, " ")).toEqual({
      ok: false,
      errors: { reason: expect.stringContaining("say why") },
    });
    const got = checkReceipt(shipment, { "MUG-1": "3", "TEE-M": "" }, "one broken");
    expect(got).toEqual({
      ok: true,
      differs: true,
      body: { transfer: shipment.id, from_store: "s02", lines: [{ variant: shipment.lines[0]!.variant, qty: 3 }], reason: "one broken" },
    });
  });
  it("refuses counts that are not whole numbers, items not sold here, and nothing at all", () => {
    expect(checkReceipt(shipment, { "MUG-1": "-1", "TEE-M": "1.5" }, "x")).toEqual({
      ok: false,
      errors: { "MUG-1": "a whole number from 0", "TEE-M": "a whole number from 0" },
    });
    const unknown: Inbound = { ...shipment, lines: [{ sku: "NEW-1", title: null, variant: null, shipped: 2 }] };
    expect(checkReceipt(unknown, {}, "")).toEqual({ ok: false, errors: { "NEW-1": expect.stringContaining("not in this store") } });
    expect(checkReceipt(shipment, { "MUG-1": "0", "TEE-M": "0" }, "lost")).toEqual({
      ok: false,
      errors: { _form: expect.stringContaining("nothing arrived") },
    });
  });
});
