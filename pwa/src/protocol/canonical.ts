/** RFC 8785 (JCS) canonical JSON for the values an envelope carries, as protocol/canonical.py. */

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Tell whether text is valid Unicode (no lone surrogate), so it has a UTF-8 form. */
export function isWellFormedText(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

/** JSON.stringify of a well-formed string is exactly JCS's string form (ECMAScript escaping). */
function quote(text: string): string {
  if (!isWellFormedText(text)) {
    throw new Error("canonical JSON: a string contains a lone surrogate (non-UTF-8 text)");
  }
  return JSON.stringify(text);
}

/** Keys by UTF-16 code units, which is how JavaScript compares strings. */
function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function write(value: unknown, out: string[]): void {
  if (value === null) {
    out.push("null");
  } else if (typeof value === "boolean") {
    out.push(value ? "true" : "false");
  } else if (typeof value === "number") {
    // JCS numbers beyond safe integers would need its float format; events never carry them.
    if (!Number.isSafeInteger(value)) {
      throw new Error(`canonical JSON: ${value} is not an integer within ±(2^53 - 1)`);
    }
    out.push(value === 0 ? "0" : String(value));
  } else if (typeof value === "string") {
    out.push(quote(value));
  } else if (Array.isArray(value)) {
    out.push("[");
    value.forEach((item: unknown, i) => {
      if (i > 0) out.push(",");
      write(item, out);
    });
    out.push("]");
  } else if (isPlainObject(value)) {
    const keys = Object.keys(value).sort(byCodeUnits);
    out.push("{");
    keys.forEach((key, i) => {
      if (i > 0) out.push(",");
      out.push(quote(key), ":");
      write(value[key], out);
    });
    out.push("}");
  } else {
    throw new Error(`canonical JSON: unsupported value of type ${typeof value}`);
  }
}

/** Serialize a JSON value as its RFC 8785 canonical text; throw on what JCS cannot carry here. */
export function canonicalJson(value: JsonValue): string {
  const out: string[] = [];
  write(value, out);
  return out.join("");
}
