/** Hybrid logical clock stamps "{wall_ms}.{counter}.{node}", as protocol/hlc.py. */

export const NODE_RE = /^[a-z0-9-]{1,40}$/;
// wall_ms and counter have no sign or leading zeros, so formatHlc(parseHlc(s)) === s.
export const HLC_RE = /^(0|[1-9][0-9]{0,15})\.(0|[1-9][0-9]{0,4})\.([a-z0-9-]{1,40})$/;
export const MAX_WALL_MS = Number.MAX_SAFE_INTEGER;
export const MAX_COUNTER = 2 ** 16 - 1;
export const DEFAULT_MAX_AHEAD_MS = 300_000;

function inRange(value: number, max: number): boolean {
  return Number.isSafeInteger(value) && value >= 0 && value <= max;
}

/** One stamp; HLCs order as the tuple (wall_ms, counter, node), never as strings. */
export class Hlc {
  readonly wall_ms: number;
  readonly counter: number;
  readonly node: string;

  /** Throws for a stamp that could not be written and parsed back. */
  constructor(wall_ms: number, counter: number, node: string) {
    if (!inRange(wall_ms, MAX_WALL_MS)) {
      throw new Error(`HLC wall_ms must be an int in 0..${MAX_WALL_MS}, got ${wall_ms}`);
    }
    if (!inRange(counter, MAX_COUNTER)) {
      throw new Error(`HLC counter must be an int in 0..${MAX_COUNTER}, got ${counter}`);
    }
    if (typeof node !== "string" || !NODE_RE.test(node)) {
      throw new Error(`HLC node must match ${NODE_RE.source}, got ${JSON.stringify(node)}`);
    }
    this.wall_ms = wall_ms;
    this.counter = counter;
    this.node = node;
  }

  /** Parse "{wall_ms}.{counter}.{node}", throwing on anything malformed. */
  static parse(text: string): Hlc {
    const match = typeof text === "string" ? HLC_RE.exec(text) : null;
    if (match === null) {
      throw new Error(`not an HLC ({wall_ms}.{counter}.{node}): ${JSON.stringify(text)}`);
    }
    return new Hlc(Number(match[1]), Number(match[2]), match[3] ?? "");
  }

  /** Render as "{wall_ms}.{counter}.{node}". */
  toString(): string {
    return `${this.wall_ms}.${this.counter}.${this.node}`;
  }
}

/** Render as "{wall_ms}.{counter}.{node}" (the same as String(hlc)). */
export function formatHlc(hlc: Hlc): string {
  return hlc.toString();
}

/** Parse "{wall_ms}.{counter}.{node}", throwing on anything malformed (Hlc.parse). */
export function parseHlc(text: string): Hlc {
  return Hlc.parse(text);
}

/** Negative, zero or positive as a orders before, with or after b by (wall_ms, counter, node). */
export function compareHlc(a: Hlc, b: Hlc): number {
  if (a.wall_ms !== b.wall_ms) return a.wall_ms < b.wall_ms ? -1 : 1;
  if (a.counter !== b.counter) return a.counter < b.counter ? -1 : 1;
  if (a.node !== b.node) return a.node < b.node ? -1 : 1;
  return 0;
}

/** The clock after merging a remote stamp, and whether that stamp was too far ahead. */
export interface Observation {
  readonly hlc: Hlc;
  readonly clamped: boolean;
}

export interface ClockOptions {
  /** Milliseconds since the epoch; Date.now by default. */
  wall?: () => number;
  /** Every stamp the clock gives will be later than this one. */
  last?: Hlc | null;
  maxAheadMs?: number;
}

/** A hybrid logical clock for one node that never goes backwards. */
export class Clock {
  readonly node: string;
  private readonly wall: () => number;
  private readonly maxAheadMs: number;
  private latest: Hlc | null;

  constructor(node: string, options: ClockOptions = {}) {
    if (typeof node !== "string" || !NODE_RE.test(node)) {
      throw new Error(`clock node must match ${NODE_RE.source}, got ${JSON.stringify(node)}`);
    }
    const maxAheadMs = options.maxAheadMs ?? DEFAULT_MAX_AHEAD_MS;
    if (!Number.isSafeInteger(maxAheadMs) || maxAheadMs < 0) {
      throw new Error(`maxAheadMs must be a non-negative int, got ${maxAheadMs}`);
    }
    this.node = node;
    this.wall = options.wall ?? Date.now;
    this.latest = options.last ?? null;
    this.maxAheadMs = maxAheadMs;
  }

  /** The last stamp issued or observed (at first, the one given as last), or null. */
  get last(): Hlc | null {
    return this.latest;
  }

  private stamp(wall_ms: number, counter: number): Hlc {
    // A counter overflow borrows the next millisecond: still strictly later, never backwards.
    const hlc =
      counter > MAX_COUNTER
        ? new Hlc(wall_ms + 1, 0, this.node)
        : new Hlc(wall_ms, counter, this.node);
    this.latest = hlc;
    return hlc;
  }

  /** Stamp a local or outgoing event (the send rule). */
  now(): Hlc {
    const physical = this.wall();
    const last = this.latest;
    if (last === null || physical > last.wall_ms) return this.stamp(physical, 0);
    return this.stamp(last.wall_ms, last.counter + 1);
  }

  /** Merge a received stamp (the receive rule), clamping one too far ahead of real time. */
  observe(remote: Hlc): Observation {
    const physical = this.wall();
    const limit = physical + this.maxAheadMs;
    const clamped = remote.wall_ms > limit;
    // A clamped remote counts as stamped at the limit: we advance only as far as we trust.
    const rWall = clamped ? limit : remote.wall_ms;
    const rCounter = clamped ? 0 : remote.counter;
    const last = this.latest;
    const lWall = last !== null ? last.wall_ms : -1;
    const lCounter = last !== null ? last.counter : 0;
    const wallMs = Math.max(lWall, rWall, physical);
    let counter: number;
    if (wallMs === lWall && wallMs === rWall) counter = Math.max(lCounter, rCounter) + 1;
    else if (wallMs === lWall) counter = lCounter + 1;
    else if (wallMs === rWall) counter = rCounter + 1;
    else counter = 0;
    return { hlc: this.stamp(wallMs, counter), clamped };
  }
}
