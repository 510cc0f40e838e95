import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "../api";
import { add, cart, clear, setPrice, setQty, totals } from "../cart";
import { PriceOverride } from "./PriceOverride";
import { byBarcode, searchCatalog } from "../catalog";
import { db, type VariantDoc } from "../db";
import type { JsonObject } from "../protocol/canonical";
import { formatMoney, parseAmount } from "../protocol/money";
import { store } from "../session";
import { WedgeDetector } from "../scanner";
import { nextReceipt, send } from "../till";

type Props = { shift: string; catalogVersion: number };

/** What the cashier typed as cash received, in minor units; null while it is not an amount. */
function parseCash(text: string, currency: string): number | null {
  try {
    const amount = parseAmount(text.trim().replace(",", "."), currency);
    return amount >= 0 ? amount : null;
  } catch {
    return null;
  }
}

/** Search or scan, build the cart, take payment. */
export function Sell({ shift, catalogVersion }: Props) {
  const settings = store.value;
  const [query, setQuery] = useState("");
  const [results, setResults] = useState<VariantDoc[]>([]);
  // Which query the shown results answer (tests and the benchmark wait on it).
  const [answered, setAnswered] = useState("");
  const [message, setMessage] = useState<string | null>(null);
  const [paying, setPaying] = useState(false);
  const [cash, setCash] = useState("");
  const [busy, setBusy] = useState(false);
  const [repricing, setRepricing] = useState<number | null>(null);
  const search = useRef<HTMLInputElement>(null);
  const currency = settings?.currency ?? "EUR";

  useEffect(() => {
    let stale = false;
    searchCatalog(db, query).then((found) => {
      if (stale) return;
      setResults(found);
      setAnswered(query);
    });
    return () => {
      stale = true;
    };
  }, [query]);

  // A scanner that types into the tablet works with no field focused: bursts of keys are
  // told from typing by their speed. (In the search box, Enter after a code does the same.)
  useEffect(() => {
    const detector = new WedgeDetector();
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA")) return;
      const code = detector.key({ key: e.key, timeStamp: e.timeStamp });
      if (code === null) return;
      e.preventDefault();
      void byBarcode(db, code).then((found) => {
        if (found) {
          add(found);
          setMessage(null);
        } else {
          setMessage(`No product has the barcode ${code}`);
        }
      });
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, []);

  const onEnter = async () => {
    const scanned = await byBarcode(db, query);
    if (scanned) {
      add(scanned);
      setQuery("");
      setMessage(null);
    } else if (results.length === 1 && results[0]) {
      add(results[0]);
      setQuery("");
    } else if (/^\d{6,14}$/.test(query.trim())) {
      setMessage(`No product has the barcode ${query.trim()}`);
      setQuery("");
    }
  };

  const total = totals.value?.total ?? 0;
  const locked = busy;
  const cashAmount = Math.min(parseCash(cash, currency) ?? 0, total);
  const change = Math.max(0, (parseCash(cash, currency) ?? 0) - total);

  const complete = async () => {
    const t = totals.value;
    if (!t || !cart.value.length) return;
    setBusy(true);
    setMessage(null);
    const tendered = parseCash(cash, currency) ?? 0;
    const tenders: JsonObject[] = [];
    if (cashAmount > 0) tenders.push({ kind: "cash", amount: cashAmount, tendered: Math.max(tendered, cashAmount) });
    if (t.total - cashAmount > 0) tenders.push({ kind: "card", amount: t.total - cashAmount, reference: "TERMINAL" });
    try {
      const receipt = await nextReceipt();
      const sent = await send(
        "sale.completed",
        {
          receipt,
          shift,
          catalog_version: catalogVersion,
          currency,
          lines: cart.value.map((l, i) => ({
            line: i + 1,
            variant: l.variant.id,
            qty: l.qty,
            unit_price: l.unitPrice,
            ...(l.priceApproval ? { price_approval: l.priceApproval } : {}),
          })),
          tenders,
          totals: { subtotal: t.subtotal, discount: t.discount, tax: t.tax, total: t.total },
        },
        { receipt: true },
      );
      clear();
      setPaying(false);
      setCash("");
      const changeText = change > 0 ? ` Change: ${formatMoney(change, currency)}` : "";
      setMessage(
        sent.queued
          ? `Sale ${receipt} saved on this tablet; it goes to the appliance when it is back.${changeText}`
          : `Sale ${receipt} done.${changeText}`,
      );
      search.current?.focus();
    } catch (e) {
      setMessage(
        e instanceof ApiError
          ? e.message
          : String(e),
      );
    } finally {
      setBusy(false);
    }
  };

  const repriced = repricing === null ? undefined : cart.value[repricing];
  return (
    <main class="sell">
      {repriced && repricing !== null ? (
        <PriceOverride
          line={repriced}
          onCancel={() => setRepricing(null)}
          onDone={(unitPrice, approval) => {
            setPrice(repricing, unitPrice, approval);
            setRepricing(null);
          }}
        />
      ) : null}
      <section class="find">
        <input
          ref={search}
          class="search"
          type="search"
          value={query}
          placeholder="Search name, SKU or scan"
          aria-label="Search products"
          autoFocus
          onInput={(e) => setQuery((e.target as HTMLInputElement).value)}
          onKeyDown={(e) => {
            if (e.key === "Enter") void onEnter();
          }}
        />
        {message ? <p class="notice" role="status">{message}</p> : null}
        <ul class="results" data-query={answered}>
          {results.map((v) => (
            <li key={v.id}>
              <button type="button" class="result" disabled={locked} onClick={() => add(v)}>
                <span>{v.title}</span>
                <span class="sku">{v.sku}</span>
                <strong>{formatMoney(v.price, currency)}</strong>
              </button>
            </li>
          ))}
        </ul>
      </section>
      <section class="cart" aria-label="Cart">
        <ul data-lines={cart.value.length}>
          {cart.value.map((line, i) => (
            <li key={line.variant.id} class="line">
              <span class="title">{line.variant.title}</span>
              <span class="qty">
                <button type="button" disabled={locked} aria-label={`One less ${line.variant.title}`} onClick={() => setQty(i, line.qty - 1)}>−</button>
                <span data-testid="qty">{line.qty}</span>
                <button type="button" disabled={locked} aria-label={`One more ${line.variant.title}`} onClick={() => setQty(i, line.qty + 1)}>+</button>
              </span>
              <button
                type="button"
                class="amount"
                disabled={locked}
                aria-label={`${formatMoney(line.unitPrice * line.qty, currency)}: change the price of ${line.variant.title}`}
                onClick={() => setRepricing(i)}
              >
                {formatMoney(line.unitPrice * line.qty, currency)}
              </button>
            </li>
          ))}
        </ul>
        <div class="totals">
          <span>Tax</span>
          <span>{formatMoney(totals.value?.tax ?? 0, currency)}</span>
          <strong>Total</strong>
          <strong data-testid="total">{formatMoney(total, currency)}</strong>
        </div>
        {paying ? (
          <div class="pay">
            <label class="field">
              Cash received
              <input
                inputMode="decimal"
                value={cash}
                aria-label="Cash received"
                onInput={(e) => setCash((e.target as HTMLInputElement).value)}
              />
            </label>
            <p>
              Cash {formatMoney(cashAmount, currency)} · Card {formatMoney(total - cashAmount, currency)}
              {change > 0 ? ` · Change ${formatMoney(change, currency)}` : ""}
            </p>
            <div class="row">
              <button type="button" class="big" onClick={() => setPaying(false)} disabled={locked}>Back</button>
              <button type="button" class="big primary" onClick={complete} disabled={locked}>Complete sale</button>
            </div>
          </div>
        ) : (
          <button type="button" class="big primary" disabled={!cart.value.length} onClick={() => setPaying(true)}>
            Pay {formatMoney(total, currency)}
          </button>
        )}
      </section>
    </main>
  );
}
