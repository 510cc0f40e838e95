// The catalog cache: filled once, then kept fresh by deltas from /catalog/changes. It is stored
// in IndexedDB in chunks with their word index (search.ts), read back into memory when first
// needed (the Sell screen opening), and searched and scanned there.
import { call } from "./api";
import { variantDoc, type TillDatabase, type VariantDoc } from "./db";
import { CHUNK, findBarcode, indexChunk, searchChunks, type CatalogChunk } from "./search";

type Change = { kind: string; id: string; version: number; data: Record<string, unknown> };
type ChangesPage = { changes: Change[]; next: number; head: number };

// The appliance's largest page. The next page is fetched while this one is indexed and written.
const PAGE = 5000;

/** Let the page handle input between two long pieces of work. */
const pause = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** One database's catalog, in memory. */
class Catalog {
  chunks: CatalogChunk[] = [];
  /** The catalog version the chunks in memory hold. */
  private held = 0;
  private loading: Promise<void> | null = null;
  /** Where each variant is, as chunk × 65536 + position; built when a change first needs it. */
  private places: Map<string, number> | null = null;
  /** Categories with their active variants by title, worked out when first asked for. */
  private shelves: Map<string, VariantDoc[]> | null = null;
  private syncing: Promise<unknown> = Promise.resolve();

  constructor(private readonly db: TillDatabase) {}

  /** The stored chunks read into memory, once; the first caller starts it. */
  get loaded(): Promise<void> {
    this.loading ??= this.load().catch((error: unknown) => {
      this.loading = null; // the next search or sync tries again
      throw error;
    });
    return this.loading;
  }

  private async load(): Promise<void> {
    for (;;) {
      const version = await this.storedVersion();
      const chunks: CatalogChunk[] = [];
      // One chunk per read: each is a short task, so a start-up stays responsive meanwhile.
      for (const n of await this.db.catalog.toCollection().primaryKeys()) {
        const chunk = await this.db.catalog.get(n);
        if (chunk) chunks[chunk.n] = chunk;
      }
      // Another tab of the app may have synced meanwhile: then read again.
      if ((await this.storedVersion()) !== version) continue;
      this.chunks = chunks;
      this.places = null;
      this.shelves = null;
      this.held = version;
      break;
    }
    performance.mark("tillbox:catalog-loaded");
    void this.emptyLegacy().catch(() => undefined); // tried again at the next start
  }

  /** Delete the cache of one record per variant (moved into chunks by db.ts version 3) a few
   * hundred at a time, so no transaction holds the database for long. */
  private async emptyLegacy(): Promise<void> {
    if (!this.db.tables.some((t) => t.name === "variants")) return;
    const legacy = this.db.table<unknown, string>("variants");
    for (;;) {
      const keys = await legacy.limit(500).primaryKeys();
      if (!keys.length) return;
      await legacy.bulkDelete(keys);
      await pause();
    }
  }

  byId(id: string): VariantDoc | undefined {
    const at = this.placesOf().get(id);
    return at === undefined ? undefined : this.chunks[Math.floor(at / 65536)]?.docs[at % 65536];
  }

  /** Active variants by category name, each list by title (one pass over the catalog). */
  shelvesOf(): Map<string, VariantDoc[]> {
    if (!this.shelves) {
      const shelves = new Map<string, VariantDoc[]>();
      for (const chunk of this.chunks) {
        for (const doc of chunk?.docs ?? []) {
          if (!doc.active || !doc.category) continue;
          let shelf = shelves.get(doc.category);
          if (!shelf) shelves.set(doc.category, (shelf = []));
          shelf.push(doc);
        }
      }
      for (const shelf of shelves.values()) shelf.sort((a, b) => a.title.localeCompare(b.title));
      this.shelves = new Map([...shelves].sort(([a], [b]) => a.localeCompare(b)));
    }
    return this.shelves;
  }

  private placesOf(): Map<string, number> {
    if (!this.places) {
      const places = new Map<string, number>();
      for (const chunk of this.chunks) chunk.docs.forEach((doc, i) => places.set(doc.id, chunk.n * 65536 + i));
      this.places = places;
    }
    return this.places;
  }

  /** Pull changes until the appliance's head, one at a time per database. */
  sync(token: string): Promise<number> {
    const run = this.syncing.then(
      () => this.pull(token),
      () => this.pull(token),
    );
    this.syncing = run.catch(() => undefined);
    return run;
  }

  private storedVersion(): Promise<number> {
    return this.db.get<number>("catalog_version").then((version) => version ?? 0);
  }

  private async pull(token: string): Promise<number> {
    // The stored catalog is read only when there are changes to apply: a start-up with none
    // leaves it to the first search, not to the log-in screen.
    let since = await this.storedVersion();
    if (this.loading) {
      await this.loaded;
      // Another tab of the app synced since this one read the catalog: writing chunks from
      // memory now would undo its changes, so read them first.
      if (this.held !== since) {
        this.loading = null;
        await this.loaded;
      }
    }
    const fetchPage = (from: number) => {
      const page = call<ChangesPage>("GET", `/catalog/changes?since=${from}&limit=${PAGE}`, { token });
      page.catch(() => undefined); // awaited below, or dropped when an earlier page fails
      return page;
    };
    let pending = fetchPage(since);
    for (;;) {
      const page = await pending;
      if (page.next < since) {
        // The appliance was restored from another database: start again from nothing.
        await this.loaded;
        await this.db.transaction("rw", this.db.catalog, this.db.kv, async () => {
          await this.db.catalog.clear();
          await this.db.put("catalog_version", 0);
        });
        this.chunks = [];
        this.places = new Map();
        this.held = 0;
        since = 0;
        pending = fetchPage(since);
        continue;
      }
      const more = page.next < page.head;
      if (more) pending = fetchPage(page.next);
      const variants = page.changes.filter((c) => c.kind === "variant").map((c) => variantDoc(c.data as VariantDoc));
      if (variants.length) await this.loaded;
      const changed = variants.length ? await this.apply(variants) : [];
      await this.db.transaction("rw", this.db.catalog, this.db.kv, async () => {
        if (changed.length) await this.db.catalog.bulkPut(changed, changed.map((c) => c.n));
        await this.db.put("catalog_version", page.next);
      });
      this.held = page.next;
      since = page.next;
      if (!more) return since;
    }
  }

  /** Put changed and new variants in their chunks, re-index those, and swap them in at once
   * (a search meanwhile sees the catalog as it was). The chunks to store. */
  private async apply(variants: VariantDoc[]): Promise<CatalogChunk[]> {
    const places = this.placesOf();
    const changed = new Map<number, VariantDoc[]>();
    const docsOf = (n: number) => {
      let docs = changed.get(n);
      if (!docs) {
        docs = [...(this.chunks[n]?.docs ?? [])];
        changed.set(n, docs);
      }
      return docs;
    };
    let tail = this.chunks.length - 1;
    let tailDocs: VariantDoc[] | null = null;
    for (const variant of variants) {
      const at = places.get(variant.id);
      if (at !== undefined) {
        docsOf(Math.floor(at / 65536))[at % 65536] = variant;
        continue;
      }
      if (tail < 0) tail = 0;
      tailDocs ??= docsOf(tail);
      if (tailDocs.length >= CHUNK) tailDocs = docsOf(++tail);
      // Set before the swap below: until then only byId reads it, and finds nothing there yet.
      places.set(variant.id, tail * 65536 + tailDocs.length);
      tailDocs.push(variant);
    }
    const indexed: CatalogChunk[] = [];
    for (const [n, docs] of changed) {
      if (docs.length) indexed.push(indexChunk(n, docs));
      await pause();
    }
    for (const chunk of indexed) this.chunks[chunk.n] = chunk;
    if (indexed.length) this.shelves = null;
    return indexed;
  }
}

const catalogs = new WeakMap<TillDatabase, Catalog>();

function catalogOf(db: TillDatabase): Catalog {
  let catalog = catalogs.get(db);
  if (!catalog) {
    catalog = new Catalog(db);
    catalogs.set(db, catalog);
  }
  return catalog;
}

/** Read the stored catalog into memory (search and scans wait for it); marks
 * `tillbox:catalog-loaded` when done. A search, a scan or a sync with changes starts it too. */
export function loadCatalog(db: TillDatabase): Promise<void> {
  return catalogOf(db).loaded;
}

/** Bring the cache up to the appliance's head; returns the version now held. */
export async function syncCatalog(db: TillDatabase, token: string): Promise<number> {
  return catalogOf(db).sync(token);
}

/** Active variants matching every typed word (prefixes of words of the title, SKU, category or
 * barcodes; any case, accents or not), the exact SKU or barcode first. */
export async function searchCatalog(db: TillDatabase, query: string, limit = 30): Promise<VariantDoc[]> {
  const catalog = catalogOf(db);
  // An empty search (the Sell screen opening) starts reading the catalog for the next one.
  const loaded = catalog.loaded;
  if (!query.trim()) return [];
  await loaded;
  return searchChunks(catalog.chunks, query, limit);
}

/** The categories that have active variants, by name, with how many each has (the Sell
 * screen's grid when nothing is typed). */
export async function categoriesOf(db: TillDatabase): Promise<{ name: string; count: number }[]> {
  const catalog = catalogOf(db);
  await catalog.loaded;
  return [...catalog.shelvesOf()].map(([name, docs]) => ({ name, count: docs.length }));
}

/** The active variants of one category, by title, at most `limit` from `offset`. */
export async function inCategory(db: TillDatabase, name: string, offset = 0, limit = 48): Promise<VariantDoc[]> {
  const catalog = catalogOf(db);
  await catalog.loaded;
  return (catalog.shelvesOf().get(name) ?? []).slice(offset, offset + limit);
}

/** The active variant with this barcode, as scanned. */
export async function byBarcode(db: TillDatabase, code: string): Promise<VariantDoc | undefined> {
  const catalog = catalogOf(db);
  await catalog.loaded;
  return findBarcode(catalog.chunks, code.trim());
}

/** The variant with this id as last synced, active or not (e.g. for a line of an old sale). */
export async function variantById(db: TillDatabase, id: string): Promise<VariantDoc | undefined> {
  const catalog = catalogOf(db);
  await catalog.loaded;
  return catalog.byId(id);
}
