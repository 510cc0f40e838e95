// Who this tablet is (a paired register) and who is working on it (a staff session).
import { signal } from "@preact/signals";
import { call } from "./api";
import { db } from "./db";

export type Register = { id: string; name: string };
export type Staff = { id: string; name: string; role: string; locked: boolean };
export type StoreSettings = {
  store: string;
  name: string;
  currency: string;
  /** How money is shown, e.g. "en-IE" (missing from appliances before it was added). */
  locale?: string;
  tax_mode: "inclusive" | "exclusive";
  tax_rounding: "line" | "total";
  tax_rates: { tax_class: string; rate_ppm: number }[];
  discount_threshold_bp: number;
  no_receipt_refunds: string[];
  override_ttl_seconds: number;
  denominations: number[];
  catalog_version: number;
};
export type Reason = {
  code: string;
  kind: "return" | "adjust" | "cash";
  label: string;
  disposition: "restock" | "damaged" | "rtv" | null;
};
export type Device = { token: string; register: Register; store: string };
export type Session = { token: string; staff: Staff };

export const device = signal<Device | null>(null);
export const session = signal<Session | null>(null);
export const store = signal<StoreSettings | null>(null);
export const reasons = signal<Reason[]>([]);
export const loaded = signal(false);

// The staff session lives in this tab's sessionStorage: a reload (or a crash of the page)
// during an outage keeps the cashier selling, while closing the tab or the browser ends it.
const SESSION_KEY = "tillbox.session";

function keptSession(): Session | null {
  try {
    const raw = globalThis.sessionStorage?.getItem(SESSION_KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

function keepSession(value: Session | null): void {
  try {
    if (value) globalThis.sessionStorage?.setItem(SESSION_KEY, JSON.stringify(value));
    else globalThis.sessionStorage?.removeItem(SESSION_KEY);
  } catch {
    // Private mode without storage: the session just does not survive a reload.
  }
}

/** The appliance no longer knows this session (expired, revoked): back to the login tiles. */
export function endSession(): void {
  keepSession(null);
  session.value = null;
}

/** Read what this tablet already knows (its pairing, the last store settings, this tab's session). */
export async function restore(): Promise<void> {
  device.value = (await db.get<Device>("device")) ?? null;
  const kept = keptSession();
  if (kept && device.value) session.value = kept;
  store.value = (await db.get<StoreSettings>("store")) ?? null;
  reasons.value = (await db.get<Reason[]>("reasons")) ?? [];
  loaded.value = true;
}

/** A manager approves this tablet as a register with their PIN. */
export async function pair(name: string, managerPin: string): Promise<void> {
  const paired = await call<{ register: Register; token: string; store: string }>(
    "POST",
    "/registers",
    { body: { name, manager_pin: managerPin } },
  );
  const value: Device = { token: paired.token, register: paired.register, store: paired.store };
  await db.put("device", value);
  // A new register starts its own chain of events at seq 1.
  await db.put("chain", null);
  device.value = value;
}

export async function loadStore(token: string): Promise<StoreSettings> {
  const settings = await call<StoreSettings>("GET", "/store", { token });
  await db.put("store", settings);
  store.value = settings;
  // Reason codes are kept with the catalog, so returns and pay-outs work offline.
  const list = (await call<{ reasons: Reason[] }>("GET", "/reasons", { token })).reasons;
  await db.put("reasons", list);
  reasons.value = list;
  return settings;
}

/** The reason codes of one kind (return, adjust, cash), as the appliance last listed them. */
export function reasonsOf(kind: Reason["kind"]): Reason[] {
  return reasons.value.filter((r) => r.kind === kind);
}

export async function listStaff(token: string): Promise<Staff[]> {
  return (await call<{ staff: Staff[] }>("GET", "/staff", { token })).staff;
}

export async function login(staff: Staff, pin: string): Promise<void> {
  const token = device.value?.token;
  if (!token) throw new Error("this tablet is not paired");
  const answer = await call<{ token: string }>("POST", "/sessions", {
    token,
    body: { staff: staff.id, pin },
  });
  session.value = { token: answer.token, staff };
  keepSession(session.value);
}

export async function logout(): Promise<void> {
  const current = session.value;
  endSession();
  if (current) {
    try {
      await call("DELETE", "/sessions/current", { token: current.token });
    } catch {
      // Ended here either way; the appliance ends idle sessions itself.
    }
  }
}
