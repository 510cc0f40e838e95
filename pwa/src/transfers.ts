// Receiving transfers from other stores (decisions.md §55): the shipments on their way to this
// store (GET /transfers/inbound, kept on the tablet so they can be received with the appliance
// away), and the transfer.received event the cashier's count becomes. The event goes through
// the register's journal and outbox like a sale: it is safe on the tablet the moment it is
// sealed, and the appliance moves the stock when it gets it.

import { ApiError, Unreachable, call } from "./api";
import type { JsonObject } from "./protocol/canonical";

export type InboundLine = { sku: string; title: string | null; variant: string | null; shipped: number };
export type Inbound = { id: string; from_store: string; to_store: string; note: string | null; lines: InboundLine[] };
export type InboundList = { store: string; checked_at: string | null; transfers: Inbound[] };

/** Where the list is kept on the tablet, and which transfers this tablet has received. */
export type Keep = {
  get<T>(key: string): Promise<T | undefined>;
  put(key: string, value: unknown): Promise<void>;
};

const LIST_KEY = "transfers_inbound";
const RECEIVED_KEY = "transfers_received";

type Caller = <T>(method: string, path: string, options: { token?: string | null }) => Promise<T>;

/** What the Receive screen shows: the shipments, whether they are the appliance's answer now
 * or the last one kept here, and why not live. Never throws. */
export type Loaded = { list: InboundList | null; live: boolean; message: string | null };

/** Ask the appliance for the shipments to receive; keep the answer; fall back to the kept
 * one when it cannot be reached. Those this tablet has received already are left out. */
export async function loadInbound(keep: Keep, token: string | null, ask: Caller = call): Promise<Loaded> {
  const received = new Set((await keep.get<string[]>(RECEIVED_KEY)) ?? []);
  const without = (list: InboundList): InboundList => ({
    ...list,
    transfers: list.transfers.filter((t) => !received.has(t.id)),
  });
  try {
    const list = await ask<InboundList>("GET", "/transfers/inbound", { token });
    await keep.put(LIST_KEY, list);
    // The appliance no longer lists what it has booked in: forget those here.
    const listed = new Set(list.transfers.map((t) => t.id));
    await keep.put(
      RECEIVED_KEY,
      [...received].filter((id) => listed.has(id)),
    );
    return { list: without(list), live: true, message: null };
  } catch (e) {
    const kept = (await keep.get<InboundList>(LIST_KEY)) ?? null;
    const message =
      e instanceof Unreachable
        ? "The store appliance cannot be reached: showing the shipments last seen. Receiving still works; it is sent when the appliance is back."
        : e instanceof ApiError
          ? e.message
          : String(e);
    return { list: kept ? without(kept) : null, live: false, message };
  }
}

/** The counts typed for a shipment, by SKU ("" is 0). */
export type Counts = Record<string, string>;

export type Checked =
  | { ok: true; body: JsonObject; differs: boolean }
  | { ok: false; errors: Record<string, string> };

const WHOLE = /^\d{1,7}$/;

/** The transfer.received body for what arrived, or what is wrong, by field ("reason", a SKU,
 * or "_form"). A count that differs from what was shipped needs a reason. */
export function checkReceipt(transfer: Inbound, counts: Counts, reason: string): Checked {
  const errors: Record<string, string> = {};
  const lines: { variant: string; qty: number }[] = [];
  let differs = false;
  for (const line of transfer.lines) {
    const raw = (counts[line.sku] ?? String(line.shipped)).trim() || "0";
    if (!WHOLE.test(raw)) {
      errors[line.sku] = "a whole number from 0";
      continue;
    }
    const qty = Number(raw);
    if (qty !== line.shipped) differs = true;
    if (qty === 0) continue;
    if (line.variant === null) {
      errors[line.sku] = "not in this store's products: ask your manager";
      continue;
    }
    lines.push({ variant: line.variant, qty });
  }
  const why = reason.trim();
  if (differs && !why) errors["reason"] = "what arrived differs from what was shipped: say why";
  if (why.length > 200) errors["reason"] = "at most 200 characters";
  if (!Object.keys(errors).length && !lines.length) {
    errors["_form"] = "nothing arrived? Leave it and tell your manager.";
  }
  if (Object.keys(errors).length) return { ok: false, errors };
  const body: JsonObject = { transfer: transfer.id, from_store: transfer.from_store, lines };
  if (why) body["reason"] = why;
  return { ok: true, body, differs };
}

/** Remember that this tablet received a transfer (until the appliance stops listing it). */
export async function markReceived(keep: Keep, id: string): Promise<void> {
  const received = (await keep.get<string[]>(RECEIVED_KEY)) ?? [];
  if (!received.includes(id)) await keep.put(RECEIVED_KEY, [...received, id]);
}
