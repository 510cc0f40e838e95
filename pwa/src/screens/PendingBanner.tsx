import { useState } from "preact/hooks";
import { ApiError, Unreachable } from "../api";
import type { Envelope } from "../protocol/envelope";
import { pending, resend } from "../till";

type Props = { onConfirmed: (envelope: Envelope) => void };

const WHAT: Record<string, string> = {
  "sale.completed": "The last sale",
  "shift.opened": "Opening the shift",
};

/** The appliance never answered for the last event: send the same one again. */
export function PendingBanner({ onConfirmed }: Props) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const held = pending.value;
  if (!held) return null;
  const receipt = (held.envelope.body as { receipt?: string }).receipt;
  const again = async () => {
    setBusy(true);
    setError(null);
    try {
      await resend();
      onConfirmed(held.envelope);
    } catch (e) {
      setError(
        e instanceof Unreachable
          ? "Still no answer from the appliance. Check the Wi-Fi, then try again."
          : e instanceof ApiError
            ? `Refused: ${e.message}`
            : String(e),
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="pending" role="alert">
      <span>
        {WHAT[held.envelope.type] ?? "The last action"}
        {receipt ? ` (${receipt})` : ""} is kept on this tablet but not confirmed by the appliance
        yet.
      </span>
      {error ? <span class="error">{error}</span> : null}
      <button type="button" class="primary" disabled={busy} onClick={again}>
        Send again
      </button>
    </div>
  );
}
