// The catalog cache: filled once, then kept fresh by deltas from /catalog/changes.
import { call } from "./api";
import { type TillDatabase, type VariantDoc } from "./db";

type Change = { kind: string; id: string; version: number; data: Record<string, unknown> };
type ChangesPage = { changes: Change[]; next: number; head: number };

const PAGE = 2000;
// How many index entries one search looks at, at most, when it must filter on more words.
const SCAN_LIMIT = 1500;

/** Words a cashier may type the start of: title words, the SKU and its parts. */
export function wordsOf(title: string, sku: string): string[] {
  const words = new Set<string>();
  for (const text of [title, sku]) {
    for (const word of text.toLowerCase().split(/[^\p{L}\p{N}]+/u)) {
      if (word) words.add(word);
    }
  }
  words.add(sku.toLowerCase());
  return [...words];
}

function toVariant(change: Change): VariantDoc {
  const d = change.data as Omit<VariantDoc, "words">;
  return { ...d, words: wordsOf(d.title, d.sku) };
}

/** Bring the cache up to the appliance's head; returns the version now held. */
export async function syncCatalog(db: TillDatabase, token: string): Promise<number> {
  let since = (await db.get<number>("catalog_version")) ?? 0;
  for (;;) {
    const page = await call<ChangesPage>("GET", `/catalog/changes?since=${since}&limit=${PAGE}`, {
      token,
    });
    if (page.next < since) {
      // The appliance was restored from another database: start again from nothing.
      await db.transaction("rw", db.variants, db.kv, async () => {
        await db.variants.clear();
        await db.put("catalog_version", 0);
      });
      since = 0;
      continue;
    }
    const variants = page.changes.filter((c) => c.kind === "variant").map(toVariant);
    await db.transaction("rw", db.variants, db.kv, async () => {
      if (variants.length) await db.variants.bulkPut(variants);
      await db.put("catalog_version", page.next);
    });
    since = page.next;
    if (page.next >= page.head) return since;
  }
}

/** Active variants matching every typed word (prefixes), a barcode or a SKU; best first. */
export async function searchCatalog(db: TillDatabase, query: string, limit = 30): Promise<VariantDoc[]> {
  const text = query.trim().toLowerCase();
  if (!text) return [];
  if (/^\d{6,14}$/.test(text)) {
    const byCode = await db.variants.where("barcodes").equals(text).toArray();
    if (byCode.length) return byCode.filter((v) => v.active);
  }
  const words = text.split(/[^\p{L}\p{N}]+/u).filter(Boolean);
  const [first, ...rest] = words.sort((a, b) => b.length - a.length);
  if (!first) return [];
  const found: VariantDoc[] = [];
  const seen = new Set<string>();
  // The longest word narrows best; the rest are checked on each candidate. A short prefix can
  // match tens of thousands of rows: look at a bounded number of them, so a keystroke never
  // waits on a full index walk (the next keystroke narrows it anyway).
  await db.variants
    .where("words")
    .startsWith(first)
    .limit(rest.length ? SCAN_LIMIT : limit * 2)
    .until(() => found.length >= limit)
    .each((variant) => {
      if (seen.has(variant.id) || !variant.active) return;
      if (rest.every((w) => variant.words.some((v) => v.startsWith(w)))) {
        seen.add(variant.id);
        found.push(variant);
      }
    });
  return found.sort((a, b) => a.title.localeCompare(b.title));
}

/** The variant with this barcode, as scanned. */
export async function byBarcode(db: TillDatabase, code: string): Promise<VariantDoc | undefined> {
  const found = await db.variants.where("barcodes").equals(code.trim()).first();
  return found?.active ? found : undefined;
}
