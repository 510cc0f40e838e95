// The Returns screen: the receipt's barcode (scanned with no field focused, or typed) brings
// the sale up from the appliance with what is left to return; the cashier picks how many of
// each line and why, and refunds to the original tenders or as store credit, or hands the
// refund to the Sell screen as exchange credit. Without a receipt: today's price at most, a
// supervisor's approval, and store credit or cash as the store allows.
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, Unreachable } from "../api";
import { asOverride, type Approval } from "../approval";
import { exchange, type RefundTender } from "../cart";
import { byBarcode, searchCatalog } from "../catalog";
import { db, type VariantDoc } from "../db";
import { view } from "../nav";
import type { Override } from "../protocol/envelope";
import { formatMoney } from "../format";
import {
  creditReference,
  describeTenders,
  dispositionText,
  fetchReceipt,
  lineRefund,
  noReceiptRefund,
  payOutText,
  receiptNumber,
  receiptProblem,
  refundAs,
  refundToOriginal,
  returnBody,
  type ReceiptLine,
  type ReturnLine,
  type SaleReceipt,
} from "../returns";
import { useScans } from "../scans";
import { type Reason, device, reasonsOf, session, store } from "../session";
import { nextReceipts, send } from "../till";
import { Approve } from "./Approve";

type Props = { shift: string };

const VOID_REASONS = ["Rung up by mistake", "Wrong payment taken", "Customer cancelled at the till"];

/** A line coming back: how many, and why (a return reason code). */
type Pick = { qty: number; reason: string | null };
/** An item brought back without a receipt, refunded at today's price. */
type Unreceipted = { variant: VariantDoc; qty: number; reason: string | null };
type Notice = { text: string; error?: boolean };
/** Which reason picker is open: a receipt line (by number) or an unreceipted item (by index). */
type Picking = { kind: "line"; line: number } | { kind: "item"; index: number };

const KIND_LABELS: Record<string, string> = { store_credit: "Store credit", cash: "Cash" };
// Without a receipt an item comes back one or a few at a time; more is a typo.
const MAX_UNRECEIPTED_QTY = 99;

function titleOf(line: ReceiptLine): string {
  return line.title ?? line.sku ?? `Line ${line.line}`;
}

/** How many of a line, in its unit: weighed goods are sold in milli-units. */
function quantity(qty: number, scale: number): string {
  return scale === 1 ? String(qty) : (qty / scale).toFixed(3);
}

function rateOf(taxClass: string): number {
  return store.value?.tax_rates.find((r) => r.tax_class === taxClass)?.rate_ppm ?? 0;
}

/** Take goods back: find the sale by its receipt (scan or type), or without one. */
export function Returns({ shift }: Props) {
  const currencyOfStore = store.value?.currency ?? "EUR";
  const [number, setNumber] = useState("");
  const [notice, setNotice] = useState<Notice | null>(null);
  const [busy, setBusy] = useState(false);
  const [sale, setSale] = useState<SaleReceipt | null>(null);
  const [picks, setPicks] = useState<Record<number, Pick>>({});
  const [asCredit, setAsCredit] = useState(false);
  const [unreceipted, setUnreceipted] = useState<Unreceipted[] | null>(null);
  const [payout, setPayout] = useState<string>(store.value?.no_receipt_refunds[0] ?? "store_credit");
  const [query, setQuery] = useState("");
  const [results, setResults] = useState<VariantDoc[]>([]);
  const [picking, setPicking] = useState<Picking | null>(null);
  const [approving, setApproving] = useState<"refund" | "exchange" | null>(null);
  // A post-void: the whole sale undone, only in the shift (and on the register) that made it.
  const [voiding, setVoiding] = useState(false);
  const [voidReason, setVoidReason] = useState(VOID_REASONS[0] ?? "Rung up by mistake");
  const field = useRef<HTMLInputElement>(null);
  const reasons = reasonsOf("return");

  const reset = () => {
    setSale(null);
    setPicks({});
    setAsCredit(false);
    setUnreceipted(null);
    setQuery("");
    setNumber("");
    setPicking(null);
    setApproving(null);
  };

  const find = async (typed: string) => {
    const wanted = receiptNumber(typed);
    if (!wanted) {
      setNotice({ text: `${typed.trim() || "That"} is not a receipt number (they look like s01-r02-000017)`, error: true });
      return;
    }
    const token = session.value?.token;
    if (!token) return;
    setBusy(true);
    try {
      const found = await fetchReceipt(wanted, token);
      reset();
      if (found.voided) {
        setNotice({ text: `Receipt ${wanted} was voided: nothing on it can be returned.`, error: true });
        return;
      }
      setSale(found);
      setNotice(
        found.lines.some((l) => l.returnable > 0)
          ? null
          : { text: `Everything on receipt ${wanted} has already been returned.` },
      );
    } catch (e) {
      setNotice({ text: receiptProblem(e, wanted), error: true });
    } finally {
      setBusy(false);
    }
  };

  const addItem = (variant: VariantDoc) => {
    setUnreceipted((items) => {
      const list = items ?? [];
      const at = list.findIndex((i) => i.variant.id === variant.id);
      if (at < 0) return [...list, { variant, qty: 1, reason: null }];
      return list.map((i, n) => (n === at ? { ...i, qty: Math.min(MAX_UNRECEIPTED_QTY, i.qty + 1) } : i));
    });
    setQuery("");
    setNotice(null);
  };

  // One scan does the right thing wherever the cashier is: a receipt's barcode finds the sale,
  // a product's barcode (without a receipt) adds the item.
  const onScan = async (code: string) => {
    if (receiptNumber(code)) {
      await find(code);
      return;
    }
    if (unreceipted === null) {
      setNotice({ text: `${code} is not a receipt number. Scan the receipt's barcode, or choose No receipt.`, error: true });
      return;
    }
    const found = await byBarcode(db, code);
    if (found) addItem(found);
    else setNotice({ text: `No product has the barcode ${code}`, error: true });
  };
  // Scans: a wedge scanner with no field focused, or the appliance's scanners (as on Sell).
  useScans(
    (code) => void onScan(code),
    (text) => setNotice({ text, error: true }),
  );

  useEffect(() => {
    if (unreceipted === null) return;
    let stale = false;
    void searchCatalog(db, query, 8).then((found) => {
      if (!stale) setResults(found);
    });
    return () => {
      stale = true;
    };
  }, [query, unreceipted === null]);

  // ---- what comes back, and what it gives back ----------------------------------------------
  const currency = sale?.currency ?? currencyOfStore;
  let lines: ReturnLine[] = [];
  let titles: string[] = [];
  if (sale) {
    for (const line of sale.lines) {
      const pick = picks[line.line];
      if (!pick || pick.qty <= 0) continue;
      const refund = lineRefund(line, pick.qty);
      lines.push({
        line: lines.length + 1,
        original_line: line.line,
        variant: line.variant,
        qty: pick.qty,
        ...(line.qty_scale === 1 ? {} : { qty_scale: line.qty_scale }),
        refund: refund.total,
        tax: refund.tax,
        reason: pick.reason ?? "",
      });
      titles.push(titleOf(line));
    }
  } else if (unreceipted) {
    const mode = store.value?.tax_mode ?? "inclusive";
    lines = unreceipted.map((item, i) => {
      const refund = noReceiptRefund(item.variant.price, item.qty, rateOf(item.variant.tax_class), mode);
      return {
        line: i + 1,
        original_line: null,
        variant: item.variant.id,
        qty: item.qty,
        refund: refund.total,
        tax: refund.tax,
        reason: item.reason ?? "",
      };
    });
    titles = unreceipted.map((item) => item.variant.title);
  }
  const total = lines.reduce((sum, l) => sum + l.refund, 0);
  const tax = lines.reduce((sum, l) => sum + l.tax, 0);
  const missingReason = lines.some((l) => !l.reason);
  const allowed = store.value?.no_receipt_refunds ?? ["store_credit"];
  const tendersFor = (reference: string): RefundTender[] =>
    sale
      ? asCredit
        ? refundAs("store_credit", total, reference)
        : refundToOriginal(sale.tenders, total, reference)
      : refundAs(allowed.includes(payout) ? payout : (allowed[0] ?? "store_credit"), total, reference);
  const shown = tendersFor("");
  const ready = lines.length > 0 && !missingReason && total > 0;

  const complete = async (override: Override | null) => {
    setBusy(true);
    try {
      const receipt = (await nextReceipts(1))[0] ?? "";
      const tenders = tendersFor(creditReference(receipt));
      const body = returnBody({ receipt, shift, original: sale?.receipt ?? null, lines, tenders });
      const sent = await send("return.completed", body, { receipt: true, override });
      reset();
      const pay = payOutText(tenders, currency);
      setNotice({
        text: sent.queued
          ? `Return ${receipt} saved on this tablet; it goes to the appliance when it is back. ${pay}.`
          : `Return ${receipt} done. ${pay}.`,
      });
      field.current?.focus();
    } finally {
      setBusy(false);
    }
  };

  const refund = async () => {
    try {
      await complete(null);
    } catch (e) {
      setNotice({ text: e instanceof ApiError ? e.message : String(e), error: true });
    }
  };

  // The refund becomes credit on the sale the Sell screen rings up next.
  const toExchange = async (override: Override | null) => {
    const receipt = (await nextReceipts(1))[0] ?? "";
    exchange.value = {
      original: sale?.receipt ?? null,
      lines,
      titles,
      total,
      tax,
      refundTo: tendersFor(creditReference(receipt)),
      override,
    };
    reset();
    view.value = "sell";
  };

  // A copy for the customer: the appliance prints it marked REPRINT on this register's printer
  // (only while it can be reached: a late print would come out with no one waiting for it).
  const reprint = async () => {
    if (!sale) return;
    setBusy(true);
    try {
      const sent = await send("receipt.requested", { receipt: sale.receipt, channel: "print" });
      setNotice(
        sent.queued
          ? { text: "The store appliance cannot be reached, so nothing was printed. Try again when it is back.", error: true }
          : { text: `Receipt ${sale.receipt} sent to the printer.` },
      );
    } catch (e) {
      setNotice({ text: e instanceof Error ? e.message : String(e), error: true });
    } finally {
      setBusy(false);
    }
  };

  const postVoid = async (approval: Approval | null) => {
    if (!sale) return;
    const sent = await send(
      "sale.voided",
      { sale: sale.id, receipt: sale.receipt, reason: voidReason },
      { override: approval === null ? null : asOverride(approval) },
    );
    const back = sale.tenders.map((t) => `${formatMoney(t.paid, currency)} ${(KIND_LABELS[t.kind] ?? t.kind).toLowerCase()}`).join(", ");
    reset();
    setVoiding(false);
    setNotice({
      text: `Receipt ${sale.receipt} voided${sent.queued ? " on this tablet; it goes to the appliance when it is back" : ""}. Give back ${back}.`,
    });
  };

  const approved = async (approval: Approval | null) => {
    const override = approval === null ? null : asOverride(approval);
    if (approving === "exchange") await toExchange(override);
    else await complete(override);
  };

  // ---- the screen ----------------------------------------------------------------------------
  const reasonOf = (code: string | null): Reason | undefined => reasons.find((r) => r.code === code);
  const reasonButton = (title: string, code: string | null, open: Picking) => {
    const reason = reasonOf(code);
    return (
      <button
        type="button"
        class={reason ? "reason" : "reason missing"}
        disabled={busy}
        aria-label={reason ? `Reason for ${title}: ${reason.label} · ${dispositionText(reason.disposition)}` : `Pick a reason for ${title}`}
        onClick={() => setPicking(open)}
      >
        {reason ? (
          <>
            {reason.label} <span class="disposition">· {dispositionText(reason.disposition)}</span>
          </>
        ) : (
          "Pick a reason"
        )}
      </button>
    );
  };

  const choose = (code: string) => {
    if (picking?.kind === "line") {
      const at = picking.line;
      setPicks((p) => ({ ...p, [at]: { qty: p[at]?.qty ?? 0, reason: code } }));
    } else if (picking?.kind === "item") {
      const at = picking.index;
      setUnreceipted((items) => (items ?? []).map((item, i) => (i === at ? { ...item, reason: code } : item)));
    }
    setPicking(null);
  };
  const pickedLine = picking?.kind === "line" ? sale?.lines.find((l) => l.line === picking.line) : undefined;
  const pickingTitle = pickedLine
    ? titleOf(pickedLine)
    : picking?.kind === "item"
      ? (unreceipted?.[picking.index]?.variant.title ?? "")
      : "";

  const setQty = (line: ReceiptLine, qty: number) =>
    setPicks((p) => ({ ...p, [line.line]: { qty: Math.max(0, Math.min(line.returnable, qty)), reason: p[line.line]?.reason ?? null } }));
  const setItemQty = (index: number, qty: number) =>
    setUnreceipted((items) =>
      qty <= 0 ? (items ?? []).filter((_, i) => i !== index) : (items ?? []).map((item, i) => (i === index ? { ...item, qty: Math.min(MAX_UNRECEIPTED_QTY, qty) } : item)),
    );

  return (
    <main class="returns">
      {picking ? (
        <div class="dialog" role="dialog" aria-label={`Why is ${pickingTitle} coming back?`}>
          <h2>Why is {pickingTitle} coming back?</h2>
          {reasons.length ? null : <p class="error">No return reasons are known yet: the appliance lists them once it is reached.</p>}
          <div class="reasons">
            {reasons.map((r) => (
              <button type="button" key={r.code} class="big reason-choice" onClick={() => choose(r.code)}>
                <span>{r.label}</span>
                <span class={`disposition ${r.disposition ?? ""}`}>{dispositionText(r.disposition)}</span>
              </button>
            ))}
          </div>
          <button type="button" class="big" onClick={() => setPicking(null)}>
            Cancel
          </button>
        </div>
      ) : null}
      {voiding && sale ? (
        <Approve
          title={`Void receipt ${sale.receipt}`}
          action="post_void"
          amount={sale.total}
          reason={voidReason}
          confirm={`Void ${formatMoney(sale.total, currency)}`}
          onApproved={postVoid}
          onCancel={() => setVoiding(false)}
        >
          <p>The whole sale is undone: {formatMoney(sale.total, currency)} goes back the way it was paid, and the goods back on the shelf.</p>
          <label class="field">
            Why
            <select value={voidReason} aria-label="Why the sale is voided" onChange={(e) => setVoidReason((e.target as HTMLSelectElement).value)}>
              {VOID_REASONS.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
          </label>
        </Approve>
      ) : null}
      {approving ? (
        <Approve
          title="Refund without a receipt"
          action="return_without_receipt"
          amount={total}
          reason="Return without a receipt"
          confirm={approving === "exchange" ? `Exchange for ${formatMoney(total, currency)} credit` : `Refund ${formatMoney(total, currency)}`}
          onApproved={approved}
          onCancel={() => setApproving(null)}
        >
          <p>
            {titles.join(", ")}: {approving === "exchange" ? `${formatMoney(total, currency)} credit on a new sale` : describeTenders(shown, currency)}
          </p>
        </Approve>
      ) : null}

      <section class="find-sale" aria-label="Find the sale">
        <h1>Returns</h1>
        <form
          class="row"
          onSubmit={(e) => {
            e.preventDefault();
            void find(number);
          }}
        >
          <input
            ref={field}
            value={number}
            aria-label="Receipt number"
            placeholder="Receipt number, or scan the receipt"
            autoComplete="off"
            autoCapitalize="off"
            spellcheck={false}
            onInput={(e) => setNumber((e.target as HTMLInputElement).value)}
          />
          <button type="submit" class="primary" disabled={busy}>
            Find
          </button>
          <button
            type="button"
            disabled={busy}
            aria-pressed={unreceipted !== null}
            onClick={() => {
              reset();
              setNotice(null);
              setUnreceipted([]);
            }}
          >
            No receipt
          </button>
        </form>
        {notice ? (
          <p class={notice.error ? "notice warn" : "notice"} role="status" data-testid="returns-notice">
            {notice.text}
          </p>
        ) : null}
      </section>

      {sale ? (
        <section class="return-lines" aria-label={`Items on receipt ${sale.receipt}`}>
          <h2>
            Receipt {sale.receipt} · {new Date(sale.at).toLocaleString(store.value?.locale)} · {formatMoney(sale.total, currency)}
          </h2>
          {sale.store === store.value?.store ? (
            <button type="button" class="big" disabled={busy} onClick={() => void reprint()}>
              Reprint receipt
            </button>
          ) : null}
          <ul>
            {sale.lines.map((line) => {
              const title = titleOf(line);
              const qty = picks[line.line]?.qty ?? 0;
              const closed = line.returnable <= 0;
              // Weighed goods come back whole or not at all: the stepper moves by what is left.
              const step = line.qty_scale === 1 ? 1 : line.returnable;
              return (
                <li key={line.line} class={closed ? "return-line closed" : "return-line"} data-line={line.line} aria-disabled={closed}>
                  <div class="what">
                    <span class="title">{title}</span>
                    <span class="sku">{line.sku}</span>
                    <span class="counts" data-testid="counts">
                      Sold {quantity(line.qty, line.qty_scale)} · returned {quantity(line.returned, line.qty_scale)} ·{" "}
                      {closed ? "nothing left" : `${quantity(line.returnable, line.qty_scale)} can come back`}
                    </span>
                  </div>
                  <span class="qty">
                    <button type="button" disabled={closed || busy || qty <= 0} aria-label={`One less ${title} back`} onClick={() => setQty(line, qty - step)}>
                      −
                    </button>
                    <span data-testid="return-qty">{quantity(qty, line.qty_scale)}</span>
                    <button
                      type="button"
                      disabled={closed || busy || qty >= line.returnable}
                      aria-label={`One more ${title} back`}
                      onClick={() => setQty(line, qty + step)}
                    >
                      +
                    </button>
                  </span>
                  <strong class="amount" data-testid="line-refund">
                    {formatMoney(lineRefund(line, qty).total, currency)}
                  </strong>
                  {qty > 0 ? reasonButton(title, picks[line.line]?.reason ?? null, { kind: "line", line: line.line }) : null}
                </li>
              );
            })}
          </ul>
        </section>
      ) : unreceipted ? (
        <section class="return-lines" aria-label="Items without a receipt">
          <h2>Without a receipt: at most today's price</h2>
          <input
            type="search"
            value={query}
            aria-label="Search the returned item"
            placeholder="Search name, SKU or scan the item"
            onInput={(e) => setQuery((e.target as HTMLInputElement).value)}
            onKeyDown={(e) => {
              if (e.key !== "Enter") return;
              void byBarcode(db, query).then((found) => {
                if (found) addItem(found);
                else if (results.length === 1 && results[0]) addItem(results[0]);
              });
            }}
          />
          {results.length ? (
            <ul class="results" aria-label="Products found">
              {results.map((v) => (
                <li key={v.id}>
                  <button type="button" class="result" onClick={() => addItem(v)}>
                    <span>{v.title}</span>
                    <span class="sku">{v.sku}</span>
                    <strong>{formatMoney(v.price, currency)}</strong>
                  </button>
                </li>
              ))}
            </ul>
          ) : null}
          <ul>
            {unreceipted.map((item, i) => {
              const title = item.variant.title;
              const line = lines[i];
              return (
                <li key={item.variant.id} class="return-line" data-line={i + 1}>
                  <div class="what">
                    <span class="title">{title}</span>
                    <span class="sku">{item.variant.sku}</span>
                    <span class="counts">Today {formatMoney(item.variant.price, currency)} each</span>
                  </div>
                  <span class="qty">
                    <button type="button" disabled={busy} aria-label={`One less ${title} back`} onClick={() => setItemQty(i, item.qty - 1)}>
                      −
                    </button>
                    <span data-testid="return-qty">{item.qty}</span>
                    <button
                      type="button"
                      disabled={busy || item.qty >= MAX_UNRECEIPTED_QTY}
                      aria-label={`One more ${title} back`}
                      onClick={() => setItemQty(i, item.qty + 1)}
                    >
                      +
                    </button>
                  </span>
                  <strong class="amount" data-testid="line-refund">
                    {formatMoney(line?.refund ?? 0, currency)}
                  </strong>
                  {reasonButton(title, item.reason, { kind: "item", index: i })}
                </li>
              );
            })}
          </ul>
        </section>
      ) : (
        <section class="return-lines empty" aria-label="How to start">
          <p class="notice">Scan the receipt's barcode or type its number. No receipt? Tap No receipt.</p>
        </section>
      )}

      {sale || unreceipted ? (
        <aside class="refund" aria-label="Refund">
          <div class="totals">
            <span>Tax in it</span>
            <span>{formatMoney(tax, currency)}</span>
            <strong>To refund</strong>
            <strong data-testid="refund-total">{formatMoney(total, currency)}</strong>
          </div>
          <div class="refund-as" role="group" aria-label="Refund as">
            {sale ? (
              <>
                <button type="button" aria-pressed={!asCredit} onClick={() => setAsCredit(false)}>
                  Original payment
                </button>
                <button type="button" aria-pressed={asCredit} onClick={() => setAsCredit(true)}>
                  Store credit
                </button>
              </>
            ) : (
              allowed.map((kind) => (
                <button type="button" key={kind} aria-pressed={payout === kind} onClick={() => setPayout(kind)}>
                  {KIND_LABELS[kind] ?? kind}
                </button>
              ))
            )}
          </div>
          <p data-testid="refund-to">
            {total > 0 ? `Refund ${describeTenders(shown, currency)}` : "Choose what comes back"}
          </p>
          {lines.length > 0 && missingReason ? <p class="notice">Pick a reason for each item coming back.</p> : null}
          {sale ? null : <p class="notice">A supervisor approves a refund without a receipt.</p>}
          <button
            type="button"
            class="big primary"
            disabled={!ready || busy}
            onClick={() => (sale ? void refund() : setApproving("refund"))}
          >
            Refund {formatMoney(total, currency)}
          </button>
          <button
            type="button"
            class="big"
            disabled={!ready || busy}
            onClick={() => (sale ? void toExchange(null) : setApproving("exchange"))}
          >
            Exchange
          </button>
          {sale && sale.shift === shift && sale.register === device.value?.register.id && sale.lines.every((l) => l.returned === 0) ? (
            <button type="button" class="big" disabled={busy} onClick={() => setVoiding(true)}>
              Void the whole sale
            </button>
          ) : null}
          <button
            type="button"
            class="big"
            disabled={busy}
            onClick={() => {
              reset();
              setNotice(null);
              field.current?.focus();
            }}
          >
            Start over
          </button>
        </aside>
      ) : null}
    </main>
  );
}
