// Other stores' stock, asked of the cloud through the appliance (GET /stock/chain).

import { ApiError, Unreachable, call } from "./api";

export type OtherStoreStock = { store: string; name: string | null; on_hand: number; synced_at: string | null };
export type ChainStock = { variant: string; sku: string; store: string; asked_at: string; stores: OtherStoreStock[] };

/** What the "Other stores" panel shows: the figures, or why there are none. */
export type OtherStores =
  | { kind: "stores"; asked_at: string; stores: OtherStoreStock[] }
  | { kind: "unavailable"; message: string };

type Caller = <T>(method: string, path: string, options: { token?: string | null; timeoutMs?: number }) => Promise<T>;

/** Ask the appliance, which asks the cloud; never throws: a failure is a message for the cashier. */
export async function otherStores(variant: string, token: string | null, ask: Caller = call): Promise<OtherStores> {
  try {
    const answer = await ask<ChainStock>("GET", `/stock/chain?variant=${encodeURIComponent(variant)}`, {
      token,
      // The appliance waits a few seconds for the cloud; a little longer here.
      timeoutMs: 8_000,
    });
    return { kind: "stores", asked_at: answer.asked_at, stores: answer.stores };
  } catch (e) {
    if (e instanceof Unreachable) {
      return { kind: "unavailable", message: "The store appliance cannot be reached right now." };
    }
    if (e instanceof ApiError && e.status === 503) {
      return { kind: "unavailable", message: "Other stores cannot be asked right now: the store is offline from the cloud." };
    }
    if (e instanceof ApiError && e.status === 502) {
      return { kind: "unavailable", message: "The cloud's answer could not be read. Try again, or tell IT if it keeps happening." };
    }
    return { kind: "unavailable", message: e instanceof Error ? e.message : String(e) };
  }
}
