import { useEffect, useState } from "preact/hooks";
import { ApiError, Unreachable } from "../api";
import { db } from "../db";
import { device } from "../session";
import { send } from "../till";
import { checkReceipt, loadInbound, markReceived, type Counts, type Inbound, type Loaded } from "../transfers";
import { age } from "./StockLookup";

function problem(e: unknown): string {
  return e instanceof ApiError ? e.message : e instanceof Unreachable ? "The store appliance cannot be reached." : String(e);
}

/** Shipments from other stores: pick one, count what came, receive it (offline too). */
export function Receive() {
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [picked, setPicked] = useState<Inbound | null>(null);
  const [counts, setCounts] = useState<Counts>({});
  const [reason, setReason] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const refresh = async () => setLoaded(await loadInbound(db, device.value?.token ?? null));
  useEffect(() => {
    void refresh();
  }, []);

  const pick = (t: Inbound) => {
    setPicked(t);
    setCounts(Object.fromEntries(t.lines.map((l) => [l.sku, String(l.shipped)])));
    setReason("");
    setErrors({});
    setMessage(null);
  };

  const receive = async (e: Event) => {
    e.preventDefault();
    if (!picked) return;
    const checked = checkReceipt(picked, counts, reason);
    if (!checked.ok) {
      setErrors(checked.errors);
      return;
    }
    setBusy(true);
    setErrors({});
    try {
      const sent = await send("transfer.received", checked.body);
      await markReceived(db, picked.id);
      setMessage(
        `Received from ${picked.from_store}${checked.differs ? ", with the difference noted" : ""}.` +
          (sent.queued ? " Saved on this tablet: it is sent when the appliance is back." : ""),
      );
      setPicked(null);
      await refresh();
    } catch (err) {
      setErrors({ _form: problem(err) });
    } finally {
      setBusy(false);
    }
  };

  const list = loaded?.list;
  return (
    <main class="returns receive">
      <section class="find-sale" aria-label="Shipments to receive">
        <h2>Receive a transfer</h2>
        {loaded?.message ? (
          <p class="notice" role="status">
            {loaded.message}
          </p>
        ) : null}
        {message ? (
          <p class="notice" role="status" data-testid="receive-done">
            {message}
          </p>
        ) : null}
        {list?.checked_at ? <p class="sku">Checked with head office {age(list.checked_at)}.</p> : null}
        {loaded === null ? (
          <p class="notice">Looking for shipments…</p>
        ) : !list || list.transfers.length === 0 ? (
          <p class="notice">No shipments are on their way to this store.</p>
        ) : (
          <ul class="results" aria-label="Shipments">
            {list.transfers.map((t) => (
              <li key={t.id}>
                <button type="button" class="result" aria-pressed={picked?.id === t.id} data-transfer={t.id} onClick={() => pick(t)}>
                  <span>From {t.from_store}</span>
                  <span class="sku">
                    {t.lines.length} item(s), {t.lines.reduce((n, l) => n + l.shipped, 0)} unit(s)
                  </span>
                  <span>{t.note ?? ""}</span>
                </button>
              </li>
            ))}
          </ul>
        )}
        <button type="button" class="big" disabled={busy} onClick={() => void refresh()}>
          Check again
        </button>
      </section>
      {picked ? (
        <form class="return-lines" aria-label={`Shipment from ${picked.from_store}`} onSubmit={(e) => void receive(e)} noValidate>
          <h2>From {picked.from_store}: count what arrived</h2>
          {errors["_form"] ? (
            <p class="error" role="alert">
              {errors["_form"]}
            </p>
          ) : null}
          <ul>
            {picked.lines.map((line) => {
              const id = `count-${line.sku}`;
              const error = errors[line.sku];
              return (
                <li key={line.sku} class="return-line">
                  <div class="what">
                    <label for={id} class="title">
                      {line.title ?? line.sku}
                    </label>
                    <span class="sku">{line.sku}</span>
                    <span class="counts">{line.shipped} shipped</span>
                  </div>
                  <input
                    id={id}
                    class="qty"
                    inputMode="numeric"
                    value={counts[line.sku] ?? ""}
                    aria-invalid={error ? "true" : undefined}
                    aria-describedby={error ? `${id}-error` : undefined}
                    onInput={(e) => setCounts({ ...counts, [line.sku]: (e.target as HTMLInputElement).value })}
                  />
                  {error ? (
                    <span class="error" id={`${id}-error`}>
                      {error}
                    </span>
                  ) : null}
                </li>
              );
            })}
          </ul>
          <label class="field">
            If the count differs from what was shipped: why
            <input
              name="reason"
              maxLength={200}
              value={reason}
              aria-invalid={errors["reason"] ? "true" : undefined}
              aria-describedby={errors["reason"] ? "reason-error" : undefined}
              onInput={(e) => setReason((e.target as HTMLInputElement).value)}
            />
            {errors["reason"] ? (
              <span class="error" id="reason-error">
                {errors["reason"]}
              </span>
            ) : null}
          </label>
          <button type="submit" class="primary big" disabled={busy}>
            Receive
          </button>
        </form>
      ) : null}
    </main>
  );
}
