// Gift card and store credit payments: a hold asked of the cloud through the appliance
// (POST /balances/holds) before the payment is taken, given back if it is removed.

import { ApiError, Unreachable, call } from "./api";
import { formatMoney } from "./format";

export type BalanceKind = "gift_card" | "store_credit";

/** What the register does with a payment from an account. */
export type HoldOutcome =
  | { kind: "held"; hold: string; available: number }
  | { kind: "offline"; message: string }
  | { kind: "refused"; message: string };

type Caller = <T>(method: string, path: string, options: { token?: string | null; body?: unknown; timeoutMs?: number }) => Promise<T>;

const NAMES: Record<BalanceKind, string> = { gift_card: "gift card", store_credit: "store credit account" };

/** Ask for a hold; never throws. Offline the payment may still go (the appliance allows a
 * limited amount per card and the cloud reviews it later); a refusal says why. */
export async function holdBalance(
  kind: BalanceKind,
  reference: string,
  amount: number,
  currency: string,
  token: string | null,
  ask: Caller = call,
): Promise<HoldOutcome> {
  try {
    const held = await ask<{ hold: string; available: number }>("POST", "/balances/holds", {
      token,
      body: { kind, reference, amount },
      timeoutMs: 8_000,
    });
    return { kind: "held", hold: held.hold, available: held.available };
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      return { kind: "refused", message: `No ${NAMES[kind]} ${reference}.` };
    }
    if (e instanceof ApiError && e.status === 409) {
      const available = Number(e.details.available ?? 0);
      return { kind: "refused", message: `${reference} has only ${formatMoney(available, currency)} left.` };
    }
    if (e instanceof ApiError && e.status === 503) {
      return {
        kind: "offline",
        message: `The ${NAMES[kind]} could not be checked (the store is offline from the cloud): taken on trust, up to the store's offline limit.`,
      };
    }
    if (e instanceof Unreachable) {
      return { kind: "offline", message: `The ${NAMES[kind]} could not be checked (the appliance cannot be reached).` };
    }
    return { kind: "refused", message: e instanceof ApiError ? e.message : String(e) };
  }
}

/** Give a hold back (its payment was removed); best effort: the cloud lets it lapse anyway. */
export async function releaseHold(hold: string, token: string | null, ask: Caller = call): Promise<void> {
  try {
    await ask<void>("DELETE", `/balances/holds/${encodeURIComponent(hold)}`, { token });
  } catch {
    // Offline or already used: nothing more to do here.
  }
}
