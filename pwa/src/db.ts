// This tablet's own storage (IndexedDB through Dexie): its register identity, the catalog
// cache kept fresh by deltas, and the chain of events it has sealed.
import Dexie, { type Table } from "dexie";
import { CHUNK, indexChunk, type CatalogChunk } from "./search";

export type VariantDoc = {
  id: string;
  sku: string;
  product: string;
  title: string;
  options: Record<string, string>;
  barcodes: string[];
  category: string | null;
  price: number;
  currency: string;
  tax_class: string;
  active: boolean;
};

/** The fields the register uses, from a variant document of the change feed (the product and
 * category ids, vendor and reorder settings are not kept: 100,000 of them weigh megabytes). */
export function variantDoc(data: VariantDoc): VariantDoc {
  return {
    id: data.id,
    sku: data.sku,
    product: data.product,
    title: data.title,
    options: data.options,
    barcodes: data.barcodes,
    category: data.category,
    price: data.price,
    currency: data.currency,
    tax_class: data.tax_class,
    active: data.active,
  };
}

export type KeyValue = { key: string; value: unknown };

/** A sealed event of this register: queued until the appliance holds it, then kept a while. */
export type OutboxRow = {
  seq: number;
  envelope: import("./protocol/envelope").Envelope;
  /** 0 while waiting for the appliance, 1 once it holds the event (kept for the cloud). */
  held: 0 | 1;
  sealedAt: number;
  heldAt: number | null;
};

export class TillDatabase extends Dexie {
  kv!: Table<KeyValue, string>;
  /** The catalog cache in chunks of variants with their word index (see search.ts). */
  catalog!: Table<CatalogChunk, number>;
  outbox!: Table<OutboxRow, number>;

  constructor(name = "tillbox") {
    // Strict durability: a transaction completes only once it is on disk, so a sale the
    // cashier was told is saved survives the tablet losing power (Chrome's default, "relaxed",
    // may lose the last seconds). The catalog writes few, large chunks, so this costs little.
    super(name, { chromeTransactionDurability: "strict" });
    this.version(1).stores({
      kv: "key",
      variants: "id, sku, *barcodes, *words, category",
    });
    this.version(2).stores({ outbox: "seq, held, [held+seq], heldAt" });
    // One record per variant with multi-entry indexes cost ~40 s of a slow tablet's CPU to fill
    // with 100,000 variants; chunks of thousands are written in a few seconds. Their key (the
    // chunk's `n`) is kept outside the record: a key inside it makes the browser copy each
    // record once more to read the key. The variants already cached move into chunks here, so
    // a tablet updated while offline keeps selling (once: ~9 s for 100,000 variants at CPU ×4).
    // The old store stays: dropping it with its million index entries held the database for
    // ~30 s more. The catalog empties it in the background (catalog.ts); a later version can
    // drop it then.
    this.version(3)
      .stores({ catalog: "" })
      .upgrade(async (tx) => {
        const old = await tx.table<VariantDoc>("variants").toArray();
        const chunks: CatalogChunk[] = [];
        for (let at = 0; at < old.length; at += CHUNK) {
          chunks.push(indexChunk(chunks.length, old.slice(at, at + CHUNK).map(variantDoc)));
        }
        await tx.table<CatalogChunk, number>("catalog").bulkPut(
          chunks,
          chunks.map((c) => c.n),
        );
      });
  }

  async get<T>(key: string): Promise<T | undefined> {
    const row = await this.kv.get(key);
    return row?.value as T | undefined;
  }

  async put(key: string, value: unknown): Promise<void> {
    await this.kv.put({ key, value });
  }
}

export const db = new TillDatabase();
