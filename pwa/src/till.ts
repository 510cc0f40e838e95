// This register's chain of events: seal the next one (seq, prev hash, HLC), keep it on the
// tablet, push it live with the cashier's session, and advance the chain once the appliance
// holds it. A push whose answer never came is sent again as the very same envelope (same id
// and seq), which the appliance takes as a no-op if it already has it: nothing is doubled.
import { signal } from "@preact/signals";
import { ApiError, call } from "./api";
import { db } from "./db";
import type { JsonObject } from "./protocol/canonical";
import { formatAt, seal, type Envelope, type EventType } from "./protocol/envelope";
import { Clock, parseHlc } from "./protocol/hlc";
import { newId } from "./protocol/ids";
import { device, session } from "./session";

type Chain = { seq: number; prev: string | null; receipts: number; hlc: string | null };
type Pending = { envelope: Envelope; usesReceipt: boolean };
export type Flag = { code: string; message: string };
export type PushResult = { acked: Record<string, number>; flagged: { id: string; flags: Flag[] }[] };

/** A sealed event the appliance has not confirmed yet (its answer was lost), or null. */
export const pending = signal<Pending | null>(null);

let clock: Clock | null = null;
let queue: Promise<unknown> = Promise.resolve();

async function chain(): Promise<Chain> {
  return (await db.get<Chain>("chain")) ?? { seq: 0, prev: null, receipts: 0, hlc: null };
}

/** Load a pending event left by a reload or a crash. */
export async function restorePending(): Promise<void> {
  pending.value = (await db.get<Pending>("pending")) ?? null;
}

/** The next receipt number of this register, e.g. s01-r02-000017 (taken when used). */
export async function nextReceipt(): Promise<string> {
  const current = await chain();
  const origin = device.value?.register.id ?? "";
  return `${origin}-${String(current.receipts + 1).padStart(6, "0")}`;
}

function serial<T>(work: () => Promise<T>): Promise<T> {
  const run = queue.then(work);
  queue = run.catch(() => undefined);
  return run;
}

/** Seal and push one live event; events go one at a time, in seq order. */
export function send(type: EventType, body: JsonObject, options: { receipt?: boolean } = {}): Promise<PushResult> {
  return serial(async () => {
    if (pending.value) throw new Error("the last event is not confirmed yet: send it again first");
    const dev = device.value;
    const staff = session.value;
    if (!dev || !staff) throw new Error("log in first");
    const current = await chain();
    // The clock carries on from the last stamp this register used, even across a reload with
    // the tablet's clock set back: the appliance refuses events whose HLC goes backwards.
    clock ??= new Clock(dev.register.id, { last: current.hlc ? parseHlc(current.hlc) : null });
    const envelope = seal({
      id: newId(),
      type,
      store: dev.store,
      origin: dev.register.id,
      seq: current.seq + 1,
      hlc: clock.now(),
      at: formatAt(Date.now()),
      actor: staff.staff.id,
      override: null,
      body,
      prev: current.prev,
    });
    const sealed: Pending = { envelope, usesReceipt: options.receipt ?? false };
    await db.put("pending", sealed);
    pending.value = sealed;
    return push(sealed, staff.token);
  });
}

/** Send the unconfirmed event again (the same envelope). */
export function resend(): Promise<PushResult> {
  return serial(async () => {
    const sealed = pending.value;
    const staff = session.value;
    if (!sealed) throw new Error("nothing to send again");
    if (!staff) throw new Error("log in first");
    return push(sealed, staff.token);
  });
}

async function push(sealed: Pending, token: string): Promise<PushResult> {
  let result: PushResult;
  try {
    result = await call<PushResult>("POST", "/events", {
      token,
      body: { events: [sealed.envelope], mode: "live" },
    });
  } catch (error) {
    if (error instanceof ApiError && error.status === 422) {
      // Refused, and nothing stored: the chain stays where it was.
      await settle(null);
    }
    throw error;
  }
  const current = await chain();
  await settle({
    seq: sealed.envelope.seq,
    prev: sealed.envelope.hash,
    receipts: current.receipts + (sealed.usesReceipt ? 1 : 0),
    hlc: sealed.envelope.hlc,
  });
  return result;
}

async function settle(next: Chain | null): Promise<void> {
  await db.transaction("rw", db.kv, async () => {
    if (next) await db.put("chain", next);
    await db.kv.delete("pending");
  });
  pending.value = null;
}
