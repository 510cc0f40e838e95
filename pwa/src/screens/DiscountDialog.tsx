import { useState } from "preact/hooks";
import { type CartDiscount, discountNeedsApproval } from "../cart";
import { discountAmount } from "../protocol/pricing";
import { parseMoney } from "../protocol/money";
import { formatMoney } from "../format";
import { store } from "../session";
import { Approve } from "./Approve";

type Props = {
  /** What the discount comes off ("Classic Tee — M / Red", "the whole sale"). */
  subject: string;
  /** The amount it comes off, in minor units. */
  base: number;
  current: CartDiscount | null;
  onDone: (discount: CartDiscount | null) => void;
  onCancel: () => void;
};

const PERCENTS = [5, 10, 15, 20, 50];
const REASONS = ["Promotion", "Loyalty", "Damaged item", "Price match", "Staff discount"];

/** The discount a cashier types, or null while it is not a valid one. */
function parse(kind: CartDiscount["kind"], text: string, currency: string, base: number): number | null {
  const cleaned = text.trim().replace(",", ".");
  if (!cleaned) return null;
  if (kind === "percent") {
    if (!/^\d{1,3}(\.\d{1,2})?$/.test(cleaned)) return null;
    const bp = Math.round(Number(cleaned) * 100);
    return bp > 0 && bp <= 10_000 ? bp : null;
  }
  const amount = parseMoney(cleaned, currency);
  return amount !== null && amount > 0 && amount <= base ? amount : null;
}

/** A percentage or an amount off a line or the sale; above the store's threshold a supervisor approves it. */
export function DiscountDialog({ subject, base, current, onDone, onCancel }: Props) {
  const currency = store.value?.currency ?? "EUR";
  const threshold = store.value?.discount_threshold_bp ?? 0;
  const [kind, setKind] = useState<CartDiscount["kind"]>(current?.kind ?? "percent");
  const [text, setText] = useState(
    current ? (current.kind === "percent" ? String(current.value / 100) : (current.value / 100).toFixed(2)) : "",
  );
  const [reason, setReason] = useState(current?.reason ?? REASONS[0] ?? "Promotion");
  const [approving, setApproving] = useState(false);
  const value = parse(kind, text, currency, base);
  const discount: CartDiscount | null = value === null ? null : { kind, value, reason };
  const off = discount ? discountAmount(base, discount) : 0;
  const needsApproval = discount !== null && discountNeedsApproval(discount, off, base);

  if (approving && discount) {
    return (
      <Approve
        title="Approve the discount"
        action="discount_over_threshold"
        amount={off}
        reason={reason}
        confirm="Give the discount"
        onCancel={() => setApproving(false)}
        onApproved={(approval) => onDone(approval ? { ...discount, approval: approval.id } : discount)}
      >
        <p>
          {formatMoney(off, currency)} off {subject}: above the {threshold / 100} % a cashier may give.
        </p>
      </Approve>
    );
  }
  return (
    <div class="dialog" role="dialog" aria-label="Discount">
      <h2>Discount on {subject}</h2>
      <div class="row" role="group" aria-label="Kind of discount">
        <button type="button" class={kind === "percent" ? "choice current" : "choice"} aria-pressed={kind === "percent"} onClick={() => setKind("percent")}>
          Percent
        </button>
        <button type="button" class={kind === "amount" ? "choice current" : "choice"} aria-pressed={kind === "amount"} onClick={() => setKind("amount")}>
          Amount
        </button>
      </div>
      {kind === "percent" ? (
        <div class="row quick" role="group" aria-label="Quick percentages">
          {PERCENTS.map((p) => (
            <button type="button" key={p} class="choice" onClick={() => setText(String(p))}>
              {p} %
            </button>
          ))}
        </div>
      ) : null}
      <label class="field">
        {kind === "percent" ? "Percent off" : "Amount off"}
        <input inputMode="decimal" value={text} aria-label={kind === "percent" ? "Percent off" : "Amount off"} onInput={(e) => setText((e.target as HTMLInputElement).value)} />
      </label>
      <label class="field">
        Reason
        <select value={reason} aria-label="Discount reason" onChange={(e) => setReason((e.target as HTMLSelectElement).value)}>
          {REASONS.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </label>
      <p data-testid="discount-preview">
        {discount ? `${formatMoney(off, currency)} off ${formatMoney(base, currency)}` : text.trim() ? "Not a valid discount" : " "}
        {needsApproval ? " · needs a supervisor" : ""}
      </p>
      <button
        type="button"
        class="big primary"
        disabled={!discount}
        onClick={() => (needsApproval ? setApproving(true) : discount && onDone(discount))}
      >
        {needsApproval ? "Ask a supervisor" : "Give the discount"}
      </button>
      {current ? (
        <button type="button" class="big" onClick={() => onDone(null)}>
          Remove the discount
        </button>
      ) : null}
      <button type="button" class="big" onClick={onCancel}>
        Cancel
      </button>
    </div>
  );
}
