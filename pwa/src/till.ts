// This register's journal: every event is sealed here (seq, prev hash, HLC) and written to
// the IndexedDB outbox in the same transaction that advances the chain, before it is sent.
// Online, it goes to the appliance at once, live, with the cashier's session (a refusal
// rewinds the chain: nothing was stored). When the appliance cannot be reached the sale is
// still done: the event waits in the outbox, and the pusher replays the queue in seq order,
// with the device token, when the appliance is back. Pushing the same envelope twice is a
// no-op on the appliance, so a lost answer never doubles a sale.
//
// Events the appliance holds stay here, marked held, until the appliance says the cloud has
// applied them (ARCHITECTURE.md, principle 4): a dead appliance then loses no sale. When the
// appliance holds less of this register's chain than was marked held (it was replaced and
// restored from the cloud), the rest is queued again and pushed: `reconcile` does it from the
// sync status, and a push answered with a gap (409 seq_gap) does it from the seq expected.
import { signal } from "@preact/signals";
import { ApiError, Unreachable, call } from "./api";
import { db, type OutboxRow } from "./db";
import type { JsonObject } from "./protocol/canonical";
import { formatAt, seal, type Envelope, type EventType, type Override } from "./protocol/envelope";
import { Clock, parseHlc } from "./protocol/hlc";
import { newId } from "./protocol/ids";
import { device, endSession, session } from "./session";

type Chain = { seq: number; prev: string | null; receipts: number; hlc: string | null };
export type Flag = { code: string; message: string };
export type PushResult = { acked: Record<string, number>; flagged: { id: string; flags: Flag[] }[] };
export type Sent = { envelope: Envelope; queued: boolean; flags: Flag[] };

/** What the sync indicator shows: events waiting on this tablet, the oldest, the last ack. */
export const outboxState = signal<{ waiting: number; oldestAt: number | null; lastAckAt: number | null; pushing: boolean }>({
  waiting: 0,
  oldestAt: null,
  lastAckAt: null,
  pushing: false,
});

// Events stay on the tablet after the appliance has them, for the cloud, within these bounds.
const KEEP_HELD_MS = 14 * 24 * 3600 * 1000;
const KEEP_HELD_MAX = 100_000;
const BATCH = 100;

let clock: Clock | null = null;
let queue: Promise<unknown> = Promise.resolve();
let pusher: Promise<void> | null = null;
let retryTimer: ReturnType<typeof setTimeout> | null = null;
let retryMs = 1000;

async function chain(): Promise<Chain> {
  return (await db.get<Chain>("chain")) ?? { seq: 0, prev: null, receipts: 0, hlc: null };
}

function serial<T>(work: () => Promise<T>): Promise<T> {
  const run = queue.then(work);
  queue = run.catch(() => undefined);
  return run;
}

/** The next receipt number of this register, e.g. s01-r02-000017 (taken when used). */
export async function nextReceipt(): Promise<string> {
  return (await nextReceipts(1))[0] ?? "";
}

/** The next `count` receipt numbers (an exchange takes two: its return and its sale). */
export async function nextReceipts(count: number): Promise<string[]> {
  const current = await chain();
  const origin = device.value?.register.id ?? "";
  return Array.from({ length: count }, (_, i) => `${origin}-${String(current.receipts + 1 + i).padStart(6, "0")}`);
}

export async function refreshOutboxState(): Promise<void> {
  const waiting = await db.outbox.where("held").equals(0).count();
  const oldest = await db.outbox.where("[held+seq]").between([0, 0], [0, Infinity]).first();
  outboxState.value = { ...outboxState.value, waiting, oldestAt: oldest?.sealedAt ?? null };
}

/** One event to seal: its type, body, and whether it takes this register's next receipt number. */
export type Draft = {
  type: EventType;
  body: JsonObject;
  receipt?: boolean;
  /** The event's id, when another event of the same push names it (an exchange's halves). */
  id?: string;
  /** A supervisor's approval for the whole event (a no-sale, a return without a receipt). */
  override?: Override | null;
};

/** Seal the next event, keep it, and send it; resolves once it is safe on this tablet. */
export async function send(
  type: EventType,
  body: JsonObject,
  options: { receipt?: boolean; override?: Override | null } = {},
): Promise<Sent> {
  const [sent] = await sendTogether([{ type, body, ...options }]);
  if (!sent) throw new Error("nothing was sealed");
  return sent;
}

/** Seal several events as one push (an exchange: the return and its sale), kept and sent
 * together: the appliance takes all of them or, live, refuses all of them. */
export function sendTogether(drafts: readonly Draft[]): Promise<Sent[]> {
  return serial(async () => {
    const dev = device.value;
    const staff = session.value;
    if (!dev || !staff) throw new Error("log in first");
    const before = await chain();
    // The clock carries on from the last stamp this register used, even across a reload with
    // the tablet's clock set back: the appliance refuses events whose HLC goes backwards.
    clock ??= new Clock(dev.register.id, { last: before.hlc ? parseHlc(before.hlc) : null });
    let after: Chain = before;
    const envelopes: Envelope[] = [];
    for (const draft of drafts) {
      const envelope = seal({
        id: draft.id ?? newId(),
        type: draft.type,
        store: dev.store,
        origin: dev.register.id,
        seq: after.seq + 1,
        hlc: clock.now(),
        at: formatAt(Date.now()),
        actor: staff.staff.id,
        override: draft.override ?? null,
        body: draft.body,
        prev: after.prev,
      });
      envelopes.push(envelope);
      after = {
        seq: envelope.seq,
        prev: envelope.hash,
        receipts: after.receipts + (draft.receipt ? 1 : 0),
        hlc: envelope.hlc,
      };
    }
    const sealedAt = Date.now();
    const earlier = await db.transaction("rw", db.kv, db.outbox, async () => {
      const waiting = await db.outbox.where("held").equals(0).count();
      await db.outbox.bulkAdd(envelopes.map((envelope) => ({ seq: envelope.seq, envelope, held: 0, sealedAt, heldAt: null })));
      await db.put("chain", after);
      return waiting;
    });
    await refreshOutboxState();
    const queued = (): Sent[] => envelopes.map((envelope) => ({ envelope, queued: true, flags: [] }));
    if (earlier > 0) {
      // Older events are still waiting: these go after them, in order.
      kick();
      return queued();
    }
    try {
      const result = await call<PushResult>("POST", "/events", {
        token: staff.token,
        body: { events: envelopes, mode: "live" },
      });
      await markHeld(envelopes.map((envelope) => envelope.seq));
      return envelopes.map((envelope) => ({
        envelope,
        queued: false,
        flags: result.flagged.filter((f) => f.id === envelope.id).flatMap((f) => f.flags),
      }));
    } catch (error) {
      const expected = gapExpected(error, dev.register.id);
      if (expected !== null && expected <= before.seq) {
        await requeueFrom(expected);
        // The appliance holds less of this chain than this tablet thought (a replaced
        // appliance): nothing of this push was stored, so it is not taken back but queued
        // behind what the appliance lacks, and everything goes in order.
        await refreshOutboxState();
        kick();
        return queued();
      }
      if (error instanceof ApiError && error.status < 500) {
        // Refused live (a broken rule, a missing approval, an expired session), and nothing
        // stored: take them back, as if never sealed. Keeping them would replay a sale the
        // cashier was told had failed.
        await db.transaction("rw", db.kv, db.outbox, async () => {
          await db.outbox.bulkDelete(envelopes.map((envelope) => envelope.seq));
          await db.put("chain", before);
        });
        clock = null;
        await refreshOutboxState();
        if (error.status === 401) endSession();
        throw error;
      }
      if (error instanceof Unreachable || (error instanceof ApiError && error.status >= 500)) {
        kick();
        return queued();
      }
      throw error;
    }
  });
}

async function markHeld(seqs: number[]): Promise<void> {
  const now = Date.now();
  await db.transaction("rw", db.outbox, async () => {
    await db.outbox.where("seq").anyOf(seqs).modify({ held: 1, heldAt: now });
    // `reconcile` lets events go once the cloud has them; this bounds what a store that never
    // reaches the cloud keeps: 14 days or the last 100,000 events, whichever is less.
    await db.outbox.where("heldAt").below(now - KEEP_HELD_MS).delete();
    const held = await db.outbox.where("held").equals(1).count();
    if (held > KEEP_HELD_MAX) {
      const oldest = await db.outbox.where("[held+seq]").between([1, 0], [1, Infinity]).limit(held - KEEP_HELD_MAX).primaryKeys();
      await db.outbox.bulkDelete(oldest);
    }
  });
  outboxState.value = { ...outboxState.value, lastAckAt: now };
  await refreshOutboxState();
}

/** Push what is waiting, in seq order, until nothing is left or the appliance is away. */
export function kick(): void {
  if (retryTimer !== null) {
    clearTimeout(retryTimer);
    retryTimer = null;
  }
  pusher ??= withLock(drain).finally(() => {
    pusher = null;
  });
}

async function withLock(work: () => Promise<void>): Promise<void> {
  // One tab pushes (two tabs of one register would send the same events twice over).
  const locks = (globalThis.navigator as (Navigator & { locks?: LockManager }) | undefined)?.locks;
  if (locks) await locks.request("tillbox-outbox", work);
  else await work();
}

async function drain(): Promise<void> {
  const dev = device.value;
  if (!dev) return;
  outboxState.value = { ...outboxState.value, pushing: true };
  try {
    for (;;) {
      const batch: OutboxRow[] = await db.outbox.where("[held+seq]").between([0, 0], [0, Infinity]).limit(BATCH).toArray();
      if (!batch.length) {
        retryMs = 1000;
        return;
      }
      let result: PushResult;
      try {
        // Replayed events happened even if the appliance would now refuse them: it keeps
        // them and flags them for the manager (the device token, not a cashier's session).
        result = await call<PushResult>("POST", "/events", {
          token: dev.token,
          body: { events: batch.map((row) => row.envelope), mode: "replay" },
          timeoutMs: 30_000,
        });
      } catch (error) {
        const expected = gapExpected(error, dev.register.id);
        if (expected !== null && (await requeueFrom(expected)) > 0) {
          // A replaced appliance lacks events this tablet still holds: send them first.
          continue;
        }
        if (error instanceof ApiError && error.status < 500) {
          // A 4xx for a queued event is a bug, or a replaced appliance missing events this
          // tablet no longer holds: keep it, say so, retry later.
          console.error("the appliance refused queued events", error.code, error.message, error.details);
        }
        retryTimer = setTimeout(kick, retryMs);
        retryMs = Math.min(retryMs * 2, 30_000);
        return;
      }
      const acked = result.acked[dev.register.id] ?? 0;
      await markHeld(batch.filter((row) => row.seq <= acked).map((row) => row.seq));
    }
  } finally {
    outboxState.value = { ...outboxState.value, pushing: false };
  }
}

/** The seq the appliance expects next of `origin`, from a push refused with a gap. */
function gapExpected(error: unknown, origin: string): number | null {
  if (!(error instanceof ApiError) || error.status !== 409 || error.code !== "seq_gap") return null;
  const expected = (error.details["expected"] as Record<string, unknown> | undefined)?.[origin];
  return typeof expected === "number" && Number.isInteger(expected) && expected >= 1 ? expected : null;
}

/** Queue again the held events from `seq` on (the appliance lacks them); how many. */
async function requeueFrom(seq: number): Promise<number> {
  return db.transaction("rw", db.outbox, () =>
    db.outbox.where("[held+seq]").between([1, seq], [1, Infinity]).modify({ held: 0, heldAt: null }),
  );
}

/** This register's chain as the appliance reports it (GET /sync/status `origins[id]`). */
export type ChainStatus = { held: number; cloud: number };

/** Bring the outbox in line with the appliance: events the cloud has applied are let go;
 * events marked held beyond what the appliance holds now (it was replaced and restored from
 * the cloud) are queued again and pushed. A chain the appliance does not know at all (no
 * status for it) is left alone: the first push will say where it stands. */
export async function reconcile(status: ChainStatus | undefined): Promise<{ released: number; requeued: number }> {
  if (!status) return { released: 0, requeued: 0 };
  const { released, requeued } = await db.transaction("rw", db.outbox, async () => ({
    released: await db.outbox.where("[held+seq]").between([1, 0], [1, status.cloud], true, true).delete(),
    requeued: await db.outbox
      .where("[held+seq]")
      .between([1, status.held + 1], [1, Infinity])
      .modify({ held: 0, heldAt: null }),
  }));
  if (requeued > 0) {
    await refreshOutboxState();
    kick();
  }
  return { released, requeued };
}
