import { useState } from "preact/hooks";
import { ApiError, Unreachable, call } from "../api";
import { parseMoney } from "../protocol/money";
import { formatMoney } from "../format";
import { session, store } from "../session";
import { send } from "../till";

type Props = { shift: string; onClosed: () => void; onCancel: () => void };

type Tender = { kind: string; expected: number; counted?: number | null; difference?: number | null };
export type ZReport = {
  number?: number;
  currency: string;
  sales: { count: number; total: number };
  returns: { count: number; total: number };
  net_sales: number;
  net_tax: number;
  tenders: Tender[];
  cash: { expected: number; counted: number | null; over_short: number | null };
};

const KINDS: Record<string, string> = {
  cash: "Cash",
  card: "Card",
  store_credit: "Store credit",
  gift_card: "Gift card",
  exchange: "Exchange",
};

/** Blind close: count the drawer and enter the card terminal's total before seeing what was expected. */
export function CloseShift({ shift, onClosed, onCancel }: Props) {
  const settings = store.value;
  const [counts, setCounts] = useState<Record<string, number>>({});
  const [card, setCard] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [z, setZ] = useState<ZReport | null>(null);
  const [queued, setQueued] = useState(false);
  if (!settings) return null;
  const currency = settings.currency;
  const total = Object.entries(counts).reduce((sum, [d, n]) => sum + Number(d) * n, 0);
  const cardTotal = card.trim() ? parseMoney(card.trim().replace(",", "."), currency) : null;

  const close = async () => {
    setBusy(true);
    setError(null);
    const kept = Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0));
    try {
      const sent = await send("shift.closed", {
        shift,
        cash: { counts: kept, total },
        ...(cardTotal === null ? {} : { counted: { card: cardTotal } }),
      });
      if (sent.queued) {
        setQueued(true);
        return;
      }
      const token = session.value?.token ?? null;
      setZ(await call<ZReport>("GET", `/shifts/${shift}/report?kind=z`, { token }));
    } catch (e) {
      setError(e instanceof ApiError ? e.message : e instanceof Unreachable ? "The store appliance cannot be reached." : String(e));
    } finally {
      setBusy(false);
    }
  };

  if (queued) {
    return (
      <main class="screen center">
        <h1>Shift closed on this tablet</h1>
        <p>The appliance cannot be reached: your count is kept here and goes to it when it is back. Your manager can read the Z report then.</p>
        <button type="button" class="big primary" onClick={onClosed}>Done</button>
      </main>
    );
  }
  if (z) {
    return (
      <main class="screen">
        <h1>Z report {z.number}</h1>
        <ReportTable report={z} currency={currency} />
        <button type="button" class="big primary" onClick={onClosed}>Done</button>
      </main>
    );
  }
  return (
    <main class="screen">
      <h1>Close your shift</h1>
      <p>Count the drawer, and enter the card terminal's total. You see what was expected afterwards.</p>
      <div class="denominations">
        {settings.denominations.map((d) => (
          <label class="count" key={d}>
            <span>{formatMoney(d, currency)}</span>
            <input
              type="number"
              inputMode="numeric"
              min={0}
              value={counts[String(d)] ?? ""}
              aria-label={`How many of ${formatMoney(d, currency)}`}
              onInput={(e) => {
                const n = Math.max(0, Math.floor(Number((e.target as HTMLInputElement).value) || 0));
                setCounts({ ...counts, [String(d)]: n });
              }}
            />
          </label>
        ))}
      </div>
      <p class="total">In the drawer: <strong data-testid="drawer-total">{formatMoney(total, currency)}</strong></p>
      <label class="field">
        Card terminal total
        <input inputMode="decimal" value={card} aria-label="Card terminal total" onInput={(e) => setCard((e.target as HTMLInputElement).value)} />
      </label>
      {error ? <p class="error" role="alert">{error}</p> : null}
      <div class="row">
        <button type="button" class="big" onClick={onCancel} disabled={busy}>Back</button>
        <button type="button" class="big primary" onClick={close} disabled={busy || (card.trim() !== "" && cardTotal === null)}>
          Close shift
        </button>
      </div>
    </main>
  );
}

/** An X or Z report: each tender expected, counted and over or short, and the shift's sales. */
export function ReportTable({ report: z, currency }: { report: ZReport; currency: string }) {
  return (
    <>
    <table class="report" aria-label="Over or short per tender">
      <thead>
        <tr><th>Tender</th><th>Expected</th><th>Counted</th><th>Over / short</th></tr>
      </thead>
      <tbody>
        {z.tenders.map((t) => (
          <tr key={t.kind}>
            <td>{KINDS[t.kind] ?? t.kind}</td>
            <td>{formatMoney(t.expected, currency)}</td>
            <td>{t.counted === undefined || t.counted === null ? "not counted" : formatMoney(t.counted, currency)}</td>
            <td data-testid={`difference-${t.kind}`}>
              {t.difference === undefined || t.difference === null ? "—" : formatMoney(t.difference, currency)}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
    <p>
      {z.sales.count} {z.sales.count === 1 ? "sale" : "sales"}, {formatMoney(z.sales.total, currency)} · returns {formatMoney(z.returns.total, currency)} ·
      net sales <strong data-testid="net-sales">{formatMoney(z.net_sales, currency)}</strong> (tax {formatMoney(z.net_tax, currency)})
    </p>
    </>
  );
}
