import "fake-indexeddb/auto";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { byBarcode, searchCatalog, syncCatalog, wordsOf } from "./catalog";
import { TillDatabase } from "./db";

function variant(n: number, title: string, sku: string, barcodes: string[], active = true) {
  return {
    kind: "variant",
    id: `v${n}`,
    version: n,
    data: { id: `v${n}`, sku, product: title, title, options: {}, barcodes, category: null, price: 100 * n, currency: "EUR", tax_class: "standard", active },
  };
}

function serve(pages: Record<number, { changes: unknown[]; next: number; head: number }>) {
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

let db: TillDatabase;

beforeEach(async () => {
  vi.unstubAllGlobals();
  db = new TillDatabase(`catalog-test-${Math.random()}`);
  await db.open();
});

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
    await db.variants.put({ ...variant(9, "Gone", "OLD", []).data, words: ["gone"] });
    serve({
      50: { changes: [], next: 3, head: 3 },
      0: { changes: [variant(1, "Tee", "T-1", [])], next: 3, head: 3 },
    });
    expect(await syncCatalog(db, "t")).toBe(3);
    expect((await db.variants.toArray()).map((v) => v.sku)).toEqual(["T-1"]);
  });

  it("finds by word prefixes in any order, by SKU, and never an inactive variant", async () => {
    serve({
      0: {
        changes: [
          variant(1, "Classic Tee — M / Red", "TEE-M-RED", []),
          variant(2, "Classic Tee — L / Red", "TEE-L-RED", []),
          variant(3, "Classic Tee — M / Blue", "TEE-M-BLU", [], false),
          variant(4, "Crème Brûlée Mug", "MUG-1", ["96385074"]),
        ],
        next: 4,
        head: 4,
      },
    });
    await syncCatalog(db, "t");
    expect((await searchCatalog(db, "red cla")).map((v) => v.sku)).toEqual(["TEE-L-RED", "TEE-M-RED"]);
    expect((await searchCatalog(db, "tee-m")).map((v) => v.sku)).toEqual(["TEE-M-RED"]);
    expect((await searchCatalog(db, "crème")).map((v) => v.sku)).toEqual(["MUG-1"]);
    expect(await searchCatalog(db, "blue")).toEqual([]);
    expect(await byBarcode(db, "0000")).toBeUndefined();
  });

  it("splits titles and SKUs into searchable words", () => {
    expect(wordsOf("Crème Brûlée Mug, \"Large\"", "MUG-1")).toEqual(["crème", "brûlée", "mug", "large", "1", "mug-1"]);
  });
});
