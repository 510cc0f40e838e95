import { useState } from "preact/hooks";
import { ApiError } from "../api";
import type { Completed } from "../checkout";
import { formatMoney } from "../format";
import { store } from "../session";
import { send } from "../till";
import { checkPrinterSoon } from "./PrinterStatus";
import { TENDER_LABELS } from "./Tender";

type Props = { done: Completed; onNext: () => void };
type Channel = "print" | "email" | "sms";

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const PHONE = /^\+?[0-9 ()-]{6,20}$/;

/** After the sale: the change to give, then print, email, SMS or no receipt. */
export function ReceiptChoice({ done, onNext }: Props) {
  const currency = store.value?.currency ?? "EUR";
  const [asking, setAsking] = useState<"email" | "sms" | null>(null);
  const [to, setTo] = useState("");
  const [gift, setGift] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const request = async (channel: Channel, address: string | null) => {
    setBusy(true);
    setError(null);
    try {
      // Queued behind the sale when the appliance is away: it prints once the sale arrives.
      await send("receipt.requested", { receipt: done.receipt, channel, gift, ...(address ? { to: address } : {}) });
      if (channel === "print") checkPrinterSoon();
      onNext();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  const valid = asking === "email" ? EMAIL.test(to.trim()) : PHONE.test(to.trim());

  return (
    <section class="receipt-choice" aria-label="Receipt">
      <p class="done" role="status">
        {done.queued
          ? `Sale ${done.receipt} saved on this tablet; it goes to the appliance when it is back.`
          : `Sale ${done.receipt} done.`}
      </p>
      {done.change > 0 ? (
        <p class="change">
          Change <strong data-testid="change-due">{formatMoney(done.change, currency)}</strong>
        </p>
      ) : null}
      {done.refunded.map((r, i) => (
        <p key={i} class="change">
          Refund {formatMoney(r.amount, currency)} to {TENDER_LABELS[r.kind] ?? r.kind}
        </p>
      ))}
      {done.flags.length ? <p class="notice">Flagged for the manager: {done.flags.join("; ")}</p> : null}
      {asking ? (
        <>
          <label class="field">
            {asking === "email" ? "Customer's email" : "Customer's mobile number"}
            {asking === "email" ? (
              <input type="email" value={to} aria-label="Customer's email" onInput={(e) => setTo((e.target as HTMLInputElement).value)} />
            ) : (
              <input type="tel" value={to} aria-label="Customer's mobile number" onInput={(e) => setTo((e.target as HTMLInputElement).value)} />
            )}
          </label>
          <button type="button" class="big primary" disabled={busy || !valid} onClick={() => void request(asking, to.trim())}>
            Send
          </button>
          <button type="button" class="big" disabled={busy} onClick={() => setAsking(null)}>
            Back
          </button>
        </>
      ) : (
        <>
          <label class="check">
            <input type="checkbox" checked={gift} onChange={(e) => setGift((e.target as HTMLInputElement).checked)} />
            Gift receipt (no prices)
          </label>
          <div class="tenders">
            <button type="button" class="big primary" disabled={busy} onClick={() => void request("print", null)}>
              Print receipt
            </button>
            <button type="button" class="big" disabled={busy} onClick={() => setAsking("email")}>
              Email
            </button>
            <button type="button" class="big" disabled={busy} onClick={() => setAsking("sms")}>
              SMS
            </button>
            <button type="button" class="big" disabled={busy} onClick={onNext}>
              No receipt
            </button>
          </div>
        </>
      )}
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
    </section>
  );
}
