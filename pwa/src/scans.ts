// Scans reach the screen that takes them (Sell, Returns) from two places, the same way:
//  - a keyboard-wedge scanner on the tablet: a burst of keys told from typing by its speed
//    (scanner.ts), with no field focused;
//  - scanners on the appliance bound to this register: GET /api/v1/scans/stream, Server-Sent
//    Events read with fetch (EventSource cannot send a bearer token), resumed with
//    Last-Event-ID after a drop so no scan is lost, and left alone once another tab of this
//    register took the stream over ("superseded": one scan never reaches two screens).
import { signal } from "@preact/signals";
import { useEffect, useRef } from "preact/hooks";
import { db } from "./db";
import { type ScannerOptions, WedgeDetector, gs1CheckDigitOk } from "./scanner";

/** How this tablet's keyboard-wedge scanner is set up (prefix, suffix, speed), kept in IndexedDB. */
export const scannerOptions = signal<ScannerOptions>({});

export async function loadScannerOptions(): Promise<void> {
  scannerOptions.value = (await db.get<ScannerOptions>("scanner")) ?? {};
}

export async function saveScannerOptions(options: ScannerOptions): Promise<void> {
  await db.put("scanner", options);
  scannerOptions.value = options;
}

export type SseEvent = { id: string | null; event: string; data: string };

/** Server-Sent Events, parsed as the bytes arrive (https://html.spec.whatwg.org/#event-stream-interpretation). */
export class SseParser {
  private buffer = "";
  private data: string[] = [];
  private event = "";
  private id: string | null = null;
  /** The last id the server set (sent back as Last-Event-ID on reconnect). */
  lastId: string | null = null;
  /** The reconnection time the server asked for, in ms. */
  retryMs: number | null = null;

  feed(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const out: SseEvent[] = [];
    for (;;) {
      const end = this.buffer.search(/\r\n|\r|\n/);
      if (end < 0) break;
      const newline = this.buffer.startsWith("\r\n", end) ? 2 : 1;
      // A lone \r at the end of a chunk may be the first half of \r\n: wait for more.
      if (this.buffer[end] === "\r" && newline === 1 && end === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + newline);
      const dispatched = this.line(line);
      if (dispatched) out.push(dispatched);
    }
    return out;
  }

  private line(line: string): SseEvent | null {
    if (line === "") {
      if (!this.data.length) {
        this.event = "";
        return null;
      }
      const dispatched = { id: this.id, event: this.event || "message", data: this.data.join("\n") };
      this.data = [];
      this.event = "";
      return dispatched;
    }
    if (line.startsWith(":")) return null;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.event = value;
    else if (field === "id" && !value.includes("\0")) {
      this.id = value;
      this.lastId = value;
    } else if (field === "retry" && /^\d+$/.test(value)) this.retryMs = Number(value);
    return null;
  }
}

type Listener = (code: string) => void;
const listeners = new Set<Listener>();

/** Whether the appliance's scanners reach this tablet right now (shown in the top bar). */
export const scanStream = signal<"off" | "connecting" | "live" | "superseded">("off");

/** Take every scan from the appliance's stream (and dispatchScan) until the returned call. */
export function onScan(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Hand a scanned code to the screen that takes scans. */
export function dispatchScan(code: string): void {
  for (const listener of listeners) listener(code);
}

type MisreadListener = (message: string) => void;
const misreadListeners = new Set<MisreadListener>();

/** Take every misread (an appliance scanner read something that cannot be a good code). */
export function onMisread(listener: MisreadListener): () => void {
  misreadListeners.add(listener);
  return () => misreadListeners.delete(listener);
}

/** What the cashier sees for a misread, by the appliance's `error`. */
export function misreadMessage(error: unknown): string {
  if (error === "too_long") return "That barcode is too long: scan again";
  if (error === "unknown_key" || error === "missing_prefix" || error === "missing_suffix") {
    return "Misread, scan again (if it keeps happening, the scanner's setup needs a manager)";
  }
  return "Misread, scan again";
}

/**
 * Follow this register's scan stream until `stop()`: reconnect after a drop (the server's
 * retry, then backing off to 30 s), resume with Last-Event-ID, wait out a 503.
 */
export function startScanStream(token: string): () => void {
  const controller = new AbortController();
  let lastId: string | null = null;
  let delay = 1000;
  const run = async () => {
    while (!controller.signal.aborted) {
      scanStream.value = "connecting";
      let wait = delay;
      try {
        const headers: Record<string, string> = { Authorization: `Bearer ${token}`, Accept: "text/event-stream" };
        if (lastId) headers["Last-Event-ID"] = lastId;
        const response = await fetch("/api/v1/scans/stream", { headers, signal: controller.signal, cache: "no-store" });
        if (response.status === 401 || response.status === 403 || response.status === 404) {
          scanStream.value = "off"; // not paired any more, or no stream here: nothing to follow
          return;
        }
        if (!response.ok || !response.body) {
          const after = Number(response.headers.get("Retry-After"));
          wait = Number.isFinite(after) && after > 0 ? after * 1000 : delay;
        } else {
          scanStream.value = "live";
          delay = 1000;
          const parser = new SseParser();
          const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            for (const event of parser.feed(value)) {
              if (event.event === "superseded") {
                // Another tab (or a reload) of this register has the stream now.
                scanStream.value = "superseded";
                controller.abort();
                return;
              }
              if (event.event === "scan") {
                try {
                  const scan = JSON.parse(event.data) as { code?: unknown };
                  if (typeof scan.code === "string") dispatchScan(scan.code);
                } catch {
                  // A malformed event: skip it, keep the stream.
                }
              }
              if (event.event === "misread") {
                // Never looked up: a misread code could be another product's.
                let error: unknown = null;
                try {
                  error = (JSON.parse(event.data) as { error?: unknown }).error;
                } catch {
                  // Still a misread: say so.
                }
                const message = misreadMessage(error);
                for (const listener of misreadListeners) listener(message);
              }
            }
            lastId = parser.lastId ?? lastId;
            if (parser.retryMs !== null) wait = delay = parser.retryMs;
          }
        }
      } catch {
        if (controller.signal.aborted) break;
      }
      if (controller.signal.aborted) break;
      scanStream.value = "connecting";
      await new Promise((resolve) => setTimeout(resolve, wait));
      delay = Math.min(delay * 2, 30_000);
    }
    if (scanStream.value !== "superseded") scanStream.value = "off";
  };
  void run();
  return () => controller.abort();
}

/**
 * While the screen is shown, give `handle` every scan: the tablet's wedge scanner (with no
 * field focused) and the appliance's scanners for this register.
 */
export function useScans(handle: (code: string) => void, misread?: (message: string) => void): void {
  const current = useRef(handle);
  current.current = handle;
  const currentMisread = useRef(misread);
  currentMisread.current = misread;
  const options = scannerOptions.value;
  useEffect(() => {
    const detector = new WedgeDetector(options);
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT")) return;
      const code = detector.key({ key: e.key, timeStamp: e.timeStamp });
      if (code === null) return;
      e.preventDefault();
      // The appliance checks its scanners' codes; the tablet's own scanner is checked here.
      if (gs1CheckDigitOk(code)) current.current(code);
      else currentMisread.current?.(misreadMessage("bad_check_digit"));
    };
    document.addEventListener("keydown", onKey);
    const unsubscribe = onScan((code) => current.current(code));
    const unsubscribeMisread = onMisread((message) => currentMisread.current?.(message));
    return () => {
      document.removeEventListener("keydown", onKey);
      unsubscribe();
      unsubscribeMisread();
    };
  }, [options]);
}
