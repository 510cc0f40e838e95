// On-the-spot approvals: a supervisor types their PIN on this register and the appliance
// hands out a single-use approval bound to the action, the amount, the cashier and the
// register. Events name it (a line's price_approval, a discount's approval, the envelope's
// override for a whole-event action).
import { call } from "./api";
import type { Override } from "./protocol/envelope";
import { session } from "./session";

const RANK = { cashier: 0, supervisor: 1, manager: 2 } as const;
type Role = keyof typeof RANK;

/** Who may do each action without an approval (protocol/permissions.py). */
const MIN_ROLE = {
  price_override: "supervisor",
  discount_over_threshold: "supervisor",
  line_void: "cashier",
  post_void: "supervisor",
  return_without_receipt: "supervisor",
  no_sale: "supervisor",
  pay_in: "supervisor",
  pay_out: "supervisor",
  shift_close: "cashier",
  stock_adjust: "supervisor",
  stock_count_approve: "manager",
} as const satisfies Record<string, Role>;

export type Action = keyof typeof MIN_ROLE;

export type Approval = {
  id: string;
  action: Action;
  amount: number | null;
  approver: { id: string; name: string; role: string };
  expires_at: string;
};

/** Whether the logged-in staff member may do `action` themselves (no PIN, no approval). */
export function mayDo(action: Action): boolean {
  const role = session.value?.staff.role as Role | undefined;
  return role !== undefined && role in RANK && RANK[role] >= RANK[MIN_ROLE[action]];
}

/** Ask the appliance for an approval with the approver's PIN (typed on this register). */
export async function requestApproval(action: Action, reason: string, pin: string, amount?: number): Promise<Approval> {
  return call<Approval>("POST", "/overrides", {
    token: session.value?.token ?? null,
    body: { action, reason, approver_pin: pin, ...(amount === undefined ? {} : { amount }) },
  });
}

/** The envelope's `override` for a whole-event action. */
export function asOverride(approval: Approval): Override {
  return { id: approval.id, action: approval.action, approver: approval.approver.id, offline: false };
}
