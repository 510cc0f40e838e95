import "fake-indexeddb/auto";
import Dexie, { type Table } from "dexie";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { byBarcode, categoriesOf, inCategory, searchCatalog, syncCatalog, variantById } from "./catalog";
import { TillDatabase, type VariantDoc } from "./db";
import { CHUNK, indexChunk, wordsOf } from "./search";

type Data = VariantDoc;

function doc(n: number, title: string, sku: string, barcodes: string[], more: Partial<Data> = {}): Data {
  const id = `v${String(n).padStart(6, "0")}`;
  return { id, sku, product: title, title, options: {}, barcodes, category: null, price: 100 * n, currency: "EUR", tax_class: "standard", active: true, ...more };
}

function change(data: Data, version = 1) {
  // The feed carries fields the register does not keep.
  return { kind: "variant", id: data.id, version, data: { ...data, product_id: "p", vendor: "Lumo", pack_size: 1 } };
}

function variant(n: number, title: string, sku: string, barcodes: string[], active = true) {
  return change(doc(n, title, sku, barcodes, { active }), n);
}

type Page = { changes: unknown[]; next: number; head: number };

function serve(pages: Record<number, Page>) {
  const asked: number[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (url: string) => {
      const since = Number(new URL(url, "http://x").searchParams.get("since"));
      asked.push(since);
      const page = pages[since];
      if (!page) return new Response(JSON.stringify({ error: "nope", message: "no page" }), { status: 404 });
      return new Response(JSON.stringify(page), { status: 200 });
    }),
  );
  return asked;
}

/** The whole feed in pages of `size`, starting at version 0. */
function feed(changes: ReturnType<typeof change>[], size: number, from = 0): Record<number, Page> {
  const pages: Record<number, Page> = {};
  const head = from + changes.length;
  for (let at = 0; at < changes.length; at += size) {
    const next = from + Math.min(changes.length, at + size);
    pages[from + at] = { changes: changes.slice(at, at + size), next, head };
  }
  pages[head] = { changes: [], next: head, head };
  return pages;
}

const skus = (found: VariantDoc[]) => found.map((v) => v.sku);

let db: TillDatabase;
let name: string;

beforeEach(async () => {
  vi.unstubAllGlobals();
  name = `catalog-test-${Math.random()}`;
  db = new TillDatabase(name);
  await db.open();
});

/** The same database opened again, as after a reload: the catalog comes from IndexedDB. */
function reopened(): TillDatabase {
  return new TillDatabase(name);
}

describe("the catalog cache", () => {
  it("follows the change feed page by page, then only asks for what is new", async () => {
    const asked = serve({
      0: { changes: [variant(1, "Classic Tee — M / Red", "TEE-M-RED", ["4006381333931"])], next: 1, head: 2 },
      1: { changes: [variant(2, "Crème Brûlée Mug", "MUG-1", ["96385074"])], next: 2, head: 2 },
      2: { changes: [], next: 2, head: 2 },
    });
    expect(await syncCatalog(db, "t")).toBe(2);
    expect(await syncCatalog(db, "t")).toBe(2);
    expect(asked).toEqual([0, 1, 2]);
    expect((await byBarcode(db, "96385074"))?.sku).toBe("MUG-1");
  });

  it("starts again from nothing when the appliance was restored from another database", async () => {
    await db.put("catalog_version", 50);
    await db.catalog.put(indexChunk(0, [doc(9, "Gone", "OLD", ["12345670"])]), 0);
    serve({
      50: { changes: [], next: 3, head: 3 },
      0: { changes: [variant(1, "Tee", "T-1", [])], next: 3, head: 3 },
    });
    expect(await syncCatalog(db, "t")).toBe(3);
    expect((await db.catalog.toArray()).flatMap((c) => skus(c.docs))).toEqual(["T-1"]);
    expect(await searchCatalog(db, "gone")).toEqual([]);
    expect(await byBarcode(db, "12345670")).toBeUndefined();
    expect(skus(await searchCatalog(reopened(), "t"))).toEqual(["T-1"]);
  });

  it("keeps only the fields the register uses", async () => {
    serve(feed([variant(1, "Tee", "T-1", ["4006381333931"])], 10));
    await syncCatalog(db, "t");
    const [found] = await searchCatalog(db, "tee");
    expect(found).toEqual(doc(1, "Tee", "T-1", ["4006381333931"]));
    expect((await variantById(db, found!.id))?.sku).toBe("T-1");
  });

  it("finds by word prefixes in any order, by SKU, and never an inactive variant", async () => {
    serve({
      0: {
        changes: [
          variant(1, "Classic Tee — M / Red", "TEE-M-RED", []),
          variant(2, "Classic Tee — L / Red", "TEE-L-RED", []),
          variant(3, "Classic Tee — M / Blue", "TEE-M-BLU", ["4006381333931"], false),
          variant(4, "Crème Brûlée Mug", "MUG-1", ["96385074"]),
        ],
        next: 4,
        head: 4,
      },
    });
    await syncCatalog(db, "t");
    expect(skus(await searchCatalog(db, "red cla"))).toEqual(["TEE-L-RED", "TEE-M-RED"]);
    expect(skus(await searchCatalog(db, "tee-m"))).toEqual(["TEE-M-RED"]);
    expect(skus(await searchCatalog(db, "crème"))).toEqual(["MUG-1"]);
    expect(await searchCatalog(db, "blue")).toEqual([]);
    expect(await searchCatalog(db, "tee-m-blu")).toEqual([]);
    expect(await byBarcode(db, "4006381333931")).toBeUndefined();
    expect(await byBarcode(db, "0000")).toBeUndefined();
    expect(await searchCatalog(db, "  ")).toEqual([]);
  });

  it("folds accents and case both ways", async () => {
    serve(
      feed(
        [
          change(doc(1, "Crème Brûlée Mug", "MUG-1", [])),
          change(doc(2, "Creme Fraiche Jar", "JAR-1", [])),
          change(doc(3, "Ærø Ånd Café", "CAF-1", [])),
        ],
        10,
      ),
    );
    await syncCatalog(db, "t");
    expect(skus(await searchCatalog(db, "creme"))).toEqual(["MUG-1", "JAR-1"]);
    expect(skus(await searchCatalog(db, "CRÈME"))).toEqual(["MUG-1", "JAR-1"]);
    expect(skus(await searchCatalog(db, "brul mug"))).toEqual(["MUG-1"]);
    expect(skus(await searchCatalog(db, "fraîche"))).toEqual(["JAR-1"]);
    expect(skus(await searchCatalog(db, "and cafe"))).toEqual(["CAF-1"]);
  });

  it("finds by category and barcode prefixes too", async () => {
    serve(
      feed(
        [
          change(doc(1, "Crème Brûlée Mug", "MUG-1", ["96385074"], { category: "Kitchen & Dining" })),
          change(doc(2, "Classic Tee", "TEE-1", ["4006381333931", "ABC-77"], { category: "Apparel" })),
        ],
        10,
      ),
    );
    await syncCatalog(db, "t");
    expect(skus(await searchCatalog(db, "kitch"))).toEqual(["MUG-1"]);
    expect(skus(await searchCatalog(db, "din mug"))).toEqual(["MUG-1"]);
    expect(skus(await searchCatalog(db, "400638"))).toEqual(["TEE-1"]);
    expect(skus(await searchCatalog(db, "abc-7"))).toEqual(["TEE-1"]);
    expect((await byBarcode(db, " ABC-77 "))?.sku).toBe("TEE-1");
    expect(await byBarcode(db, "abc-77")).toBeUndefined();
    expect(await byBarcode(db, "4006381")).toBeUndefined();
  });

  it("puts the exact SKU or barcode first, then the others by title", async () => {
    serve(
      feed(
        [
          change(doc(1, "Zebra Mug", "MUG-1", [])),
          change(doc(2, "Apple Mug", "MUG-10", [])),
          change(doc(3, "Mango Mug", "MUG-11", [])),
          change(doc(4, "Zulu Tee", "TEE-1", ["4006381333931"])),
          change(doc(5, "Alpha Tee", "TEE-2", ["40063813339310"])),
        ],
        10,
      ),
    );
    await syncCatalog(db, "t");
    expect(skus(await searchCatalog(db, "mug-1"))).toEqual(["MUG-1", "MUG-10", "MUG-11"]);
    expect(skus(await searchCatalog(db, "Mug-1"))).toEqual(["MUG-1", "MUG-10", "MUG-11"]);
    expect(skus(await searchCatalog(db, "mug-1", 2))).toEqual(["MUG-1", "MUG-10"]);
    expect(skus(await searchCatalog(db, "4006381333931"))).toEqual(["TEE-1", "TEE-2"]);
    expect(skus(await searchCatalog(db, "mug"))).toEqual(["MUG-10", "MUG-11", "MUG-1"]);
  });

  it("stops at the limit, preferring variants that have the typed word whole", async () => {
    const many = [];
    for (let n = 1; n <= 40; n++) many.push(change(doc(n, `Teething Ring ${n}`, `RING-${n}`, [])));
    for (let n = 41; n <= 43; n++) many.push(change(doc(n, `Zipped Tee ${n}`, `ZT-${n}`, [])));
    serve(feed(many, 100));
    await syncCatalog(db, "t");
    expect(await searchCatalog(db, "tee")).toHaveLength(30);
    expect(await searchCatalog(db, "tee", 5)).toHaveLength(5);
    expect(skus(await searchCatalog(db, "tee", 3))).toEqual(["ZT-41", "ZT-42", "ZT-43"]);
  });

  it("applies deltas: changed titles, barcodes and prices, deactivated and new variants, also after a reload", async () => {
    const first = [
      change(doc(1, "Classic Tee — M / Red", "TEE-M-RED", ["4006381333931"]), 1),
      change(doc(2, "Crème Brûlée Mug", "MUG-1", ["96385074"]), 2),
      change(doc(3, "Garden Hose", "HOSE-1", ["12345670"]), 3),
      change(doc(4, "Wool Socks", "SOCK-1", ["5012345678900"]), 4),
    ];
    const delta = [
      change(doc(1, "Vintage Tee — M / Red", "TEE-M-RED", ["4006381333931"]), 5),
      change(doc(2, "Crème Brûlée Mug", "MUG-1", ["4012345678901"]), 6),
      change(doc(3, "Garden Hose", "HOSE-1", ["12345670"], { price: 999 }), 7),
      change(doc(4, "Wool Socks", "SOCK-1", ["5012345678900"], { active: false }), 8),
      change(doc(5, "Wool Hat", "HAT-1", ["96385074"]), 9),
    ];
    serve({ ...feed(first, 2), ...feed(delta, 10, 4) });
    expect(await syncCatalog(db, "t")).toBe(4);
    expect(skus(await searchCatalog(db, "classic"))).toEqual(["TEE-M-RED"]);
    expect(await syncCatalog(db, "t")).toBe(9);
    for (const till of [db, reopened()]) {
      expect(await searchCatalog(till, "classic")).toEqual([]);
      expect(skus(await searchCatalog(till, "vint red"))).toEqual(["TEE-M-RED"]);
      expect((await byBarcode(till, "96385074"))?.sku).toBe("HAT-1");
      expect((await byBarcode(till, "4012345678901"))?.sku).toBe("MUG-1");
      expect((await searchCatalog(till, "hose"))[0]?.price).toBe(999);
      expect((await byBarcode(till, "12345670"))?.price).toBe(999);
      expect(await byBarcode(till, "5012345678900")).toBeUndefined();
      expect(skus(await searchCatalog(till, "wool"))).toEqual(["HAT-1"]);
      expect((await variantById(till, doc(4, "", "", []).id))?.active).toBe(false);
    }
  });

  it("reads the catalog again before a sync when another tab has synced since", async () => {
    const first = [change(doc(1, "Classic Tee", "TEE-1", []), 1), change(doc(2, "Wool Socks", "SOCK-1", []), 2)];
    serve({
      ...feed(first, 10),
      2: { changes: [change(doc(1, "Vintage Tee", "TEE-1", []), 3)], next: 3, head: 3 },
      3: { changes: [change(doc(2, "Wool Hat", "SOCK-1", []), 4)], next: 4, head: 4 },
    });
    expect(await syncCatalog(db, "t")).toBe(2);
    const other = reopened();
    expect(skus(await searchCatalog(other, "classic"))).toEqual(["TEE-1"]);
    expect(await syncCatalog(db, "t")).toBe(3);
    expect(await syncCatalog(other, "t")).toBe(4);
    for (const till of [other, reopened()]) {
      expect(skus(await searchCatalog(till, "vintage"))).toEqual(["TEE-1"]);
      expect(skus(await searchCatalog(till, "hat"))).toEqual(["SOCK-1"]);
      expect(await searchCatalog(till, "classic")).toEqual([]);
    }
  });

  it("lists the categories with their active variants by title, and follows changes", async () => {
    const apparel = { category: "Apparel" };
    serve(
      feed(
        [
          change(doc(1, "Wool Scarf", "SCF-1", [], apparel)),
          change(doc(2, "Classic Tee", "TEE-1", [], apparel)),
          change(doc(3, "Crème Brûlée Mug", "MUG-1", [], { category: "Home & Kitchen" })),
          change(doc(4, "Old Tee", "TEE-0", [], { ...apparel, active: false })),
          change(doc(5, "Gift Wrap", "GW-1", [])),
        ],
        10,
      ),
    );
    await syncCatalog(db, "t");
    expect(await categoriesOf(db)).toEqual([
      { name: "Apparel", count: 2 },
      { name: "Home & Kitchen", count: 1 },
    ]);
    expect(skus(await inCategory(db, "Apparel"))).toEqual(["TEE-1", "SCF-1"]);
    expect(skus(await inCategory(db, "Apparel", 1, 5))).toEqual(["SCF-1"]);
    expect(await inCategory(db, "Garden")).toEqual([]);
    // The mug moves to Apparel, the scarf is switched off.
    serve({
      5: { changes: [change(doc(3, "Crème Brûlée Mug", "MUG-1", [], apparel), 6), change(doc(1, "Wool Scarf", "SCF-1", [], { ...apparel, active: false }), 7)], next: 7, head: 7 },
      7: { changes: [], next: 7, head: 7 },
    });
    await syncCatalog(db, "t");
    expect(await categoriesOf(db)).toEqual([{ name: "Apparel", count: 2 }]);
    expect(skus(await inCategory(db, "Apparel"))).toEqual(["TEE-1", "MUG-1"]);
  });

  it("keeps a large catalog in chunks and changes only the chunks that hold the changes", async () => {
    const count = CHUNK * 2 + 100;
    const all = [];
    for (let n = 1; n <= count; n++) all.push(change(doc(n, `Item ${n} Blue`, `SKU-${n}`, [String(10_000_000 + n)]), n));
    serve({ ...feed(all, 1500), ...feed([change(doc(CHUNK + 7, "Item Red", `SKU-${CHUNK + 7}`, ["77"]), count + 1)], 10, count) });
    expect(await syncCatalog(db, "t")).toBe(count);
    const chunks = await db.catalog.toArray();
    expect(chunks.map((c) => c.docs.length)).toEqual([CHUNK, CHUNK, 100]);
    expect((await byBarcode(db, String(10_000_000 + count)))?.sku).toBe(`SKU-${count}`);
    const written = vi.spyOn(db.catalog, "bulkPut");
    expect(await syncCatalog(db, "t")).toBe(count + 1);
    expect(written.mock.calls.flatMap(([rows]) => rows.map((c) => c.n))).toEqual([1]);
    const till = reopened();
    expect(skus(await searchCatalog(till, "red"))).toEqual([`SKU-${CHUNK + 7}`]);
    expect(await byBarcode(till, String(10_000_000 + CHUNK + 7))).toBeUndefined();
    expect((await byBarcode(till, String(10_000_000 + CHUNK + 8)))?.sku).toBe(`SKU-${CHUNK + 8}`);
    expect(await searchCatalog(till, "blue")).toHaveLength(30);
  });

  it("splits titles, SKUs, categories and barcodes into searchable words", () => {
    expect(wordsOf({ title: 'Crème Brûlée Mug, "Large"', sku: "MUG-1", category: "Kitchen", barcodes: ["96385074"] })).toEqual([
      "creme",
      "brulee",
      "mug",
      "large",
      "1",
      "kitchen",
      "96385074",
      "mug-1",
    ]);
  });
});

// The register's search before the catalog moved to memory: a multi-entry IndexedDB index over
// each variant's title and SKU words. Results must stay the same where their meaning is the same.
type OldVariant = Data & { words: string[] };

class OldTill extends Dexie {
  variants!: Table<OldVariant, string>;
  kv!: Table<{ key: string; value: unknown }, string>;

  constructor(name: string) {
    super(name);
    this.version(1).stores({ kv: "key", variants: "id, sku, *barcodes, *words, category" });
    this.version(2).stores({ outbox: "seq, held, [held+seq], heldAt" });
  }
}

function oldWordsOf(title: string, sku: string): string[] {
  const words = new Set<string>();
  for (const text of [title, sku]) {
    for (const word of text.toLowerCase().split(/[^\p{L}\p{N}]+/u)) {
      if (word) words.add(word);
    }
  }
  words.add(sku.toLowerCase());
  return [...words];
}

async function oldSearch(db: OldTill, query: string, limit = 30): Promise<OldVariant[]> {
  const text = query.trim().toLowerCase();
  if (!text) return [];
  if (/^\d{6,14}$/.test(text)) {
    const byCode = await db.variants.where("barcodes").equals(text).toArray();
    if (byCode.length) return byCode.filter((v) => v.active);
  }
  const words = text.split(/[^\p{L}\p{N}]+/u).filter(Boolean);
  const [first, ...rest] = words.sort((a, b) => b.length - a.length);
  if (!first) return [];
  const found: OldVariant[] = [];
  const seen = new Set<string>();
  await db.variants
    .where("words")
    .startsWith(first)
    .limit(rest.length ? 1500 : limit * 2)
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

function shopFloor(): Data[] {
  const products = ["Classic Tee", "Vintage Tee", "Teeth Guard", "Classic Mug", "Rain Jacket", "Garden Hose", "Wool Socks"];
  const sizes = ["S", "M", "L", "XL"];
  const colours = ["Red", "Blue", "Black", "Sand"];
  const docs: Data[] = [];
  let n = 0;
  for (const product of products) {
    for (const size of sizes) {
      for (const colour of colours) {
        n++;
        const initials = product.split(" ").map((w) => w.slice(0, 2)).join("");
        const sku = `${initials.toUpperCase()}-${size}-${colour.slice(0, 3).toUpperCase()}`;
        docs.push(doc(n, `${product} — ${size} / ${colour}`, sku, [String(40_000_000 + n * 7)], { active: n % 13 !== 0 }));
      }
    }
  }
  return docs;
}

describe("the search in memory against the old IndexedDB search", () => {
  it("gives the same results for the same queries", async () => {
    const docs = shopFloor();
    const old = new OldTill(`old-${Math.random()}`);
    await old.variants.bulkPut(docs.map((d) => ({ ...d, words: oldWordsOf(d.title, d.sku) })));
    serve(feed(docs.map((d, i) => change(d, i + 1)), 50));
    await syncCatalog(db, "t");
    const queries = [
      "tee", "cla", "classic", "c", "te", "teeth", "mug", "red cla", "tee red", "vint", "vintage tee s",
      "clte-m", "clte-m-red", "CLMU-XL-BLA", "vite-s-san", "cl", "rain blue", "hose", "x", "xl sand", "socks black m", "zebra",
      "s", "m b", "40000007", "40000091", "gar", "wool l",
    ];
    let answered = 0;
    for (const query of queries) {
      // The same, except that an exact SKU now comes first.
      const before = skus(await oldSearch(old, query));
      if (before.length) answered++;
      const exact = before.find((sku) => sku.toLowerCase() === query.toLowerCase());
      const expected = exact ? [exact, ...before.filter((sku) => sku !== exact)] : before;
      expect(skus(await searchCatalog(db, query)), query).toEqual(expected);
    }
    expect(answered).toBeGreaterThan(queries.length - 5);
    // Queries of several words that match more than the limit: the same number, all matching.
    for (const query of ["tee s", "cla r", "e l"]) {
      const after = await searchCatalog(db, query);
      expect(after, query).toHaveLength((await oldSearch(old, query)).length);
    }
  });

  it("moves a cache of the old kind into chunks when the app is updated, offline too", async () => {
    const docs = shopFloor();
    const oldName = `upgrade-${Math.random()}`;
    const old = new OldTill(oldName);
    await old.variants.bulkPut(docs.map((d) => ({ ...d, words: oldWordsOf(d.title, d.sku) })));
    await old.kv.put({ key: "catalog_version", value: 112 });
    old.close();
    const till = new TillDatabase(oldName);
    await till.open();
    expect(await till.get("catalog_version")).toBe(112);
    expect((await till.catalog.toArray()).flatMap((c) => c.docs)).toEqual(docs);
    expect(skus(await searchCatalog(till, "vint m red"))).toEqual(["VITE-M-RED"]);
    // The old records go in the background once the catalog is in memory.
    await vi.waitFor(async () => expect(await till.table("variants").count()).toBe(0));
    expect((await byBarcode(till, String(40_000_000 + 7 * 7)))?.sku).toBe(docs[6]!.sku);
    const asked = serve({ 112: { changes: [], next: 112, head: 112 } });
    expect(await syncCatalog(till, "t")).toBe(112);
    expect(asked).toEqual([112]);
  });
});
