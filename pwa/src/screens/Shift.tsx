import { useState } from "preact/hooks";
import { ApiError, Unreachable, call } from "../api";
import { type Approval, asOverride, mayDo } from "../approval";
import { parseMoney } from "../protocol/money";
import { formatMoney } from "../format";
import { reasonsOf, session, store } from "../session";
import { send } from "../till";
import { Approve } from "./Approve";
import { CloseShift, ReportTable, type ZReport } from "./CloseShift";

type Props = { shift: string; onClosed: () => void };
type Move = "pay_in" | "pay_out" | "no_sale";

const MOVES: Record<Move, string> = { pay_in: "Pay in", pay_out: "Pay out", no_sale: "No sale" };

type XReport = ZReport & {
  opened_at: string;
  cash: ZReport["cash"] & { float: number; taken: number; paid_out: number; pay_ins: number; pay_outs: number };
  no_sales: number;
};

function problem(e: unknown): string {
  return e instanceof ApiError ? e.message : e instanceof Unreachable ? "The store appliance cannot be reached." : String(e);
}

/** The drawer during the shift: pay-ins, pay-outs, no-sale, the X report, and closing. */
export function ShiftScreen({ shift, onClosed }: Props) {
  const currency = store.value?.currency ?? "EUR";
  const cashReasons = reasonsOf("cash");
  const [closing, setClosing] = useState(false);
  const [move, setMove] = useState<Move | null>(null);
  const [amount, setAmount] = useState("");
  const [reason, setReason] = useState("");
  const [note, setNote] = useState("");
  const [approving, setApproving] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [x, setX] = useState<XReport | null>(null);
  const [printing, setPrinting] = useState(false);

  if (closing) return <CloseShift shift={shift} onCancel={() => setClosing(false)} onClosed={onClosed} />;

  const money = move && move !== "no_sale" ? (amount.trim() ? parseMoney(amount.trim().replace(",", "."), currency) : null) : 0;
  const picked = reason || cashReasons[0]?.code || "";
  const ready = move !== null && picked !== "" && money !== null && (move === "no_sale" || money > 0);

  const record = async (approval: Approval | null) => {
    if (!move || money === null) return;
    const sent = await send(
      "cash.moved",
      { shift, kind: move, amount: money, reason: picked, ...(note.trim() ? { note: note.trim() } : {}) },
      { override: approval ? asOverride(approval) : null },
    );
    const label = reasonsOf("cash").find((r) => r.code === picked)?.label ?? picked;
    setMessage(
      `${MOVES[move]}${move === "no_sale" ? "" : ` ${formatMoney(money, currency)}`} (${label}) recorded${sent.queued ? " on this tablet; it goes to the appliance when it is back" : ""}.`,
    );
    setMove(null);
    setAmount("");
    setNote("");
    setApproving(false);
  };

  const submit = async () => {
    if (!move) return;
    setError(null);
    if (!mayDo(move)) {
      setApproving(true);
      return;
    }
    try {
      await record(null);
    } catch (e) {
      setError(problem(e));
    }
  };

  const showX = async () => {
    setError(null);
    try {
      setX(await call<XReport>("GET", `/shifts/${shift}/report?kind=x`, { token: session.value?.token ?? null }));
    } catch (e) {
      setError(
        e instanceof ApiError && e.status === 403
          ? "The X report shows what the drawer should hold, so cashiers count blind: a supervisor logs in to read it."
          : problem(e),
      );
    }
  };

  const printX = async () => {
    setError(null);
    setPrinting(true);
    try {
      await call<{ job: number }>("POST", `/shifts/${shift}/report/print?kind=x`, { token: session.value?.token ?? null });
      setMessage("X report sent to this register's printer.");
    } catch (e) {
      setError(problem(e));
    } finally {
      setPrinting(false);
    }
  };

  return (
    <main class="screen shift">
      {approving && move ? (
        <Approve
          title={`Approve: ${MOVES[move]}`}
          action={move}
          {...(move === "no_sale" ? {} : { amount: money ?? 0 })}
          reason={cashReasons.find((r) => r.code === picked)?.label ?? picked}
          confirm={MOVES[move]}
          onCancel={() => setApproving(false)}
          onApproved={record}
        >
          <p>{move === "no_sale" ? "Open the drawer without a sale." : `${MOVES[move]} ${formatMoney(money ?? 0, currency)}`}</p>
        </Approve>
      ) : null}
      <h1>Shift</h1>
      {message ? (
        <p class="notice" role="status">
          {message}
        </p>
      ) : null}
      <div class="row" role="group" aria-label="Drawer">
        {(Object.keys(MOVES) as Move[]).map((m) => (
          <button
            type="button"
            key={m}
            class={move === m ? "big choice current" : "big choice"}
            aria-pressed={move === m}
            onClick={() => {
              setMove(move === m ? null : m);
              setMessage(null);
              setError(null);
            }}
          >
            {MOVES[m]}
          </button>
        ))}
      </div>
      {move ? (
        <div class="form">
          {move !== "no_sale" ? (
            <label class="field">
              Amount
              <input inputMode="decimal" value={amount} aria-label="Amount" onInput={(e) => setAmount((e.target as HTMLInputElement).value)} />
            </label>
          ) : null}
          <label class="field">
            Reason
            <select value={picked} aria-label="Reason" onChange={(e) => setReason((e.target as HTMLSelectElement).value)}>
              {cashReasons.map((r) => (
                <option key={r.code} value={r.code}>
                  {r.label}
                </option>
              ))}
            </select>
          </label>
          <label class="field">
            Note (optional)
            <input value={note} maxLength={200} aria-label="Note" onInput={(e) => setNote((e.target as HTMLInputElement).value)} />
          </label>
          <button type="button" class="big primary" disabled={!ready} onClick={() => void submit()}>
            {mayDo(move) ? MOVES[move] : `${MOVES[move]}: ask a supervisor`}
          </button>
        </div>
      ) : null}
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
      <div class="row">
        <button type="button" class="big" onClick={() => void showX()}>
          X report
        </button>
        <button type="button" class="big primary" onClick={() => setClosing(true)}>
          Close shift
        </button>
      </div>
      {x ? (
        <section aria-label="X report">
          <h2>X report · since {new Date(x.opened_at).toLocaleTimeString(store.value?.locale)}</h2>
          <p>
            Float {formatMoney(x.cash.float, currency)} · cash taken {formatMoney(x.cash.taken, currency)} · paid out{" "}
            {formatMoney(x.cash.paid_out, currency)} · pay-ins {formatMoney(x.cash.pay_ins, currency)} · pay-outs{" "}
            {formatMoney(x.cash.pay_outs, currency)} · no-sales {x.no_sales}
          </p>
          <p>
            The drawer should hold <strong data-testid="x-expected-cash">{formatMoney(x.cash.expected, currency)}</strong>
          </p>
          <ReportTable report={x} currency={currency} />
          <button type="button" class="big" disabled={printing} onClick={() => void printX()}>
            Print X report
          </button>
        </section>
      ) : null}
    </main>
  );
}
