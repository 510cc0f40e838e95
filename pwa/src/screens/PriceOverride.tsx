import { useState } from "preact/hooks";
import { ApiError, Unreachable, call } from "../api";
import type { CartLine } from "../cart";
import { parseMoney } from "../protocol/money";
import { formatMoney } from "../format";
import { session, store } from "../session";
import { Keypad } from "./Keypad";

type Props = { line: CartLine; onDone: (unitPrice: number, approval: string | null) => void; onCancel: () => void };

const REASONS = ["Price match", "Damaged item", "Wrong shelf label", "Customer goodwill"];

/** A new price for one line: a supervisor approves it with their PIN on this register. */
export function PriceOverride({ line, onDone, onCancel }: Props) {
  const currency = store.value?.currency ?? "EUR";
  const [price, setPrice] = useState("");
  const [reason, setReason] = useState(REASONS[0] ?? "");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const amount = price.trim() ? parseMoney(price.trim().replace(",", "."), currency) : null;
  const role = session.value?.staff.role;
  const mayOverride = role === "supervisor" || role === "manager";

  const approve = async (pin: string | null) => {
    if (amount === null || amount < 0) {
      setError("Type the new price first");
      return;
    }
    if (pin === null) {
      onDone(amount, null);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const grant = await call<{ id: string }>("POST", "/overrides", {
        token: session.value?.token ?? null,
        body: { action: "price_override", amount, reason, approver_pin: pin },
      });
      onDone(amount, grant.id);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : e instanceof Unreachable ? "The store appliance cannot be reached." : String(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="dialog" role="dialog" aria-label="Change the price">
      <h2>Price of {line.variant.title}</h2>
      <p>Now {formatMoney(line.unitPrice, currency)} (catalog {formatMoney(line.variant.price, currency)})</p>
      <label class="field">
        New price
        <input inputMode="decimal" value={price} aria-label="New price" onInput={(e) => setPrice((e.target as HTMLInputElement).value)} />
      </label>
      <label class="field">
        Reason
        <select value={reason} aria-label="Reason" onChange={(e) => setReason((e.target as HTMLSelectElement).value)}>
          {REASONS.map((r) => (
            <option key={r} value={r}>{r}</option>
          ))}
        </select>
      </label>
      {mayOverride ? (
        <>
          {error ? <p class="error" role="alert">{error}</p> : null}
          <button type="button" class="big primary" onClick={() => void approve(null)}>Set price</button>
        </>
      ) : (
        <Keypad label="Supervisor PIN" onSubmit={(pin) => void approve(pin)} busy={busy} error={error} />
      )}
      <button type="button" class="big" onClick={onCancel} disabled={busy}>Cancel</button>
    </div>
  );
}
