import "fake-indexeddb/auto";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { db } from "./db";
import { verifyHash, verifyLink, type Envelope } from "./protocol/envelope";
import { device, session } from "./session";
import { kick, nextReceipt, outboxState, reconcile, refreshOutboxState, send, sendTogether } from "./till";

type Call = { url: string; body: { events: Envelope[]; mode: string }; auth: string };

/** A fake appliance behind fetch: it can be down, refuse live events, or lose its answers. */
function appliance() {
  const held: Envelope[] = [];
  const calls: Call[] = [];
  const state = { down: false, refuse: false, loseAnswer: false, status: 422, error: "totals_mismatch" };
  const fetchStub = vi.fn(async (url: string, init: RequestInit) => {
    const body = JSON.parse(String(init.body)) as Call["body"];
    calls.push({ url, body, auth: String((init.headers as Record<string, string>).Authorization) });
    if (state.down) throw new TypeError("Failed to fetch");
    if (state.refuse && body.mode === "live") {
      return new Response(JSON.stringify({ error: state.error, message: "no" }), { status: state.status });
    }
    for (const env of body.events) if (!held.some((h) => h.id === env.id)) held.push(env);
    if (state.loseAnswer) {
      state.loseAnswer = false;
      throw new TypeError("network changed");
    }
    const last = held.length ? held[held.length - 1]!.seq : 0;
    return new Response(JSON.stringify({ acked: { "s01-r02": last }, flagged: [] }), { status: 200 });
  });
  vi.stubGlobal("fetch", fetchStub);
  return { held, calls, state };
}

async function drained(): Promise<void> {
  for (let i = 0; i < 100; i++) {
    await refreshOutboxState();
    if (outboxState.value.waiting === 0 && !outboxState.value.pushing) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error("the outbox never drained");
}

const sale = (n: number) => ({ receipt: `s01-r02-${String(n).padStart(6, "0")}`, n });

beforeEach(async () => {
  vi.unstubAllGlobals();
  await db.delete();
  await db.open();
  device.value = { token: "tbd_device", register: { id: "s01-r02", name: "Till 2" }, store: "s01" };
  session.value = { token: "tbs_session", staff: { id: "s01-staff-1", name: "Maya", role: "cashier", locked: false } };
});

describe("the outbox", () => {
  it("sends live with the session, and the chain links", async () => {
    const fake = appliance();
    const first = await send("cash.moved", sale(1));
    const second = await send("cash.moved", sale(2));
    expect([first.queued, second.queued]).toEqual([false, false]);
    expect(fake.calls.map((c) => [c.body.mode, c.auth])).toEqual([
      ["live", "Bearer tbs_session"],
      ["live", "Bearer tbs_session"],
    ]);
    expect(fake.held.map((e) => e.seq)).toEqual([1, 2]);
    expect(fake.held.every(verifyHash)).toBe(true);
    expect(verifyLink(fake.held[0]!.hash, fake.held[1]!)).toBe(true);
    expect(outboxState.value.waiting).toBe(0);
  });

  it("keeps selling while the appliance is down, then replays in order once", async () => {
    const fake = appliance();
    fake.state.down = true;
    for (let n = 1; n <= 5; n++) expect((await send("cash.moved", sale(n))).queued).toBe(true);
    await refreshOutboxState();
    expect(outboxState.value.waiting).toBe(5);
    fake.state.down = false;
    kick();
    await drained();
    expect(fake.held.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    const replays = fake.calls.filter((c) => c.body.mode === "replay");
    expect(replays.length).toBeGreaterThan(0);
    expect(replays.every((c) => c.auth === "Bearer tbd_device")).toBe(true);
  });

  it("sends a push whose answer was lost again as the same envelope", async () => {
    const fake = appliance();
    fake.state.loseAnswer = true;
    const lost = await send("cash.moved", sale(1));
    expect(lost.queued).toBe(true);
    kick();
    await drained();
    const ids = fake.calls.flatMap((c) => c.body.events.map((e) => e.id));
    expect(ids).toEqual([lost.envelope.id, lost.envelope.id]);
    expect(fake.held).toHaveLength(1);
  });

  it("takes back an event refused live, so the next one reuses its seq", async () => {
    const fake = appliance();
    fake.state.refuse = true;
    await expect(send("cash.moved", sale(1))).rejects.toMatchObject({ status: 422 });
    fake.state.refuse = false;
    const next = await send("cash.moved", sale(1));
    expect(next.envelope.seq).toBe(1);
    expect(next.envelope.prev).toBeNull();
    expect(await db.outbox.where("held").equals(0).count()).toBe(0);
  });

  it("takes back an event refused for a missing approval, and ends an expired session", async () => {
    const fake = appliance();
    Object.assign(fake.state, { refuse: true, status: 403, error: "override_required" });
    await expect(send("cash.moved", sale(1))).rejects.toMatchObject({ status: 403 });
    expect(await db.outbox.count()).toBe(0);
    expect(session.value).not.toBeNull();
    Object.assign(fake.state, { status: 401, error: "unauthorized" });
    await expect(send("cash.moved", sale(1))).rejects.toMatchObject({ status: 401 });
    expect(await db.outbox.count()).toBe(0);
    expect(session.value).toBeNull();
  });

  it("sends an exchange's two events in one push, and takes both back when it is refused", async () => {
    const fake = appliance();
    const sent = await sendTogether([
      { type: "return.completed", body: sale(1), receipt: true },
      { type: "sale.completed", body: sale(2), receipt: true },
    ]);
    expect(sent.map((s) => s.envelope.seq)).toEqual([1, 2]);
    expect(fake.calls).toHaveLength(1);
    expect(fake.calls[0]!.body.events.map((e) => e.type)).toEqual(["return.completed", "sale.completed"]);
    expect(verifyLink(sent[0]!.envelope.hash, sent[1]!.envelope)).toBe(true);
    expect(await nextReceipt()).toBe("s01-r02-000003");
    fake.state.refuse = true;
    await expect(
      sendTogether([
        { type: "return.completed", body: sale(3), receipt: true },
        { type: "sale.completed", body: sale(4), receipt: true },
      ]),
    ).rejects.toMatchObject({ status: 422 });
    expect(await db.outbox.where("held").equals(0).count()).toBe(0);
    expect(await nextReceipt()).toBe("s01-r02-000003");
  });

  it("survives a reload: the queue and the chain are in IndexedDB", async () => {
    const fake = appliance();
    fake.state.down = true;
    await send("cash.moved", sale(1));
    await send("cash.moved", sale(2));
    db.close();
    await db.open();
    expect(await db.outbox.where("held").equals(0).count()).toBe(2);
    fake.state.down = false;
    kick();
    await drained();
    expect(fake.held.map((e) => e.seq)).toEqual([1, 2]);
  });
});

/** An appliance with the Replicache rule (skip what it holds, refuse a gap with the seq it
 * expects), which can be replaced by one restored from the cloud that holds only a prefix. */
function strictAppliance() {
  let held: Envelope[] = [];
  const pushes: { mode: string; seqs: number[] }[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (_url: string, init: RequestInit) => {
      const body = JSON.parse(String(init.body)) as Call["body"];
      pushes.push({ mode: body.mode, seqs: body.events.map((e) => e.seq) });
      const last = held.length ? held[held.length - 1]!.seq : 0;
      const fresh = body.events.filter((e) => e.seq > last);
      if (fresh.length && fresh[0]!.seq !== last + 1) {
        const details = { expected: { "s01-r02": last + 1 } };
        return new Response(JSON.stringify({ error: "seq_gap", message: "gap", details }), { status: 409 });
      }
      held = [...held, ...fresh];
      return new Response(JSON.stringify({ acked: { "s01-r02": held.length ? held[held.length - 1]!.seq : 0 }, flagged: [] }), {
        status: 200,
      });
    }),
  );
  return {
    pushes,
    held: () => held.map((e) => e.seq),
    /** The appliance died; its replacement has what the cloud had: seq 1..`through`. */
    replace(through: number) {
      held = held.filter((e) => e.seq <= through);
    },
  };
}

async function rows(): Promise<[number, number][]> {
  return (await db.outbox.orderBy("seq").toArray()).map((r) => [r.seq, r.held]);
}

describe("events held until the cloud has them", () => {
  it("lets go of what the cloud has applied, and only that", async () => {
    strictAppliance();
    for (let n = 1; n <= 4; n++) await send("cash.moved", sale(n));
    expect(await reconcile({ held: 4, cloud: 2 })).toEqual({ released: 2, requeued: 0 });
    expect(await rows()).toEqual([
      [3, 1],
      [4, 1],
    ]);
    expect(await reconcile(undefined)).toEqual({ released: 0, requeued: 0 });
  });

  it("pushes again, in order, what a replaced appliance lacks", async () => {
    const fake = strictAppliance();
    for (let n = 1; n <= 5; n++) await send("cash.moved", sale(n));
    fake.replace(2);
    expect(await reconcile({ held: 2, cloud: 2 })).toEqual({ released: 2, requeued: 3 });
    await drained();
    expect(fake.held()).toEqual([1, 2, 3, 4, 5]);
    expect(fake.pushes.at(-1)).toEqual({ mode: "replay", seqs: [3, 4, 5] });
    expect(await rows()).toEqual([
      [3, 1],
      [4, 1],
      [5, 1],
    ]);
  });

  it("queues a live sale refused with a gap behind what the appliance lacks, never takes it back", async () => {
    const fake = strictAppliance();
    for (let n = 1; n <= 3; n++) await send("cash.moved", sale(n));
    fake.replace(1);
    const sent = await send("cash.moved", sale(4));
    expect(sent.queued).toBe(true);
    await drained();
    expect(fake.held()).toEqual([1, 2, 3, 4]);
    expect(fake.pushes.map((p) => p.mode)).toEqual(["live", "live", "live", "live", "replay"]);
    expect(fake.pushes.at(-1)!.seqs).toEqual([2, 3, 4]);
  });

  it("answers a replay's gap by sending the missing events first", async () => {
    const fake = strictAppliance();
    for (let n = 1; n <= 3; n++) await send("cash.moved", sale(n));
    fake.replace(0);
    // A held event made waiting again by hand stands for one queued while offline.
    await db.outbox.where("seq").equals(3).modify({ held: 0, heldAt: null });
    kick();
    await drained();
    expect(fake.held()).toEqual([1, 2, 3]);
    expect(fake.pushes.slice(-2)).toEqual([
      { mode: "replay", seqs: [3] },
      { mode: "replay", seqs: [1, 2, 3] },
    ]);
  });
});
