// Prefix search over the catalog in memory. The catalog is held in chunks of a few thousand
// variants; each chunk carries a sorted list of its variants' words and, per word, which of its
// variants have it. A chunk is stored in IndexedDB as one record (one write for thousands of
// variants, where one record per variant cost ~0.1 ms of a slow tablet's CPU each) and is
// re-indexed whole when one of its variants changes.
import type { VariantDoc } from "./db";

/** A stored slice of the catalog: up to CHUNK variants and the index of their words. */
export type CatalogChunk = {
  /** Its place in the catalog, 0, 1, 2 … (the record's key). */
  n: number;
  docs: VariantDoc[];
  /** The distinct words of the chunk's active variants, in UTF-16 order (as `<` compares). */
  tokens: string[];
  /** Where each token's variants start in `postings`; one entry more than `tokens`. */
  starts: Uint32Array;
  /** Positions in `docs`, grouped by token. */
  postings: Uint16Array;
};

/** Variants per chunk: small enough that re-indexing and writing one stays a short task. */
export const CHUNK = 2500;

// How many index entries one search looks at, at most: a query of words that are each common
// but never together would otherwise walk tens of thousands of entries.
const SCAN_LIMIT = 50_000;

// Nothing to fold but the case: ASCII, and general punctuation such as the dash in titles.
const PLAIN = /^[\u0000-\u007f\u2000-\u206f]*$/;
const MARKS = /\p{M}+/gu;
const WORD_CHAR = /[\p{L}\p{N}]/u;
// Per UTF-16 code unit above ASCII: 0 not yet known, 1 part of a word, 2 a separator.
const kinds = new Uint8Array(65536);
const collator = new Intl.Collator();

/** Lower case without accents, so "Crème" is found by "creme" and by "crème". */
export function fold(text: string): string {
  const lower = text.toLowerCase();
  return PLAIN.test(lower) ? lower : lower.normalize("NFD").replace(MARKS, "");
}

/** The words a cashier may type the start of: words of the title, SKU, category and
 * barcodes, and the whole SKU and each whole barcode as typed. Folded, distinct. */
export function wordsOf(doc: Pick<VariantDoc, "title" | "sku" | "category" | "barcodes">): string[] {
  const words: string[] = [];
  split(fold(`${doc.title} ${doc.sku} ${doc.category ?? ""} ${doc.barcodes.join(" ")}`), words);
  addWord(words, fold(doc.sku));
  for (const code of doc.barcodes) addWord(words, fold(code));
  return words;
}

/** The words of a query: folded, split like the catalog's, distinct. */
export function queryWords(query: string): string[] {
  const words: string[] = [];
  split(fold(query), words);
  return words;
}

/** Add the words of `text` (runs of letters and digits) to `words`, once each. By hand: a
 * regular expression with Unicode classes took four times as long over 100,000 titles. */
function split(text: string, words: string[]): void {
  let start = -1;
  for (let i = 0; i <= text.length; i++) {
    if (i < text.length && isWordChar(text.charCodeAt(i))) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      addWord(words, text.slice(start, i));
      start = -1;
    }
  }
}

function addWord(words: string[], word: string): void {
  if (word && !words.includes(word)) words.push(word);
}

/** Whether a UTF-16 code unit is part of a word: a letter or a digit (or half of a character
 * beyond the first 65,536, kept whole). */
function isWordChar(unit: number): boolean {
  if (unit < 128) return (unit >= 97 && unit <= 122) || (unit >= 48 && unit <= 57) || (unit >= 65 && unit <= 90);
  let kind = kinds[unit]!;
  if (!kind) {
    const surrogate = unit >= 0xd800 && unit <= 0xdfff;
    kind = surrogate || WORD_CHAR.test(String.fromCharCode(unit)) ? 1 : 2;
    kinds[unit] = kind;
  }
  return kind === 1;
}

/** A chunk's index over these variants (inactive ones are kept but not indexed). */
export function indexChunk(n: number, docs: VariantDoc[]): CatalogChunk {
  const byToken = new Map<string, number[]>();
  for (let i = 0; i < docs.length; i++) {
    const doc = docs[i]!;
    if (!doc.active) continue;
    for (const word of wordsOf(doc)) {
      const at = byToken.get(word);
      if (at) at.push(i);
      else byToken.set(word, [i]);
    }
  }
  const tokens = [...byToken.keys()].sort();
  const starts = new Uint32Array(tokens.length + 1);
  let total = 0;
  for (let t = 0; t < tokens.length; t++) {
    starts[t] = total;
    total += byToken.get(tokens[t]!)!.length;
  }
  starts[tokens.length] = total;
  const postings = new Uint16Array(total);
  let p = 0;
  for (const token of tokens) for (const i of byToken.get(token)!) postings[p++] = i;
  return { n, docs, tokens, starts, postings };
}

/** The first position in sorted `tokens` whose token is not below `key`. */
function lowerBound(tokens: readonly string[], key: string): number {
  let lo = 0;
  let hi = tokens.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (tokens[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The active variant that has this exact word and passes `accept`, searching every chunk. */
function exact(chunks: readonly CatalogChunk[], word: string, accept: (doc: VariantDoc) => boolean): VariantDoc | undefined {
  for (const chunk of chunks) {
    const t = lowerBound(chunk.tokens, word);
    if (chunk.tokens[t] !== word) continue;
    for (let p = chunk.starts[t]!; p < chunk.starts[t + 1]!; p++) {
      const doc = chunk.docs[chunk.postings[p]!]!;
      if (accept(doc)) return doc;
    }
  }
  return undefined;
}

/** The active variant with this barcode, exactly as scanned. */
export function findBarcode(chunks: readonly CatalogChunk[], code: string): VariantDoc | undefined {
  if (!code) return undefined;
  return exact(chunks, fold(code), (doc) => doc.barcodes.includes(code));
}

/** The active variant whose SKU (any case) or barcode is exactly the text. */
export function findExact(chunks: readonly CatalogChunk[], text: string): VariantDoc | undefined {
  const key = fold(text);
  if (!key) return undefined;
  return exact(chunks, key, (doc) => fold(doc.sku) === key || doc.barcodes.includes(text));
}

/** Where a word's prefix range lies in one chunk: token positions [from, to). */
type Range = { chunk: CatalogChunk; from: number; to: number };

/** A typed word: its prefix range in each chunk that has one, and how many entries in all. */
type Typed = { ranges: Range[]; entries: number; inChunk: Map<CatalogChunk, Range>; marks: Map<CatalogChunk, Uint8Array> };

function typed(chunks: readonly CatalogChunk[], word: string): Typed {
  const found: Typed = { ranges: [], entries: 0, inChunk: new Map(), marks: new Map() };
  // Every token starting with `word` sorts between `word` and `word` followed by the highest
  // code unit.
  const end = `${word}\uffff`;
  for (const chunk of chunks) {
    const from = lowerBound(chunk.tokens, word);
    const to = lowerBound(chunk.tokens, end);
    if (from < to) {
      const range = { chunk, from, to };
      found.ranges.push(range);
      found.inChunk.set(chunk, range);
      found.entries += chunk.starts[to]! - chunk.starts[from]!;
    }
  }
  return found;
}

/** Whether the variant at `i` in `chunk` has a word starting with this typed word. The
 * chunk's variants that do are marked the first time the chunk is asked about. */
function has(word: Typed, chunk: CatalogChunk, i: number): boolean {
  let marks = word.marks.get(chunk);
  if (!marks) {
    marks = new Uint8Array(chunk.docs.length);
    const range = word.inChunk.get(chunk);
    if (range) {
      const end = chunk.starts[range.to]!;
      for (let p = chunk.starts[range.from]!; p < end; p++) marks[chunk.postings[p]!] = 1;
    }
    word.marks.set(chunk, marks);
  }
  return marks[i] === 1;
}

/**
 * Active variants matching every word of the query as the start of one of their words, and
 * the exact SKU or barcode first. Of many matches, those whose words sort first are taken
 * (so a whole word typed comes before longer words it starts), then ordered by title.
 */
export function searchChunks(chunks: readonly CatalogChunk[], query: string, limit: number): VariantDoc[] {
  const text = query.trim();
  if (!text || limit <= 0) return [];
  const first = findExact(chunks, text);
  const seen = new Set<VariantDoc>();
  if (first) seen.add(first);
  const words: Typed[] = [];
  for (const word of queryWords(text)) {
    const t = typed(chunks, word);
    words.push(t);
    if (!t.entries) break; // nothing has this word: nothing matches them all
  }
  const found: VariantDoc[] = [];
  if (words.length) {
    // Walk the word with the fewest index entries, and check the others on each candidate.
    const best = words.reduce((a, b) => (b.entries < a.entries ? b : a));
    const others = words.filter((w) => w !== best);
    const wanted = limit - seen.size;
    const cursors = best.ranges.map((r) => ({ ...r }));
    let scanned = 0;
    // Merge the chunks' ranges in token order: the smallest next token among the chunks.
    while (found.length < wanted && scanned < SCAN_LIMIT) {
      let next: Range | null = null;
      for (const c of cursors) {
        if (c.from < c.to && (!next || c.chunk.tokens[c.from]! < next.chunk.tokens[next.from]!)) next = c;
      }
      if (!next) break;
      const { chunk } = next;
      const end = chunk.starts[next.from + 1]!;
      for (let p = chunk.starts[next.from]!; p < end && found.length < wanted; p++) {
        scanned++;
        const i = chunk.postings[p]!;
        const doc = chunk.docs[i]!;
        if (seen.has(doc)) continue;
        if (others.every((w) => has(w, chunk, i))) {
          seen.add(doc);
          found.push(doc);
        }
      }
      next.from++;
    }
  }
  found.sort((a, b) => collator.compare(a.title, b.title));
  return first ? [first, ...found] : found;
}
