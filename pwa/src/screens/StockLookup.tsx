import { useEffect, useState } from "preact/hooks";
import { ApiError, Unreachable, call } from "../api";
import { otherStores, type OtherStores } from "../chainStock";
import { byBarcode, searchCatalog } from "../catalog";
import { db, type VariantDoc } from "../db";
import { parseAt } from "../protocol/envelope";
import { device } from "../session";

type OtherStore = { store: string; name?: string; on_hand: number; as_of: string };
type Stock = {
  variant: string;
  sku: string;
  title: string | null;
  store: string;
  on_hand: number;
  negative: boolean;
  reorder_point: number | null;
  below_reorder_point: boolean;
  last_count: { at: string; counted: number; expected: number; shrink: number } | null;
  as_of: string;
  other_stores: OtherStore[];
};

/** How old a figure is, in words a cashier reads at a glance. */
export function age(at: string, now: number = Date.now()): string {
  let ms: number;
  try {
    ms = now - parseAt(at);
  } catch {
    ms = now - Date.parse(at);
  }
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return "just now";
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  return h < 48 ? `${h} h ago` : `${Math.round(h / 24)} days ago`;
}

/** How many of a product are here, and in the chain's other stores, and how fresh that is. */
export function StockLookup() {
  const [query, setQuery] = useState("");
  const [results, setResults] = useState<VariantDoc[]>([]);
  const [stock, setStock] = useState<Stock | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [others, setOthers] = useState<OtherStores | null>(null);

  useEffect(() => {
    let stale = false;
    void searchCatalog(db, query).then((found) => {
      if (!stale) setResults(found.slice(0, 30));
    });
    return () => {
      stale = true;
    };
  }, [query]);

  const look = async (variant: VariantDoc) => {
    setBusy(true);
    setError(null);
    setOthers(null);
    try {
      const token = device.value?.token ?? null;
      setStock(await call<Stock>("GET", `/stock?variant=${encodeURIComponent(variant.id)}`, { token }));
      // Asked after this store's figure is shown, so a slow cloud never holds it up.
      void otherStores(variant.id, token).then(setOthers);
    } catch (e) {
      setStock(null);
      setError(
        e instanceof Unreachable
          ? "The store appliance cannot be reached: stock figures come from it. Try again when it is back."
          : e instanceof ApiError
            ? e.message
            : String(e),
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="sell stock">
      <section class="find">
        <input
          class="search"
          type="search"
          value={query}
          placeholder="Product name, SKU or barcode"
          aria-label="Find a product's stock"
          onInput={(e) => setQuery((e.target as HTMLInputElement).value)}
          onKeyDown={(e) => {
            if (e.key !== "Enter") return;
            void byBarcode(db, query).then((found) => {
              if (found) void look(found);
              else if (results[0]) void look(results[0]);
            });
          }}
        />
        <ul class="results">
          {results.map((v) => (
            <li key={v.id}>
              <button type="button" class="result" disabled={busy} onClick={() => void look(v)}>
                <span>{v.title}</span>
                <span class="sku">{v.sku}</span>
                <span />
              </button>
            </li>
          ))}
        </ul>
      </section>
      <section class="cart" aria-label="Stock">
        {error ? (
          <p class="error" role="alert">
            {error}
          </p>
        ) : null}
        {stock ? (
          <>
            <h2>{stock.title ?? stock.sku}</h2>
            <p class="sku">{stock.sku}</p>
            <table class="report" aria-label="Stock by store">
              <thead>
                <tr>
                  <th>Store</th>
                  <th>On hand</th>
                  <th>As of</th>
                </tr>
              </thead>
              <tbody>
                <tr>
                  <td>This store</td>
                  <td data-testid="on-hand-here" class={stock.negative || stock.below_reorder_point ? "warn" : ""}>
                    {stock.on_hand}
                  </td>
                  <td>{age(stock.as_of)}</td>
                </tr>
                {stock.other_stores.map((o) => (
                  <tr key={o.store}>
                    <td>{o.name ?? o.store}</td>
                    <td>{o.on_hand}</td>
                    <td>{age(o.as_of)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {stock.negative ? <p class="warn">Below zero: sold more than was booked in. Tell your manager.</p> : null}
            {stock.below_reorder_point ? <p class="warn">At or below the reorder point ({stock.reorder_point}).</p> : null}
            {stock.last_count ? (
              <p>
                Last counted {age(stock.last_count.at)}: {stock.last_count.counted} on the shelf.
              </p>
            ) : null}
            <OtherStoresPanel others={others} />
          </>
        ) : error ? null : (
          <p class="notice">Tap a product to see how many are here and in other stores.</p>
        )}
      </section>
    </main>
  );
}

/** The chain's other stores, as the cloud has them now, each with how fresh its figure is. */
export function OtherStoresPanel({ others }: { others: OtherStores | null }) {
  return (
    <section class="other-stores" aria-label="Other stores">
      <h3>Other stores</h3>
      {others === null ? (
        <p class="notice">Asking the other stores…</p>
      ) : others.kind === "unavailable" ? (
        <p class="notice" role="status">
          {others.message}
        </p>
      ) : others.stores.length === 0 ? (
        <p class="notice">No other store carries this product.</p>
      ) : (
        <table class="report" aria-label="Stock in other stores">
          <thead>
            <tr>
              <th>Store</th>
              <th>On hand</th>
              <th>Last heard from</th>
            </tr>
          </thead>
          <tbody>
            {others.stores.map((o) => (
              <tr key={o.store} data-testid={`other-store-${o.store}`}>
                <td>{o.name ?? o.store}</td>
                <td class={o.on_hand < 0 ? "warn" : ""}>{o.on_hand}</td>
                <td>{o.synced_at ? age(o.synced_at) : "never"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
