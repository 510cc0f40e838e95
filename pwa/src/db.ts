// This tablet's own storage (IndexedDB through Dexie): its register identity, the catalog
// cache kept fresh by deltas, and the chain of events it has sealed.
import Dexie, { type Table } from "dexie";

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
  /** Lower-case words of the title and SKU, for prefix search (a multi-entry index). */
  words: string[];
};

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
  variants!: Table<VariantDoc, string>;
  outbox!: Table<OutboxRow, number>;

  constructor(name = "tillbox") {
    super(name);
    this.version(1).stores({
      kv: "key",
      variants: "id, sku, *barcodes, *words, category",
    });
    this.version(2).stores({ outbox: "seq, held, [held+seq], heldAt" });
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
