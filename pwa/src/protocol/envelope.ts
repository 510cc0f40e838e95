/** The event envelope: validation, the content hash and the hash chain, as protocol/envelope.py. */

import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";

import { canonicalJson, isWellFormedText, type JsonObject, type JsonValue } from "./canonical";
import { formatHlc, type Hlc, parseHlc } from "./hlc";
import { UUID7_RE } from "./ids";

export const ENVELOPE_VERSION = 1;

export const EVENT_TYPES = [
  "sale.completed",
  "sale.voided",
  "return.completed",
  "shift.opened",
  "cash.moved",
  "shift.closed",
  "stock.received",
  "stock.adjusted",
  "stock.counted",
  "transfer.requested",
  "transfer.approved",
  "transfer.shipped",
  "transfer.received",
  "override.granted",
  "receipt.requested",
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const STORE_RE = /^[a-z][a-z0-9]{1,15}$/;
export const ORIGIN_RE = /^[a-z][a-z0-9]{1,15}-(ap|ap[2-9]|ap[1-9][0-9]|r[0-9]{2,4})$/;
export const ACTOR_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const ID_RE = UUID7_RE;
export const AT_RE = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$/;
export const HASH_RE = /^[0-9a-f]{64}$/;
export const MAX_SEQ = Number.MAX_SAFE_INTEGER;
// Bodies are shallow records (a sale, its lines, their taxes); deeper input is an attack or a bug.
export const MAX_BODY_DEPTH = 32;

const FIELDS = [
  "v",
  "id",
  "type",
  "store",
  "origin",
  "seq",
  "hlc",
  "at",
  "actor",
  "override",
  "body",
  "prev",
  "hash",
] as const;
const OVERRIDE_FIELDS = ["id", "action", "approver", "offline"] as const;
const ZERO_HASH = "0".repeat(64);

/** A supervisor's on-the-spot approval that an event carries. */
export interface Override {
  readonly id: string;
  readonly action: string;
  readonly approver: string;
  readonly offline: boolean;
}

/** One immutable event as its origin wrote it; build it with seal or decodeEnvelope. */
export interface Envelope {
  readonly v: typeof ENVELOPE_VERSION;
  readonly id: string;
  readonly type: EventType;
  readonly store: string;
  readonly origin: string;
  readonly seq: number;
  readonly hlc: string;
  readonly at: string;
  readonly actor: string | null;
  readonly override: Override | null;
  readonly body: JsonObject;
  readonly prev: string | null;
  readonly hash: string;
}

/** An envelope broke a rule; field is a dotted path such as "hlc" or "override.action". */
export class EnvelopeError extends Error {
  readonly field: string;
  readonly reason: string;

  constructor(field: string, reason: string) {
    super(field ? `${field}: ${reason}` : reason);
    this.name = "EnvelopeError";
    this.field = field;
    this.reason = reason;
  }
}

// Proleptic Gregorian calendar in integer days since 1970-01-01 (H. Hinnant's algorithms).
const MS_PER_DAY = 86_400_000;
const MIN_AT_MS = -62_135_596_800_000; // 0001-01-01T00:00:00.000Z
const MAX_AT_MS = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z

function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

function civilFromDays(days: number): [number, number, number] {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (month <= 2 ? 1 : 0), month, day];
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, "0");
}

/** Render UTC milliseconds since the epoch as "2026-11-25T10:05:03.120Z". */
export function formatAt(ms: number): string {
  if (!Number.isSafeInteger(ms)) {
    throw new Error(`at must come from an integer of milliseconds, got ${ms}`);
  }
  if (ms < MIN_AT_MS || ms > MAX_AT_MS) {
    throw new Error(`${ms} ms since the epoch is outside years 1-9999`);
  }
  const days = Math.floor(ms / MS_PER_DAY);
  const inDay = ms - days * MS_PER_DAY;
  const [year, month, day] = civilFromDays(days);
  const hour = Math.floor(inDay / 3_600_000);
  const minute = Math.floor(inDay / 60_000) % 60;
  const second = Math.floor(inDay / 1000) % 60;
  return (
    `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T` +
    `${pad(hour, 2)}:${pad(minute, 2)}:${pad(second, 2)}.${pad(inDay % 1000, 3)}Z`
  );
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Parse "2026-11-25T10:05:03.120Z" into UTC milliseconds since the epoch. */
export function parseAt(text: string): number {
  if (typeof text !== "string" || !AT_RE.test(text)) {
    throw new Error(`at must look like 2026-11-25T10:05:03.120Z, got ${JSON.stringify(text)}`);
  }
  const part = (start: number, end: number): number => Number(text.slice(start, end));
  const [year, month, day] = [part(0, 4), part(5, 7), part(8, 10)];
  const [hour, minute, second, millis] = [part(11, 13), part(14, 16), part(17, 19), part(20, 23)];
  const real =
    year >= 1 &&
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth(year, month) &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 59;
  if (!real) throw new Error(`at is not a real UTC date and time: ${JSON.stringify(text)}`);
  const inDay = ((hour * 60 + minute) * 60 + second) * 1000 + millis;
  return daysFromCivil(year, month, day) * MS_PER_DAY + inDay;
}

function kind(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "boolean") return "a boolean";
  if (typeof value === "number") return "a number";
  if (typeof value === "string") return "a string";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return typeof value;
}

/** A JSON object: a plain object, not an array, a Date, a Map or a class instance. */
function isRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function text(value: unknown, field: string): string {
  if (typeof value !== "string") {
    throw new EnvelopeError(field, `must be a string, not ${kind(value)}`);
  }
  return value;
}

function matching(value: unknown, field: string, pattern: RegExp, example: string): string {
  const raw = text(value, field);
  if (!pattern.test(raw)) {
    throw new EnvelopeError(field, `must look like ${example}, got ${JSON.stringify(raw)}`);
  }
  return raw;
}

function integer(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new EnvelopeError(field, `must be an integer, not ${kind(value)}`);
  }
  return value;
}

function utf8(raw: string, field: string): string {
  if (!isWellFormedText(raw)) {
    throw new EnvelopeError(field, "contains a lone surrogate, which is not valid Unicode");
  }
  return raw;
}

/** Copy a JSON value into plain objects and arrays, rejecting what canonical JSON cannot hash. */
function jsonValue(value: unknown, field: string, depth: number): JsonValue {
  if (value === null || typeof value === "boolean") return value;
  if (typeof value === "string") return utf8(value, field);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new EnvelopeError(field, "must be a finite number");
    // Python also takes floats here; the register never writes them, so the port refuses them.
    if (!Number.isInteger(value)) throw new EnvelopeError(field, "must be an integer");
    if (Math.abs(value) > Number.MAX_SAFE_INTEGER) {
      const reason = `integer beyond ±${Number.MAX_SAFE_INTEGER} is not exact in JSON`;
      throw new EnvelopeError(field, reason);
    }
    return value;
  }
  if (depth >= MAX_BODY_DEPTH && (Array.isArray(value) || isRecord(value))) {
    throw new EnvelopeError(field, `nested deeper than ${MAX_BODY_DEPTH} levels`);
  }
  if (Array.isArray(value)) {
    return value.map((item: unknown, i) => jsonValue(item, `${field}.${i}`, depth + 1));
  }
  if (isRecord(value)) {
    const copied: JsonObject = {};
    for (const [key, item] of Object.entries(value)) {
      const name = utf8(key, `${field}.${key}`);
      // defineProperty, so a "__proto__" key from JSON.parse stays a key and is hashed as one.
      Object.defineProperty(copied, name, {
        value: jsonValue(item, `${field}.${name}`, depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return copied;
  }
  throw new EnvelopeError(field, `${typeof value} is not a JSON value`);
}

function checkFields(
  obj: Record<string, unknown>,
  expected: readonly string[],
  prefix: string,
): void {
  const unknown = Object.keys(obj)
    .filter((key) => !expected.includes(key))
    .sort();
  if (unknown[0] !== undefined) throw new EnvelopeError(prefix + unknown[0], "unknown field");
  for (const name of expected) {
    if (!Object.hasOwn(obj, name)) throw new EnvelopeError(prefix + name, "missing");
  }
}

function override(value: unknown): Override | null {
  if (value === null) return null;
  if (!isRecord(value)) {
    throw new EnvelopeError("override", `must be null or an object, not ${kind(value)}`);
  }
  checkFields(value, OVERRIDE_FIELDS, "override.");
  const id = matching(value["id"], "override.id", ID_RE, "a lowercase UUIDv7");
  const action = utf8(text(value["action"], "override.action"), "override.action");
  const approver = matching(value["approver"], "override.approver", ACTOR_RE, "staff-7");
  const offline = value["offline"];
  if (typeof offline !== "boolean") {
    throw new EnvelopeError("override.offline", `must be true or false, not ${kind(offline)}`);
  }
  return { id, action, approver, offline };
}

function isEventType(value: string): value is EventType {
  return (EVENT_TYPES as readonly string[]).includes(value);
}

/** Validate a decoded JSON object as an envelope; throw EnvelopeError otherwise. */
export function decodeEnvelope(raw: unknown): Envelope {
  if (!isRecord(raw)) {
    throw new EnvelopeError("", `an envelope must be a JSON object, not ${kind(raw)}`);
  }
  checkFields(raw, FIELDS, "");
  const v = integer(raw["v"], "v");
  if (v !== ENVELOPE_VERSION) {
    throw new EnvelopeError("v", `unsupported envelope version ${v}, expected ${ENVELOPE_VERSION}`);
  }
  const id = matching(raw["id"], "id", ID_RE, "a lowercase UUIDv7");
  const type = text(raw["type"], "type");
  if (!isEventType(type)) {
    throw new EnvelopeError("type", `unknown event type ${JSON.stringify(type)}`);
  }
  const store = matching(raw["store"], "store", STORE_RE, "s01");
  const origin = matching(raw["origin"], "origin", ORIGIN_RE, "s01-r02 or s01-ap");
  if (!origin.startsWith(`${store}-`)) {
    const reason = `origin ${JSON.stringify(origin)} is not of store ${JSON.stringify(store)}`;
    throw new EnvelopeError("origin", reason);
  }
  const seq = integer(raw["seq"], "seq");
  if (seq < 1 || seq > MAX_SEQ) {
    throw new EnvelopeError("seq", `must be between 1 and ${MAX_SEQ}, got ${seq}`);
  }
  const hlcText = text(raw["hlc"], "hlc");
  let hlc: Hlc;
  try {
    hlc = parseHlc(hlcText);
  } catch (error) {
    throw new EnvelopeError("hlc", error instanceof Error ? error.message : String(error));
  }
  if (hlc.node !== origin) {
    const reason = `node ${JSON.stringify(hlc.node)} is not the origin ${JSON.stringify(origin)}`;
    throw new EnvelopeError("hlc", reason);
  }
  const at = text(raw["at"], "at");
  try {
    parseAt(at);
  } catch (error) {
    throw new EnvelopeError("at", error instanceof Error ? error.message : String(error));
  }
  const actorValue = raw["actor"];
  const actor = actorValue === null ? null : matching(actorValue, "actor", ACTOR_RE, "staff-7");
  const checkedOverride = override(raw["override"]);
  const bodyValue = raw["body"];
  if (!isRecord(bodyValue)) {
    throw new EnvelopeError("body", `must be an object, not ${kind(bodyValue)}`);
  }
  const body = jsonValue(bodyValue, "body", 0) as JsonObject;
  const prevValue = raw["prev"];
  let prev: string | null;
  if (seq === 1) {
    if (prevValue !== null) throw new EnvelopeError("prev", "must be null for seq 1");
    prev = null;
  } else {
    if (prevValue === null) {
      throw new EnvelopeError("prev", `must be the previous event's hash for seq ${seq}`);
    }
    prev = matching(prevValue, "prev", HASH_RE, "64 lowercase hex digits");
  }
  const hash = matching(raw["hash"], "hash", HASH_RE, "64 lowercase hex digits");
  return {
    v: ENVELOPE_VERSION,
    id,
    type,
    store,
    origin,
    seq,
    hlc: hlcText,
    at,
    actor,
    override: checkedOverride,
    body,
    prev,
    hash,
  };
}

/** Return the sha256 hex of the RFC 8785 form of an envelope's fields, without "hash". */
export function contentHash(fields: object): string {
  const unsealed: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (key !== "hash") unsealed[key] = value;
  }
  return bytesToHex(sha256(utf8ToBytes(canonicalJson(unsealed as JsonObject))));
}

/** The fields of a new event, as seal takes them; seal checks them all at run time. */
export interface EnvelopeFields {
  id: string;
  type: EventType | (string & {});
  store: string;
  origin: string;
  seq: number;
  hlc: Hlc | string;
  at: string;
  actor: string | null;
  override: Override | null;
  body: { readonly [key: string]: unknown };
  prev: string | null;
}

/** Validate a new event's fields and return its envelope with v=1 and the hash computed. */
export function seal(fields: EnvelopeFields): Envelope {
  const unsealed = decodeEnvelope({
    v: ENVELOPE_VERSION,
    id: fields.id,
    type: fields.type,
    store: fields.store,
    origin: fields.origin,
    seq: fields.seq,
    hlc: typeof fields.hlc === "string" ? fields.hlc : formatHlc(fields.hlc),
    at: fields.at,
    actor: fields.actor,
    override: fields.override,
    body: fields.body,
    prev: fields.prev,
    hash: ZERO_HASH,
  });
  return { ...unsealed, hash: contentHash(unsealed) };
}

/**
 * Tell whether env.hash is the content hash of the rest of the envelope. Only the envelope's
 * own fields count, as in Python, so a stored record may carry e.g. store_seq beside them.
 */
export function verifyHash(env: Envelope): boolean {
  const fields: Record<string, unknown> = {};
  for (const name of FIELDS) fields[name] = env[name];
  try {
    return contentHash(fields) === env.hash;
  } catch {
    return false;
  }
}

/** Tell whether env follows the event whose hash is prevHash (null: it is the first). */
export function verifyLink(prevHash: string | null, env: Envelope): boolean {
  if (env.seq === 1) return env.prev === null && prevHash === null;
  return prevHash !== null && env.prev === prevHash;
}
