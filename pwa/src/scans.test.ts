import { afterEach, describe, expect, it, vi } from "vitest";
import { SseParser, onMisread, onScan, scanStream, startScanStream } from "./scans";

describe("the SSE parser", () => {
  it("reads events split anywhere across chunks, with ids, comments and retry", () => {
    const parser = new SseParser();
    const text = 'retry: 1000\n\n: keepalive\n\nid: b-1\nevent: scan\ndata: {"code":"4006381333931"}\n\nid: b-2\r\nevent: scan\r\ndata: a\r\ndata: b\r\n\r\n';
    const events = [];
    for (let i = 0; i < text.length; i += 3) events.push(...parser.feed(text.slice(i, i + 3)));
    expect(events).toEqual([
      { id: "b-1", event: "scan", data: '{"code":"4006381333931"}' },
      { id: "b-2", event: "scan", data: "a\nb" },
    ]);
    expect(parser.lastId).toBe("b-2");
    expect(parser.retryMs).toBe(1000);
  });

  it("calls an event without a name a message, and ignores unknown fields", () => {
    const parser = new SseParser();
    expect(parser.feed("foo: bar\ndata:x\n\n")).toEqual([{ id: null, event: "message", data: "x" }]);
  });
});

/** A fake appliance stream: each connection gets the next script of chunks, then ends. */
function streams(scripts: string[][]) {
  const calls: Record<string, string>[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (_url: string, init: RequestInit) => {
      calls.push({ ...(init.headers as Record<string, string>) });
      const chunks = scripts.shift();
      if (!chunks) return new Promise<Response>(() => undefined); // hangs: no more connections
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
          controller.close();
        },
      });
      return new Response(body, { status: 200, headers: { "Content-Type": "text/event-stream" } });
    }),
  );
  return calls;
}

afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe("the scan stream", () => {
  it("hands scans over, and resumes after a drop with Last-Event-ID", async () => {
    const calls = streams([
      ["retry: 10\n\n", 'id: x-1\nevent: scan\ndata: {"code":"111"}\n\n'],
      ['id: x-2\nevent: scan\ndata: {"code":"222"}\n\n'],
    ]);
    const seen: string[] = [];
    const listener = (code: string) => {
      seen.push(code);
    };
    const stop = startScanStreamWith(listener);
    await vi.waitFor(() => expect(seen).toEqual(["111", "222"]), { timeout: 2000 });
    stop();
    expect(calls[0]!["Authorization"]).toBe("Bearer tbd_x");
    expect(calls[0]!["Last-Event-ID"]).toBeUndefined();
    expect(calls[1]!["Last-Event-ID"]).toBe("x-1");
  });

  it("hands misreads to their own listeners, never as a scan", async () => {
    streams([
      [
        'id: m-1\nevent: misread\ndata: {"code":"4006381333932","source":"scanner","at":"x","id":"m-1","error":"bad_check_digit"}\n\n',
        'id: m-2\nevent: misread\ndata: {"code":"\\ufffd1","error":"unknown_key"}\n\n',
        'id: m-3\nevent: scan\ndata: {"code":"4006381333931"}\n\n',
      ],
    ]);
    const scans: string[] = [];
    const misreads: string[] = [];
    const unsubscribe = onMisread((message) => {
      misreads.push(message);
    });
    const stop = startScanStreamWith((code) => {
      scans.push(code);
    });
    await vi.waitFor(() => expect(scans).toEqual(["4006381333931"]), { timeout: 2000 });
    stop();
    unsubscribe();
    expect(misreads).toEqual([
      "Misread, scan again",
      "Misread, scan again (if it keeps happening, the scanner's setup needs a manager)",
    ]);
  });

  it("stops for good when another tab of the register takes the stream over", async () => {
    const calls = streams([["event: superseded\ndata: {}\n\n"], ["retry: 10\n\n"]]);
    const stop = startScanStreamWith(() => undefined);
    await vi.waitFor(() => expect(scanStream.value).toBe("superseded"));
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toHaveLength(1);
    stop();
  });
});

/** Start the stream with a listener registered as a screen's useScans does. */
function startScanStreamWith(listener: (code: string) => void): () => void {
  const unsubscribe = onScan(listener);
  const stop = startScanStream("tbd_x");
  return () => {
    stop();
    unsubscribe();
  };
}
