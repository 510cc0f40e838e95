import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { ApiError, Unreachable } from "../api";
import { type Action, type Approval, mayDo, requestApproval } from "../approval";
import { Keypad } from "./Keypad";

type Props = {
  /** The dialog's title, e.g. "Open the drawer without a sale". */
  title: string;
  action: Action;
  /** The amount the approval is for, when the action is bound to one. */
  amount?: number;
  /** Why (written to the override log). */
  reason: string;
  /** What the cashier sees above the PIN pad (the amount, the lines…). */
  children?: ComponentChildren;
  /** The label of the confirm button for staff who may do it themselves. */
  confirm: string;
  /** Approved: an approval, or null when the logged-in staff member may do it themselves. */
  onApproved: (approval: Approval | null) => void | Promise<void>;
  onCancel: () => void;
};

/** Something a cashier may not do alone: a supervisor types their PIN right here. */
export function Approve({ title, action, amount, reason, children, confirm, onApproved, onCancel }: Props) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = async (pin: string | null) => {
    setBusy(true);
    setError(null);
    try {
      await onApproved(pin === null ? null : await requestApproval(action, reason, pin, amount));
    } catch (e) {
      setError(
        e instanceof ApiError ? e.message : e instanceof Unreachable ? "The store appliance cannot be reached." : String(e),
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="dialog" role="dialog" aria-label={title}>
      <h2>{title}</h2>
      {children}
      {mayDo(action) ? (
        <>
          {error ? <p class="error" role="alert">{error}</p> : null}
          <button type="button" class="big primary" disabled={busy} onClick={() => void run(null)}>
            {confirm}
          </button>
        </>
      ) : (
        <Keypad label="Supervisor PIN" onSubmit={(pin) => void run(pin)} busy={busy} error={error} />
      )}
      <button type="button" class="big" onClick={onCancel} disabled={busy}>
        Cancel
      </button>
    </div>
  );
}
