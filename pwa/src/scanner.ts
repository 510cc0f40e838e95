// Keyboard-wedge scanners (USB or Bluetooth HID on the tablet) type a code and Enter faster
// than anyone can: a burst of keys a few milliseconds apart. People type slower. The detector
// tells the two apart by the time between keys, so a scan works with no field focused.

export type ScannerOptions = {
  /** Longest pause between two keys of one scan, in ms. */
  maxGapMs?: number;
  /** Shortest code taken as a scan (EAN-8 is 8; internal codes may be shorter). */
  minLength?: number;
  /** Characters the scanner is set to send before each code (stripped), "" for none. */
  prefix?: string;
  /** The key that ends a scan: "Enter" (the usual), "Tab", or a character. */
  suffix?: string;
};

export type Key = { key: string; timeStamp: number };

export class WedgeDetector {
  private readonly maxGapMs: number;
  private readonly minLength: number;
  private readonly prefix: string;
  private readonly suffix: string;
  private buffer = "";
  private last = -Infinity;

  constructor(options: ScannerOptions = {}) {
    this.maxGapMs = options.maxGapMs ?? 35;
    this.minLength = options.minLength ?? 6;
    this.prefix = options.prefix ?? "";
    this.suffix = options.suffix ?? "Enter";
  }

  /** Feed one key press; the scanned code when this key ends a scan, otherwise null. */
  key({ key, timeStamp }: Key): string | null {
    const fast = timeStamp - this.last <= this.maxGapMs;
    this.last = timeStamp;
    if (key === this.suffix) {
      const code = fast ? this.take() : null;
      this.buffer = "";
      return code;
    }
    if (key.length !== 1) {
      // Shift and the like come with the characters they modify; anything else breaks a scan.
      if (key !== "Shift") this.buffer = "";
      return null;
    }
    this.buffer = fast ? this.buffer + key : key;
    return null;
  }

  private take(): string | null {
    let code = this.buffer;
    if (this.prefix) {
      if (!code.startsWith(this.prefix)) return null;
      code = code.slice(this.prefix.length);
    }
    return code.length >= this.minLength ? code : null;
  }
}

/**
 * Whether a GS1 number's check digit adds up (EAN-8, UPC-A, EAN-13, GTIN-14; an 8-digit
 * UPC-E through the UPC-A it stands for). Anything else is not a GS1 number: true.
 */
export function gs1CheckDigitOk(code: string): boolean {
  if (!/^(\d{8}|\d{12,14})$/.test(code)) return true;
  if (mod10Ok(code)) return true;
  return code.length === 8 && (code[0] === "0" || code[0] === "1") && mod10Ok(upcEToA(code));
}

function mod10Ok(code: string): boolean {
  let total = 0;
  for (let i = code.length - 2, weight = 3; i >= 0; i--, weight = 4 - weight) total += Number(code[i]) * weight;
  return (10 - (total % 10)) % 10 === Number(code[code.length - 1]);
}

/** The 12-digit UPC-A a zero-suppressed UPC-E stands for. */
export function upcEToA(code: string): string {
  const d = code.slice(1, 7);
  const last = d[5]!;
  let body: string;
  if ("012".includes(last)) body = d.slice(0, 2) + last + "0000" + d.slice(2, 5);
  else if (last === "3") body = d.slice(0, 3) + "00000" + d.slice(3, 5);
  else if (last === "4") body = d.slice(0, 4) + "00000" + d[4];
  else body = d.slice(0, 5) + "0000" + last;
  return code[0] + body + code[7];
}
