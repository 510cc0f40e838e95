import { signal } from "@preact/signals";
import { useEffect, useState } from "preact/hooks";
import { ApiError, Unreachable, call } from "../api";
import { db, type OutboxRow } from "../db";
import { view } from "../nav";
import { scanStream } from "../scans";
import { device, store } from "../session";
import { kick, outboxState, reconcile, type ChainStatus } from "../till";

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  return m < 60 ? `${m} min` : `${Math.round(m / 60)} h`;
}

/** The appliance's queue towards the cloud, as last asked (null: not asked, or unreachable). */
export const applianceSync = signal<ApplianceSync | null>(null);

let askedAt = -Infinity;
let pending: ReturnType<typeof setTimeout> | null = null;

/** Ask now, or, if asked in the last 5 s, once when those 5 s are up. */
function askSoon(): void {
  if (pending !== null) return;
  const wait = Math.max(0, askedAt + 5_000 - Date.now());
  pending = setTimeout(() => {
    pending = null;
    void askAppliance();
  }, wait);
}

async function askAppliance(): Promise<void> {
  askedAt = Date.now();
  try {
    const sync = await call<ApplianceSync>("GET", "/sync/status", { token: device.value?.token ?? null });
    applianceSync.value = sync;
    // Let go of what the cloud has; push again what a replaced appliance lacks.
    await reconcile(sync.origins[device.value?.register.id ?? ""]);
  } catch {
    applianceSync.value = null;
  }
}

/** How the appliance's queue to the cloud reads in the indicator. */
function cloudText(sync: ApplianceSync | null): string {
  if (!sync) return "";
  if (sync.outbox.depth === 0) return " · cloud up to date";
  const count = sync.outbox.depth.toLocaleString(store.value?.locale);
  return sync.connected ? ` · ${count} going to the cloud` : ` · ${count} on the appliance for the cloud (offline)`;
}

/** The sync indicator on every screen: what waits on this tablet, since when, and what the
 * appliance still holds for the cloud. */
export function SyncStatus({ onOpen }: { onOpen: () => void }) {
  const [now, setNow] = useState(Date.now());
  const state = outboxState.value;
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 5000);
    return () => clearInterval(timer);
  }, []);
  // Every 30 s, and after sends at most once in 5 s (the last one asked later): a busy till
  // does not add a status request to every sale.
  useEffect(() => askSoon(), [state.lastAckAt]);
  useEffect(() => {
    const timer = setInterval(() => void askAppliance(), 30_000);
    return () => clearInterval(timer);
  }, []);
  const lastAck = state.lastAckAt === null ? "" : ` · last sent ${ago(now - state.lastAckAt)} ago`;
  const cloud = cloudText(applianceSync.value);
  if (state.waiting === 0) {
    return (
      <button type="button" class="sync ok" data-testid="sync" onClick={onOpen} aria-label={`All sent${lastAck}${cloud}: sync details`}>
        All sent{lastAck}
        <span class="cloud">{cloud}</span>
      </button>
    );
  }
  const oldest = state.oldestAt === null ? "" : `, oldest ${ago(now - state.oldestAt)}`;
  return (
    <button type="button" class="sync waiting" data-testid="sync" onClick={onOpen}>
      {state.waiting} waiting on this tablet{oldest}
      {state.pushing ? " · sending…" : ""}
    </button>
  );
}

/** The appliance's side of sync (GET /api/v1/sync/status). */
type ApplianceSync = {
  connected: boolean;
  outbox: { depth: number; oldest_at: string | null; oldest_age_s: number | null };
  last_ack_at: string | null;
  /** Per origin: the highest seq the appliance holds, and the highest the cloud has applied. */
  origins: Record<string, ChainStatus>;
};

const SCANNERS = {
  off: "not connected",
  connecting: "connecting…",
  live: "connected to this register",
  superseded: "taken over by another tab of this register",
} as const;

const TYPES: Record<string, string> = {
  "sale.completed": "Sale",
  "return.completed": "Return",
  "sale.voided": "Post-void",
  "shift.opened": "Shift opened",
  "shift.closed": "Shift closed",
  "cash.moved": "Drawer",
  "receipt.requested": "Receipt",
};

/** The sync queue in detail: what waits on this tablet, what waits on the appliance for the cloud. */
export function SyncDetail() {
  const state = outboxState.value;
  const [now, setNow] = useState(Date.now());
  const [rows, setRows] = useState<OutboxRow[]>([]);
  const [appliance, setAppliance] = useState<ApplianceSync | null>(null);
  const [applianceError, setApplianceError] = useState<string | null>(null);

  useEffect(() => {
    const load = async () => {
      setNow(Date.now());
      setRows(await db.outbox.where("[held+seq]").between([0, 0], [0, Infinity]).limit(50).toArray());
      try {
        setAppliance(await call<ApplianceSync>("GET", "/sync/status", { token: device.value?.token ?? null }));
        setApplianceError(null);
      } catch (e) {
        setAppliance(null);
        setApplianceError(
          e instanceof Unreachable ? "The appliance cannot be reached from this tablet." : e instanceof ApiError ? e.message : String(e),
        );
      }
    };
    void load();
    const timer = setInterval(() => void load(), 5000);
    return () => clearInterval(timer);
  }, [state.waiting, state.lastAckAt]);

  return (
    <main class="screen sync-detail">
      <h1>Sync</h1>
      <section aria-label="This tablet">
        <h2>This tablet → the appliance</h2>
        <p data-testid="tablet-waiting">
          {state.waiting === 0
            ? "Nothing waiting: every event made here is on the appliance."
            : `${state.waiting} waiting${state.oldestAt === null ? "" : `, the oldest for ${ago(now - state.oldestAt)}`}${state.pushing ? " · sending…" : ""}`}
        </p>
        <p>Last sent: {state.lastAckAt === null ? "not since this page opened" : `${ago(now - state.lastAckAt)} ago`}</p>
        <button type="button" class="big" disabled={state.waiting === 0 || state.pushing} onClick={kick}>
          Send now
        </button>
      </section>
      <section aria-label="The appliance">
        <h2>The appliance → the cloud</h2>
        {appliance ? (
          <>
            <p data-testid="appliance-waiting">
              {appliance.outbox.depth === 0
                ? "Nothing waiting for the cloud."
                : `${appliance.outbox.depth} waiting for the cloud${appliance.outbox.oldest_age_s === null ? "" : `, the oldest for ${ago(appliance.outbox.oldest_age_s * 1000)}`}`}
            </p>
            <p>
              {appliance.connected ? "Connected to the cloud" : "Not connected to the cloud"} · last cloud ack:{" "}
              {appliance.last_ack_at === null ? "never" : `${ago(now - Date.parse(appliance.last_ack_at))} ago`}
            </p>
            <p class="notice">Selling never waits for the cloud: the appliance keeps everything and sends it when it can.</p>
            <p>Scanners on the appliance: {SCANNERS[scanStream.value]}</p>
          </>
        ) : (
          <p class="notice">{applianceError ?? "Asking the appliance…"}</p>
        )}
      </section>
      <button type="button" class="big primary" onClick={() => (view.value = "sell")}>
        Back
      </button>
      <section class="queue" aria-label="Waiting on this tablet">
        <h2>Waiting on this tablet</h2>
        {rows.length ? (
          <table class="report" aria-label="Events waiting on this tablet">
            <thead>
              <tr>
                <th>#</th>
                <th>What</th>
                <th>Receipt</th>
                <th>Waiting for</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={row.seq}>
                  <td>{row.seq}</td>
                  <td>{TYPES[row.envelope.type] ?? row.envelope.type}</td>
                  <td>{String((row.envelope.body as Record<string, unknown>)["receipt"] ?? "")}</td>
                  <td>{ago(now - row.sealedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <p class="notice">Nothing.</p>
        )}
      </section>
    </main>
  );
}
