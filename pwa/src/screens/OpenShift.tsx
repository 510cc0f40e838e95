import { useState } from "preact/hooks";
import { ApiError, Unreachable } from "../api";
import { formatMoney } from "../format";
import { newId } from "../protocol/ids";
import { store } from "../session";
import { send } from "../till";

type Props = { onOpened: (shift: string) => void };

/** Count the float by denomination, then open the shift. */
export function OpenShift({ onOpened }: Props) {
  const settings = store.value;
  const [counts, setCounts] = useState<Record<string, number>>({});
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (!settings) return null;
  const total = Object.entries(counts).reduce((sum, [d, n]) => sum + Number(d) * n, 0);
  const open = async () => {
    setBusy(true);
    setError(null);
    const shift = newId();
    const kept = Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0));
    try {
      await send("shift.opened", { shift, float: { counts: kept, total } });
      onOpened(shift);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : e instanceof Unreachable ? "The store appliance cannot be reached." : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="screen">
      <h1>Open your shift</h1>
      <p>Count the float in the drawer.</p>
      <div class="denominations">
        {settings.denominations.map((d) => (
          <label class="count" key={d}>
            <span>{formatMoney(d, settings.currency)}</span>
            <input
              type="number"
              inputMode="numeric"
              min={0}
              value={counts[String(d)] ?? ""}
              aria-label={`How many of ${formatMoney(d, settings.currency)}`}
              onInput={(e) => {
                const n = Math.max(0, Math.floor(Number((e.target as HTMLInputElement).value) || 0));
                setCounts({ ...counts, [String(d)]: n });
              }}
            />
          </label>
        ))}
      </div>
      <p class="total">Float: <strong data-testid="float-total">{formatMoney(total, settings.currency)}</strong></p>
      {error ? <p class="error" role="alert">{error}</p> : null}
      <button type="button" class="big primary" disabled={busy} onClick={open}>
        Open shift
      </button>
    </main>
  );
}
