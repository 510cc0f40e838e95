import { useRef, useState } from "preact/hooks";
import { ApiError } from "../api";
import { holdBalance, releaseHold } from "../balances";
import { exchange, totals } from "../cart";
import { type Completed, type Payment, type TenderKind, addPayment, changeDue, completeSale, creditUsed, remaining } from "../checkout";
import { parseMoney } from "../protocol/money";
import { formatMoney } from "../format";
import { session, store } from "../session";

type Props = { shift: string; catalogVersion: number; onBack: () => void; onCompleted: (done: Completed) => void };

export const TENDER_LABELS: Record<string, string> = {
  cash: "Cash",
  card: "Card",
  gift_card: "Gift card",
  store_credit: "Store credit",
  exchange: "Exchange credit",
};

/** Notes a customer is likely to hand over for `due`: the next round amounts above it. */
export function quickCash(due: number, denominations: readonly number[]): number[] {
  const notes = [...denominations].filter((d) => d >= 500).sort((a, b) => a - b);
  const out = new Set<number>();
  for (const note of notes) {
    const amount = Math.ceil(due / note) * note;
    if (amount > due) out.add(amount);
    if (out.size >= 3) break;
  }
  return [...out].sort((a, b) => a - b);
}

/** Take payment: any mix of cash, card, gift card and store credit; the sale completes when it is paid. */
export function Tender({ shift, catalogVersion, onBack, onCompleted }: Props) {
  const settings = store.value;
  const currency = settings?.currency ?? "EUR";
  const total = totals.value?.total ?? 0;
  const credit = exchange.value;
  const used = creditUsed(total, credit);
  const due = total - used;
  const [payments, setPayments] = useState<Payment[]>([]);
  const [text, setText] = useState("");
  const [reference, setReference] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  // The cloud's hold behind each gift card or store credit payment taken online.
  const holds = useRef(new Map<Payment, string>());
  const referenceField = useRef<HTMLInputElement>(null);
  const left = remaining(due, payments);
  const typed = text.trim() ? parseMoney(text.trim().replace(",", "."), currency) : null;
  const invalid = text.trim() !== "" && (typed === null || typed <= 0);

  const complete = async (final: Payment[]) => {
    setBusy(true);
    setError(null);
    try {
      onCompleted(await completeSale(shift, catalogVersion, final));
    } catch (e) {
      // Refused (nothing was stored): the payments stay, so the cashier can fix and retry.
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };

  const take = async (kind: TenderKind, given?: number) => {
    if (left <= 0) return;
    const amount = given ?? typed ?? left;
    if (amount <= 0) return;
    if (kind !== "cash" && amount > left) {
      setError(`${TENDER_LABELS[kind]} can take at most ${formatMoney(left, currency)}: only cash gives change.`);
      return;
    }
    if (kind !== "cash" && !reference.trim()) {
      const what = { card: "card terminal's reference (on its slip)", gift_card: "gift card number", store_credit: "store credit account" }[kind];
      setError(`Type or scan the ${what} first.`);
      referenceField.current?.focus();
      return;
    }
    const payment: Payment =
      kind === "cash"
        ? { kind, amount: Math.min(amount, left), tendered: amount }
        : { kind, amount, ...(reference.trim() ? { reference: reference.trim() } : {}) };
    setNotice(null);
    if (kind === "gift_card" || kind === "store_credit") {
      // Balances live in the cloud: reserve the amount first, so no other store spends it.
      setBusy(true);
      const outcome = await holdBalance(kind, reference.trim(), amount, currency, session.value?.token ?? null);
      setBusy(false);
      if (outcome.kind === "refused") {
        setError(outcome.message);
        return;
      }
      if (outcome.kind === "held") holds.current.set(payment, outcome.hold);
      else setNotice(outcome.message);
    }
    const next = addPayment(payments, payment);
    setPayments(next);
    setText("");
    setReference("");
    setError(null);
    if (remaining(due, next) === 0) void complete(next);
  };

  const change = changeDue(payments);
  return (
    <section class="tender" aria-label="Payment">
      <h2>
        To pay <span data-testid="due">{formatMoney(due, currency)}</span>
      </h2>
      {used > 0 ? (
        <p class="credit">
          Total {formatMoney(total, currency)} − exchange credit {formatMoney(used, currency)}
        </p>
      ) : null}
      <ul class="payments" aria-label="Payments taken">
        {payments.map((p, i) => (
          <li key={i} class="payment">
            <span>
              {TENDER_LABELS[p.kind]}
              {p.reference ? ` · ${p.reference}` : ""}
            </span>
            <strong>{formatMoney(p.amount, currency)}</strong>
            <button
              type="button"
              aria-label={`Remove ${TENDER_LABELS[p.kind]} ${formatMoney(p.amount, currency)}`}
              disabled={busy}
              onClick={() => {
                const hold = holds.current.get(p);
                if (hold) {
                  holds.current.delete(p);
                  void releaseHold(hold, session.value?.token ?? null);
                }
                setPayments(payments.filter((_, j) => j !== i));
              }}
            >
              ✕
            </button>
          </li>
        ))}
      </ul>
      <p class="left">
        Left to pay <strong data-testid="left">{formatMoney(left, currency)}</strong>
        {change > 0 ? (
          <>
            {" "}
            · Change <strong data-testid="change">{formatMoney(change, currency)}</strong>
          </>
        ) : null}
      </p>
      {left > 0 ? (
        <>
          <label class="field">
            Amount (empty: all that is left)
            <input
              inputMode="decimal"
              value={text}
              aria-label="Amount"
              aria-invalid={invalid}
              placeholder={formatMoney(left, currency)}
              onInput={(e) => setText((e.target as HTMLInputElement).value)}
            />
          </label>
          {invalid ? <p class="error">Not an amount</p> : null}
          <label class="field">
            Card terminal reference, gift card or account number
            <input
              ref={referenceField}
              value={reference}
              aria-label="Reference"
              maxLength={64}
              onInput={(e) => setReference((e.target as HTMLInputElement).value)}
            />
          </label>
          <div class="row quick" role="group" aria-label="Cash handed over">
            {quickCash(left, settings?.denominations ?? []).map((amount) => (
              <button type="button" key={amount} class="choice" disabled={busy} onClick={() => void take("cash", amount)}>
                {formatMoney(amount, currency)} cash
              </button>
            ))}
          </div>
          <div class="tenders">
            <button type="button" class="big primary" disabled={busy || invalid} onClick={() => void take("cash")}>
              Cash
            </button>
            <button type="button" class="big primary" disabled={busy || invalid} onClick={() => void take("card")}>
              Card
            </button>
            <button type="button" class="big" disabled={busy || invalid} onClick={() => void take("gift_card")}>
              Gift card
            </button>
            <button type="button" class="big" disabled={busy || invalid} onClick={() => void take("store_credit")}>
              Store credit
            </button>
          </div>
        </>
      ) : (
        <button type="button" class="big primary" disabled={busy} onClick={() => void complete(payments)}>
          {busy ? "Saving…" : "Complete sale"}
        </button>
      )}
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
      {notice ? (
        <p class="notice" role="status">
          {notice}
        </p>
      ) : null}
      <button type="button" class="big" onClick={onBack} disabled={busy}>
        Back to the cart
      </button>
    </section>
  );
}
