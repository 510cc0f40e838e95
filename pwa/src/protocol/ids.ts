/** Event and record identifiers: UUIDv7 in lowercase canonical form, as protocol/ids.py. */

export const UUID7_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const MAX_COUNTER = 0xfff;

let lastMs = -1;
let counter = 0;

function hex(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) out += byte.toString(16).padStart(2, "0");
  return out;
}

/**
 * Return a fresh UUIDv7. Within one millisecond (or if the wall clock steps back) the 12-bit
 * rand_a field counts up from a random start, as RFC 9562 method 1 allows, so ids made by one
 * page stay strictly increasing; an exhausted counter borrows the next millisecond.
 */
export function newId(now: number = Date.now()): string {
  if (!Number.isSafeInteger(now) || now < 0 || now >= 2 ** 48) {
    throw new Error(`a UUIDv7 needs a 48-bit millisecond timestamp, got ${now}`);
  }
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  if (now > lastMs) {
    lastMs = now;
    // Start in the lower half so a burst has room to count before borrowing a millisecond.
    counter = ((bytes[6] ?? 0) & 0x07) * 0x100 + (bytes[7] ?? 0);
  } else if (counter < MAX_COUNTER) {
    counter += 1;
  } else {
    lastMs += 1;
    counter = 0;
  }
  let ms = lastMs;
  for (let i = 5; i >= 0; i -= 1) {
    bytes[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  bytes[6] = 0x70 | (counter >> 8);
  bytes[7] = counter & 0xff;
  bytes[8] = 0x80 | ((bytes[8] ?? 0) & 0x3f);
  const h = hex(bytes);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Tell whether text is a UUIDv7 in lowercase canonical form (the only form we store). */
export function isUuid7(text: unknown): boolean {
  return typeof text === "string" && UUID7_RE.test(text);
}
